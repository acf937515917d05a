/**
 * Forward-only SQL migrations: `migrations/NNN_name.sql`, applied in order, each in its own
 * transaction, recorded with a SHA-256 checksum. An applied file that was edited or removed
 * stops everything: the database would no longer be what the files say.
 *
 * Several replicas may start at once: an advisory lock makes one of them migrate while the
 * others wait and then find nothing to do.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { APP_ROLE } from './bootstrap.js';
import { syncCatalogue, verifyCatalogue } from './catalogue.js';

/**
 * `migrations/` at the project root, found by walking up from this file: the same from
 * `src/db/` (tsx) and from the production bundle's chunks (`dist/`, or any outDir inside the project).
 */
export const MIGRATIONS_DIR = findUp(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

function findUp(from: string, name: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(path.join(candidate, '001_foundation.sql'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`No ${name}/ directory above ${from}`);
  }
}
const MIGRATION_LOCK = 7243002;

export interface MigrationFile {
  id: number;
  name: string;
  checksum: string;
  sql: string;
}

export class MigrationError extends Error {}

export function readMigrationFiles(dir = MIGRATIONS_DIR): MigrationFile[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const migrations = files.map((name) => {
    const match = /^(\d{3,})_[a-z0-9_]+\.sql$/.exec(name);
    if (!match) throw new MigrationError(`Migration file name ${name} must look like 001_description.sql`);
    const sql = fs.readFileSync(path.join(dir, name), 'utf8');
    return { id: Number(match[1]), name, checksum: createHash('sha256').update(sql).digest('hex'), sql };
  });
  // Numbers are reserved per change in flight (see migrations/CONVENTIONS.md), so a number may
  // be missing for a while; two files with one number never.
  migrations.forEach((m, i) => {
    if (i > 0 && m.id === migrations[i - 1]!.id)
      throw new MigrationError(`Migration numbers must be unique; ${migrations[i - 1]!.name} and ${m.name} share ${m.id}`);
  });
  return migrations;
}

interface AppliedRow {
  id: number;
  name: string;
  checksum: string;
}

function compare(files: MigrationFile[], applied: AppliedRow[]): MigrationFile[] {
  for (const row of applied) {
    const file = files.find((f) => f.id === row.id);
    if (!file) throw new MigrationError(`Applied migration ${row.name} has no file any more; migrations are forward-only.`);
    if (file.checksum !== row.checksum || file.name !== row.name) {
      throw new MigrationError(
        `Applied migration ${row.name} was changed after it ran (checksum ${row.checksum.slice(0, 12)} ≠ ${file.checksum.slice(0, 12)}). ` +
          'Migrations are forward-only: restore the file and add a new migration instead.',
      );
    }
  }
  return files.filter((f) => !applied.some((a) => a.id === f.id));
}

/** Apply pending migrations as the owner, then bring the permission catalogue in line with the matrix. */
export async function migrate(ownerUrl: string, logger?: Logger): Promise<{ applied: string[] }> {
  const files = readMigrationFiles();
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`
      create schema if not exists app_migrations;
      create table if not exists app_migrations.applied (
        id int primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      );
      grant usage on schema app_migrations to ${APP_ROLE};
      grant select on app_migrations.applied to ${APP_ROLE};
    `);
    const { rows } = await client.query<AppliedRow>('select id, name, checksum from app_migrations.applied order by id');
    const pending = compare(files, rows);
    for (const file of pending) {
      logger?.info({ migration: file.name }, 'applying migration');
      try {
        await client.query('begin');
        await client.query(file.sql);
        await client.query('insert into app_migrations.applied (id, name, checksum) values ($1, $2, $3)', [
          file.id,
          file.name,
          file.checksum,
        ]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new MigrationError(`Migration ${file.name} failed: ${(error as Error).message}`);
      }
    }
    await syncCatalogue(client);
    return { applied: pending.map((f) => f.name) };
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}

/**
 * Without owner credentials the gateway cannot migrate; it refuses to serve a database whose
 * migrations or catalogue differ from this build.
 */
export async function verifyMigrated(pool: pg.Pool): Promise<void> {
  const files = readMigrationFiles();
  let rows: AppliedRow[];
  try {
    ({ rows } = await pool.query<AppliedRow>('select id, name, checksum from app_migrations.applied order by id'));
  } catch {
    rows = [];
  }
  const pending = compare(files, rows);
  if (pending.length > 0) {
    throw new MigrationError(
      `The database is missing migrations ${pending.map((p) => p.name).join(', ')}. Run \`npm run migrate\` with DATABASE_OWNER_URL set, or set DATABASE_OWNER_URL for the gateway.`,
    );
  }
  await verifyCatalogue(pool);
}
