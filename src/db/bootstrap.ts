/**
 * The one step that needs a superuser: create the two roles and the database. Embedded mode and
 * the test suite run it themselves; on a managed server a DBA runs `npm run db:bootstrap` once
 * (or the equivalent SQL in the README) and the gateway never holds superuser credentials.
 */
import pg from 'pg';

export const OWNER_ROLE = 'gateway_owner';
export const APP_ROLE = 'gateway_app';

export interface BootstrapOptions {
  superuserUrl: string;
  database: string;
  ownerPassword: string;
  appPassword: string;
  /** Create `database` as a copy of this one (a migrated template) instead of empty. */
  template?: string;
}

export async function bootstrapDatabase(options: BootstrapOptions): Promise<void> {
  const client = new pg.Client({ connectionString: options.superuserUrl });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    await ensureRoles(client, options.ownerPassword, options.appPassword);
    const exists = await client.query('select 1 from pg_database where datname = $1', [options.database]);
    if (exists.rowCount === 0) {
      const template = options.template ? ` template ${client.escapeIdentifier(options.template)}` : '';
      await client.query(`create database ${client.escapeIdentifier(options.database)} owner ${OWNER_ROLE}${template}`);
    }
    // The app role may connect, nothing more; the migrations grant what it needs inside.
    await client.query(`grant connect on database ${client.escapeIdentifier(options.database)} to ${APP_ROLE}`);
  } finally {
    await client.end();
  }
}

/** Roles are cluster-wide: several databases (e.g. one per test file) share them. */
async function ensureRoles(client: pg.Client, ownerPassword: string, appPassword: string) {
  // Serialize concurrent bootstraps on one cluster (parallel test workers).
  await client.query('select pg_advisory_lock(7243001)');
  try {
    for (const [role, password, attributes] of [
      [OWNER_ROLE, ownerPassword, 'login nosuperuser nobypassrls nocreaterole nocreatedb'],
      [APP_ROLE, appPassword, 'login nosuperuser nobypassrls nocreaterole nocreatedb noinherit'],
    ] as const) {
      const found = await client.query('select 1 from pg_roles where rolname = $1', [role]);
      const verb = found.rowCount === 0 ? 'create' : 'alter';
      await client.query(`${verb} role ${role} with ${attributes} password ${client.escapeLiteral(password)}`);
    }
  } finally {
    await client.query('select pg_advisory_unlock(7243001)');
  }
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
