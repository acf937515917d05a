/**
 * A database of its own for a test file, cloned from the migrated template, and connections to
 * it as the application's role (never as the owner or a superuser: they would see every row).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, dropDatabase, withDatabase } from '../../src/db/bootstrap.js';
import { createPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/logger.js';

export interface TestDatabase {
  name: string;
  appUrl: string;
  ownerUrl: string;
  superuserUrl: string;
  /** A pool as gateway_app, with the gateway's own settings. */
  appPool(max?: number): pg.Pool;
  drop(): Promise<void>;
}

export const silentLogger = createLogger('silent');

export async function createTestDatabase(): Promise<TestDatabase> {
  const pgInfo = inject('postgres');
  const name = `gateway_test_${pgInfo.runId}_${randomBytes(4).toString('hex')}`;
  await bootstrapDatabase({
    superuserUrl: pgInfo.superuserUrl,
    database: name,
    ownerPassword: pgInfo.ownerPassword,
    appPassword: pgInfo.appPassword,
    template: pgInfo.template,
  });
  const appUrl = withDatabase(pgInfo.superuserUrl, name, { user: APP_ROLE, password: pgInfo.appPassword });
  const ownerUrl = withDatabase(pgInfo.superuserUrl, name, { user: OWNER_ROLE, password: pgInfo.ownerPassword });
  const pools: pg.Pool[] = [];
  return {
    name,
    appUrl,
    ownerUrl,
    superuserUrl: withDatabase(pgInfo.superuserUrl, name),
    appPool(max = 5) {
      const pool = createPool(appUrl, { max, statementTimeoutMs: 10_000, applicationName: 'test' }, silentLogger);
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      await dropDatabase(pgInfo.superuserUrl, name);
    },
  };
}

export interface AppSettings {
  userId?: string | null;
  orgId?: string | null;
  role?: string | null;
  tenantId?: string | null;
  /** `app.permissions`: keys (bound as a text[] literal) or raw text (to try malformed values). */
  permissions?: readonly string[] | string | null;
  /** `app.workspace_id`: the workspace the request acts in (empty: organization-wide). */
  workspaceId?: string | null;
}

/** The text a list of keys binds as, exactly as the gateway writes it. */
function permissionsSetting(permissions: AppSettings['permissions']): string {
  if (permissions == null) return '';
  return typeof permissions === 'string' ? permissions : `{${[...new Set(permissions)].sort().join(',')}}`;
}

/** Runs `fn` in a transaction as the app role with the given request settings, then rolls back. */
export async function asApp<T>(
  pool: pg.Pool,
  settings: AppSettings,
  fn: (client: pg.PoolClient) => Promise<T>,
  { commit = false } = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(
      `select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true),
              set_config('app.role', $3, true), set_config('app.tenant_id', $4, true),
              set_config('app.permissions', $5, true), set_config('app.workspace_id', $6, true)`,
      [
        settings.userId ?? '',
        settings.orgId ?? '',
        settings.role ?? '',
        settings.tenantId ?? '',
        permissionsSetting(settings.permissions),
        settings.workspaceId ?? '',
      ],
    );
    const result = await fn(client);
    await client.query(commit ? 'commit' : 'rollback');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * A fixture no gateway_app request may write, as the superuser (RLS does not apply): an
 * execution's outcome or lease is a runner's to set, through migration 013's functions, and the
 * app role has no UPDATE grant on executions (migration 016). Tables are schema-qualified.
 */
export async function asSuperuser<T>(db: Pick<TestDatabase, 'superuserUrl'>, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.superuserUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
