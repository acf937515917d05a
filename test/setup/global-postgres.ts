/**
 * One PostgreSQL for the whole run: an embedded, throwaway cluster by default, or the server at
 * TEST_DATABASE_ADMIN_URL (a superuser URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)
 * for a pass against PostgreSQL 15. It bootstraps the roles, migrates a template database as the
 * owner, and hands the coordinates to every test file, which clones its own database from it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { bootstrapDatabase, dropDatabase, withDatabase, APP_ROLE, OWNER_ROLE } from '../../src/db/bootstrap.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrate } from '../../src/db/migrate.js';

export interface TestPostgres {
  superuserUrl: string;
  template: string;
  ownerPassword: string;
  appPassword: string;
  runId: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: TestPostgres;
  }
}

export default async function setup(project: TestProject) {
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  let embedded: EmbeddedPostgres | undefined;
  let dataRoot: string | undefined;
  let superuserUrl = process.env.TEST_DATABASE_ADMIN_URL;
  if (!superuserUrl) {
    // Under the OS temp dir (traversable by the postgres user when tests run as root).
    dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-test-pg-'));
    fs.chmodSync(dataRoot, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataRoot, 'data'), durable: false });
    superuserUrl = embedded.superuserUrl();
  }
  const ownerPassword = 'test-owner-password';
  const appPassword = 'test-app-password';
  const template = `gateway_template_${runId}`;
  // resetPasswords: the tests must know the roles' passwords. On a server of its own (embedded)
  // the roles are new; on TEST_DATABASE_ADMIN_URL they may remain from an earlier run.
  const report = await bootstrapDatabase({ superuserUrl, database: template, ownerPassword, appPassword, resetPasswords: true });
  const createdRoles = Object.entries(report.roles)
    .filter(([, what]) => what === 'created')
    .map(([role]) => role);
  await migrate(withDatabase(superuserUrl, template, { user: OWNER_ROLE, password: ownerPassword }));

  project.provide('postgres', { superuserUrl, template, ownerPassword, appPassword, runId });

  return async () => {
    if (embedded) {
      await embedded.stop();
      fs.rmSync(dataRoot!, { recursive: true, force: true });
    } else {
      await dropDatabase(superuserUrl!, template);
      await dropRolesIfUnused(superuserUrl!, createdRoles);
    }
  };
}

export { APP_ROLE };

/**
 * A shared server keeps nothing of ours: the roles this run created are dropped once no database
 * needs them (a concurrent run still using them keeps them; the last one out drops them — if
 * that one did not create them, they stay, named in the warning).
 */
async function dropRolesIfUnused(superuserUrl: string, roles: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `select datname from pg_database where datdba = (select oid from pg_roles where rolname = $1)`,
      [OWNER_ROLE],
    );
    if (rows.length > 0) {
      console.warn(`Keeping roles ${roles.join(', ')}: databases still use them (${rows.map((r) => r.datname).join(', ')})`);
      return;
    }
    for (const role of [APP_ROLE, OWNER_ROLE].filter((r) => roles.includes(r))) {
      await client.query(`drop role if exists ${role}`);
    }
  } finally {
    await client.end();
  }
}
