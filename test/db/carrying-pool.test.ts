/**
 * CarryingPool's edges, from its second review (docs/reviews/read-only-transactions-2026-11-26.md,
 * "Second review"): a parked client is never left idle in the pool inside its transaction (nor
 * killed there by idle_in_transaction_session_timeout); connect()'s callback form and end(); a
 * connection reset during connect()'s own commit of a carried transaction fails that connect()
 * and leaves the process up.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CarryingPool } from '../../src/db/parked-transactions.js';
import { createPool } from '../../src/db/pool.js';
import { RequestDatabase, type DatabaseBinding } from '../../src/db/request-database.js';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { World, type SeededOrg } from '../helpers/world.js';

let db: TestDatabase;
let issuer: DevIssuer;
let org: SeededOrg;
let superuser: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await startDevIssuer({ port: 0 });
  org = await new World(db.appPool(2), issuer).organization('CarryReview');
  superuser = new pg.Client({ connectionString: db.superuserUrl });
  await superuser.connect();
});
afterAll(async () => {
  await superuser?.end();
  await issuer?.stop();
  await db?.drop();
});

const viewer = (): DatabaseBinding => ({ userId: org.members.viewer.userId, orgId: org.id, access: 'staff', tenantId: null });

const pools: CarryingPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => {})));
});
function makePool(max: number, parkMs = 60_000, idleInTransactionTimeoutMs?: number) {
  const pool = createPool(
    db.appUrl,
    { max, statementTimeoutMs: 10_000, applicationName: 'carry-test', parkMs, idleInTransactionTimeoutMs },
    silentLogger,
  ) as CarryingPool;
  pools.push(pool);
  return pool;
}

async function openTransactions(): Promise<{ pid: number; state: string; xmin: string | null }[]> {
  const { rows } = await superuser.query(
    `select pid, state, backend_xmin::text as xmin from pg_stat_activity
     where datname = current_database() and application_name = 'carry-test' and state like 'idle in transaction%'`,
  );
  return rows;
}

const pidOf = async (r: RequestDatabase) => (await r.query<{ pid: number }>('select pg_backend_pid() as pid', [])).rows[0]!.pid;
const carrying = (pool: CarryingPool) => (pool as unknown as { carrying: WeakSet<pg.PoolClient> }).carrying;
const idleClients = (pool: CarryingPool) =>
  (pool as unknown as { _idle: { client: pg.PoolClient }[] })._idle.map((i) => i.client);

describe('checkOut(): a parked client released into the pool while nobody waits', () => {
  it('is not left idle in pg-pool in its read-only transaction when another client is released before the nextTick pulse', async () => {
    const pool = makePool(3);
    // C finishes read-only with nobody waiting: parked (client P).
    const c = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await c.open();
    const parkedPid = await pidOf(c);
    await c.query('select count(*) from teams', []);
    // B is a read-only request still running on client Q.
    const b = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await b.open();
    const bPid = await pidOf(b);
    expect(await c.finish()).toBe('committed');
    expect(pool.parkedCount).toBe(1);

    // A request A arrives in the same tick as B finishes (ordinary under load).
    const a = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    const aOpened = a.open(); // checkOut: P released into the pool (nobody waits), A queued, pulse on nextTick
    const bFinished = b.finish(); // B: waitingCount 1 -> Q released, pg-pool hands Q to A synchronously
    await Promise.all([aOpened, bFinished]);
    await pidOf(a);
    await a.finish();
    // Desired: the client A unparked is not left idle in pg-pool with its transaction open.
    // (Parked clients are open on purpose in this pool: parkMs is 60 s. Only those may be open.)
    expect((await openTransactions()).length).toBe(pool.parkedCount);
    for (const client of idleClients(pool)) expect(carrying(pool).has(client)).toBe(false);
    await pool.closeCarrying();
    await superuser.query('begin; lock table app_public.teams in access exclusive mode nowait');
    await superuser.query('rollback');
  });

  it('the simple deterministic form: checkOut then an ordinary release in the same tick', async () => {
    const pool = makePool(3);
    const r1 = await pool.connect();
    const r2 = await pool.connect();
    const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await reader.open();
    const parkedPid = await pidOf(reader);
    await reader.finish();
    expect(pool.parkedCount).toBe(1);
    const waiting = pool.connect(); // unparks P into the idle list, queues
    r1.release(); // hands r1 to the queued connect at once
    const got = await waiting;
    got.release();
    r2.release();
    expect((await openTransactions()).map((r) => r.pid)).not.toContain(parkedPid);
  });

  it('is never killed by idle_in_transaction_session_timeout while idle in the pool (no pool error)', async () => {
    const pool = makePool(3, 60_000, 500);
    const errors: Error[] = [];
    pool.on('error', (error) => errors.push(error));
    const r1 = await pool.connect();
    const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    const waiting = pool.connect();
    r1.release();
    (await waiting).release();
    const r = await pool.connect(); // keeps taking the top client
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    r.release();
    expect(errors).toEqual([]);
  });
});

describe('connect() and end() overrides', () => {
  it('callback form: a carried client is committed before the callback, done() releases', async () => {
    const pool = makePool(1);
    const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    expect(pool.parkedCount).toBe(1);
    const xact = await new Promise((resolve, reject) =>
      pool.connect((error, client, done) => {
        if (error || !client) return reject(error);
        client.query('select now() = statement_timestamp() as fresh', (e, res) => {
          done();
          e ? reject(e) : resolve(res.rows[0].fresh);
        });
      }),
    );
    expect(xact).toBe(true);
    expect(pool.idleCount).toBe(1);
  });

  it('end() twice: the second rejects like pg-pool, the first resolves, nothing left open', async () => {
    const pool = makePool(1);
    const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    const [first, second] = await Promise.allSettled([pool.end(), pool.end()]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    expect(await openTransactions()).toEqual([]);
  });

  it('end() while a parked transaction is being ended and a request is waiting', async () => {
    const pool = makePool(1);
    const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    const ended = pool.end();
    const late = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
    const opened = late.open().then(
      () => 'opened',
      () => 'refused',
    );
    const outcome = await opened;
    if (outcome === 'opened') await late.finish();
    await ended;
    expect(['opened', 'refused']).toContain(outcome);
    expect(await openTransactions()).toEqual([]);
  });
});

describe('connect() ending a carried transaction with its own commit', () => {
  it('a connection reset during that commit fails the connect() and does not crash the process', async () => {
    const pool = makePool(1);
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const reader = new RequestDatabase(pool, viewer(), silentLogger, { readOnly: true });
      await reader.open();
      await reader.finish();
      const parked = (pool as unknown as { parked: { client: pg.PoolClient }[] }).parked[0]!.client;
      // The socket resets (a failover, a network reset) while the carried commit is in flight.
      const sent = parked.query.bind(parked) as (...args: unknown[]) => unknown;
      (parked as unknown as { query: unknown }).query = (...args: unknown[]) => {
        const result = sent(...args);
        (parked as unknown as { query: unknown }).query = sent;
        process.nextTick(() =>
          (parked as unknown as { connection: { stream: { destroy(e: Error): void } } }).connection.stream.destroy(
            new Error('simulated ECONNRESET'),
          ),
        );
        return result;
      };
      const plain = pool.connect().then(
        (client) => {
          client.release();
          return 'connected';
        },
        (error: Error) => `failed: ${error.message}`,
      );
      const outcome = await plain;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(outcome).toMatch(/failed/);
      expect(uncaught.map(String)).toEqual([]);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
  });
});
