/**
 * A PostgreSQL cluster of a test file's own, for fault tests that stop, restart or terminate
 * it: the suite's shared cluster (test/setup/global-postgres.ts) must not feel them. Durable
 * (fsync and synchronous commit on), because the tests count what an immediate shutdown keeps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from '../../src/db/bootstrap.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { silentLogger, type TestDatabase } from './database.js';

export interface OwnPostgres {
  readonly port: number;
  db: TestDatabase;
  /** Runs `sql` as superuser on the test database (fault injection and accounting only). */
  superuser<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  /** Ends every backend of the gateway's role; returns how many. */
  terminateAppBackends(): Promise<number>;
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts the stopped cluster again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

const OWNER_PASSWORD = 'own-owner-password';
const APP_PASSWORD = 'own-app-password';
const DATABASE = 'gateway_faults';

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-own-pg-'));
  fs.chmodSync(root, 0o755);
  const dataDir = path.join(root, 'data');
  let server: EmbeddedPostgres | undefined = await startEmbeddedPostgres({ dataDir, durable: true });
  const port = server.port;
  const superuserUrl = server.superuserUrl();
  await bootstrapDatabase({ superuserUrl, database: DATABASE, ownerPassword: OWNER_PASSWORD, appPassword: APP_PASSWORD });
  const ownerUrl = withDatabase(superuserUrl, DATABASE, { user: OWNER_ROLE, password: OWNER_PASSWORD });
  await migrate(ownerUrl);
  const appUrl = withDatabase(superuserUrl, DATABASE, { user: APP_ROLE, password: APP_PASSWORD });
  const databaseSuperuserUrl = withDatabase(superuserUrl, DATABASE);

  const pools: pg.Pool[] = [];
  const db: TestDatabase = {
    name: DATABASE,
    appUrl,
    ownerUrl,
    superuserUrl: databaseSuperuserUrl,
    appPool(max = 5) {
      const pool = createPool(appUrl, { max, statementTimeoutMs: 10_000, applicationName: 'test' }, silentLogger);
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.splice(0).map((p) => p.end().catch(() => {})));
    },
  };

  const superuser = async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) => {
    const client = new pg.Client({ connectionString: databaseSuperuserUrl });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(sql, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  };

  return {
    port,
    db,
    superuser,
    async terminateAppBackends() {
      const rows = await superuser<{ n: number }>(
        `select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity
          where usename = $1 and pid <> pg_backend_pid()) t`,
        [APP_ROLE],
      );
      return rows[0]!.n;
    },
    async stop(mode) {
      await server?.stop(mode);
      server = undefined;
    },
    async start() {
      server ??= await startEmbeddedPostgres({ dataDir, port, durable: true });
    },
    async destroy() {
      await db.drop();
      await server?.stop('immediate');
      server = undefined;
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
