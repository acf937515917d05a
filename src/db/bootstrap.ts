/**
 * The one step that needs a superuser: create the two roles and the database, and in it the
 * leakproof search operator that lets substring search use an index under RLS
 * (src/db/search-bootstrap.ts). Embedded mode and
 * the test suite run it themselves; on a managed server a DBA runs `npm run db:bootstrap` once
 * (or the equivalent SQL in the README) and the gateway never holds superuser credentials.
 */
import pg from 'pg';
import { enableIndexedSearch, PINNED_SEARCH_PATH_OPTION, type SearchBootstrapReport } from './search-bootstrap.js';

export const OWNER_ROLE = 'gateway_owner';
export const APP_ROLE = 'gateway_app';

export interface BootstrapOptions {
  superuserUrl: string;
  database: string;
  /** Needed for a role that does not exist yet (or with `resetPasswords`). */
  ownerPassword?: string;
  appPassword?: string;
  /**
   * Set the passwords of roles that already exist. Off by default: roles are cluster-wide, and a
   * second database bootstrapped on the same server must not lock the first one's gateway out.
   */
  resetPasswords?: boolean;
  /** Create `database` as a copy of this one (a migrated template) instead of empty. */
  template?: string;
}

export interface BootstrapReport {
  /** Per role: created, password reset, or kept as it was (attributes enforced, password untouched). */
  roles: Record<string, 'created' | 'password reset' | 'kept'>;
  databaseCreated: boolean;
  /** Indexed substring search (pg_trgm under RLS): enabled, or why not. */
  search: SearchBootstrapReport;
}

/** Idempotent: run it again and nothing changes (unless `resetPasswords`). */
export async function bootstrapDatabase(options: BootstrapOptions): Promise<BootstrapReport> {
  // A superuser connection: nothing it calls may resolve through a search_path someone else
  // set or can create in (src/db/search-bootstrap.ts, "Why the pinned search_path").
  const client = new pg.Client({ connectionString: options.superuserUrl, options: PINNED_SEARCH_PATH_OPTION });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    const roles = await ensureRoles(client, options);
    const exists = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (exists.rowCount === 0) {
      const template = options.template ? ` template ${client.escapeIdentifier(options.template)}` : '';
      await client.query(`create database ${client.escapeIdentifier(options.database)} owner ${OWNER_ROLE}${template}`);
    }
    // The app role may connect, nothing more; the migrations grant what it needs inside.
    await client.query(`grant connect on database ${client.escapeIdentifier(options.database)} to ${APP_ROLE}`);
    const search = await inDatabase(options.superuserUrl, options.database, enableIndexedSearch);
    return { roles, databaseCreated: exists.rowCount === 0, search };
  } finally {
    await client.end();
  }
}

/** Catalogue changes (functions, extensions) belong to one database: connect to that one. */
async function inDatabase<T>(superuserUrl: string, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(superuserUrl, database), options: PINNED_SEARCH_PATH_OPTION });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export class BootstrapError extends Error {}

/** Roles are cluster-wide: several databases (e.g. one per test file) share them. */
async function ensureRoles(client: pg.Client, options: BootstrapOptions): Promise<BootstrapReport['roles']> {
  const report: BootstrapReport['roles'] = {};
  // Serialize concurrent bootstraps on one cluster (parallel test workers).
  await client.query('select pg_advisory_lock(7243001)');
  try {
    for (const [role, password, variable, attributes] of [
      [OWNER_ROLE, options.ownerPassword, 'GATEWAY_OWNER_PASSWORD', 'login nosuperuser nobypassrls nocreaterole nocreatedb'],
      [APP_ROLE, options.appPassword, 'GATEWAY_APP_PASSWORD', 'login nosuperuser nobypassrls nocreaterole nocreatedb noinherit'],
    ] as const) {
      const found = await client.query<{ attributes_hold: boolean }>(
        `select rolcanlogin and not rolsuper and not rolbypassrls and not rolcreaterole and not rolcreatedb
                and (rolname <> $2 or not rolinherit) as attributes_hold
         from pg_roles where rolname = $1`,
        [role, APP_ROLE],
      );
      const exists = found.rowCount !== 0;
      if (!exists) {
        if (!password) throw new BootstrapError(`${variable}: is required to create role ${role}`);
        await client.query(`create role ${role} with ${attributes} password ${client.escapeLiteral(password)}`);
        report[role] = 'created';
        continue;
      }
      // The attributes are the security model (no superuser, no BYPASSRLS): always enforced. Altered
      // only when they differ: naming SUPERUSER/NOSUPERUSER at all needs a superuser, and a
      // server without one (a managed admin with CREATEROLE) must still get through this step.
      if (!found.rows[0]!.attributes_hold) await client.query(`alter role ${role} with ${attributes}`);
      if (options.resetPasswords) {
        if (!password) throw new BootstrapError(`${variable}: is required to reset role ${role}`);
        await client.query(`alter role ${role} with password ${client.escapeLiteral(password)}`);
        report[role] = 'password reset';
      } else {
        report[role] = 'kept';
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock(7243001)');
  }
  return report;
}

export async function dropDatabase(superuserUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    await client.query(`drop database if exists ${client.escapeIdentifier(database)} with (force)`);
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string, credentials?: { user: string; password: string }): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (credentials) {
    u.username = encodeURIComponent(credentials.user);
    u.password = encodeURIComponent(credentials.password);
  }
  return u.toString();
}
