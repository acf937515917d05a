/**
 * Query operations run in READ ONLY transactions whose end travels with the next request's
 * BEGIN (src/db/parked-transactions.ts). What must hold, checked as gateway_app:
 *  - PostgreSQL refuses a write in a read-only request transaction;
 *  - a parked transaction is ended by the next request's opening message, which binds only its
 *    own settings and reads a fresh snapshot (it can write, when it is read-write);
 *  - nobody taking it, the parked transaction ends by itself and the client is back in the pool;
 *  - nothing parks while others wait for the pool;
 *  - a parked connection that dies neither crashes the process nor fails the next request;
 *  - writes deferred to commit (audit events of a query) still commit, in their own transaction;
 *  - shutdown ends what is parked.
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
  org = await new World(db.appPool(2), issuer).organization('Parked');
  superuser = new pg.Client({ connectionString: db.superuserUrl });
  await superuser.connect();
});
afterAll(async () => {
  await superuser?.end();
  await issuer?.stop();
  await db?.drop();
});

const ownerBinding = (): DatabaseBinding => ({
  userId: org.members.owner.userId,
  orgId: org.id,
  access: 'staff',
  tenantId: null,
});
const viewerBinding = (): DatabaseBinding => ({
  userId: org.members.viewer.userId,
  orgId: org.id,
  access: 'staff',
  tenantId: null,
});

async function teamNamed(name: string): Promise<number> {
  const { rows } = await superuser.query('select count(*)::int as n from app_public.teams where org_id = $1 and name = $2', [
    org.id,
    name,
  ]);
  return rows[0].n;
}

async function idleInTransaction(): Promise<number> {
  const { rows } = await superuser.query(
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and usename = 'gateway_app' and state like 'idle in transaction%'`,
  );
  return rows[0].n;
}

const pools: CarryingPool[] = [];
// Each test counts the cluster's idle transactions: none may be left parked by an earlier one.
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => {})));
});

/** A request pool of its own whose parked transactions wait `parkMs` (long: the test decides when they end). */
function poolParkingFor(parkMs: number, max = 1, idleInTransactionTimeoutMs?: number) {
  const pool = createPool(
    db.appUrl,
    { max, statementTimeoutMs: 10_000, applicationName: 'parked-test', parkMs, idleInTransactionTimeoutMs },
    silentLogger,
  ) as CarryingPool;
  pools.push(pool);
  return { pool, parked: pool };
}

describe('a read-only request transaction', () => {
  it('refuses writes: PostgreSQL says the transaction is read-only, and nothing is written', async () => {
    const { pool } = poolParkingFor(60_000);
    const request = new RequestDatabase(pool, ownerBinding(), silentLogger, { readOnly: true });
    await request.open();
    expect((await request.query<{ v: string }>('select current_setting($1) as v', ['transaction_read_only'])).rows[0]!.v).toBe(
      'on',
    );
    const write = request.query('insert into teams (org_id, name) values ($1, $2)', [org.id, 'written read-only']);
    await expect(write).rejects.toMatchObject({ code: '25006' });
    await request.finish();
    expect(await teamNamed('written read-only')).toBe(0);
  });

  it('is ended by the next request’s opening message, which binds its own settings and sees a fresh snapshot', async () => {
    const { pool, parked } = poolParkingFor(60_000);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    const first = (await reader.query<{ pid: number; at: Date }>('select pg_backend_pid() as pid, now() as at', [])).rows[0]!;
    expect(await reader.finish()).toBe('committed');
    expect(parked.parkedCount).toBe(1);
    expect(await idleInTransaction()).toBe(1); // parked, not yet ended

    // Committed by someone else after the reader's snapshot.
    await superuser.query(`insert into app_public.teams (org_id, name) values ($1, 'after the reader')`, [org.id]);

    const writer = new RequestDatabase(pool, ownerBinding(), silentLogger);
    await writer.open();
    expect(parked.parkedCount).toBe(0);
    const { rows } = await writer.query<{ pid: number; at: Date; user_id: string; read_only: string; seen: number }>(
      `select pg_backend_pid() as pid, now() as at, current_setting('app.user_id') as user_id,
              current_setting('transaction_read_only') as read_only,
              (select count(*)::int from teams where name = $1) as seen`,
      ['after the reader'],
    );
    expect(rows[0]!.pid).toBe(first.pid); // the same connection, carried
    expect(rows[0]!.at.getTime()).toBeGreaterThan(first.at.getTime()); // a transaction of its own
    expect(rows[0]!.user_id).toBe(org.members.owner.userId);
    expect(rows[0]!.read_only).toBe('off');
    expect(rows[0]!.seen).toBe(1);
    await writer.query('insert into teams (org_id, name) values ($1, $2)', [org.id, 'written after carrying']);
    expect(await writer.finish()).toBe('committed');
    expect(await teamNamed('written after carrying')).toBe(1);
    expect(await idleInTransaction()).toBe(0);
  });

  it('ends by itself when no request takes it: the client is back in the pool, outside any transaction', async () => {
    const { pool, parked } = poolParkingFor(5, 2);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.query('select count(*) from definitions', []);
    await reader.finish();
    await parked.drained();
    expect(parked.parkedCount).toBe(0);
    expect(pool.idleCount).toBe(pool.totalCount);
    expect(await idleInTransaction()).toBe(0);
    const client = await pool.connect();
    try {
      const { rows } = await client.query(
        `select nullif(current_setting('app.user_id', true), '') as user_id, pg_current_xact_id_if_assigned() as xact,
                now() = statement_timestamp() as fresh_transaction`,
      );
      expect(rows[0]).toEqual({ user_id: null, xact: null, fresh_transaction: true });
    } finally {
      client.release();
    }
  });

  it('does not park while someone waits for the pool: the waiter gets the client', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    const waiting = pool.connect();
    while (pool.waitingCount === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await reader.finish();
    expect(parked.parkedCount).toBe(0);
    const client = await waiting;
    try {
      expect((await client.query('select pg_current_xact_id_if_assigned() as xact')).rows[0].xact).toBeNull();
    } finally {
      client.release();
    }
  });

  it('is handed straight to a request waiting for a client, first come first served', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    const { pid } = (await reader.query<{ pid: number }>('select pg_backend_pid() as pid', [])).rows[0]!;
    const first = new RequestDatabase(pool, ownerBinding(), silentLogger);
    const second = new RequestDatabase(pool, viewerBinding(), silentLogger);
    const firstOpened = first.open();
    const secondOpened = second.open();
    while (pool.waitingCount < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    await reader.finish();
    await firstOpened;
    expect(parked.parkedCount).toBe(0);
    const { rows } = await first.query<{ pid: number; user_id: string; read_only: string }>(
      `select pg_backend_pid() as pid, current_setting('app.user_id') as user_id, current_setting('transaction_read_only') as read_only`,
      [],
    );
    expect(rows[0]).toEqual({ pid, user_id: org.members.owner.userId, read_only: 'off' });
    expect(await first.finish()).toBe('committed');
    await secondOpened;
    expect(
      (await second.query<{ user_id: string }>(`select current_setting($1) as user_id`, ['app.user_id'])).rows[0]!.user_id,
    ).toBe(org.members.viewer.userId);
    expect(await second.finish()).toBe('committed');
    // The places the two took in the pool's queue were given back: one idle client, nobody waiting.
    while (pool.waitingCount > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(pool.totalCount).toBe(1);
    expect(pool.idleCount).toBe(1);
    expect(await idleInTransaction()).toBe(0);
  });

  it('whose connection dies while parked leaves the process up and the next request served', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    const { pid } = (await reader.query<{ pid: number }>('select pg_backend_pid() as pid', [])).rows[0]!;
    await reader.finish();
    expect(parked.parkedCount).toBe(1);
    await superuser.query('select pg_terminate_backend($1)', [pid]);

    const next = new RequestDatabase(pool, ownerBinding(), silentLogger);
    expect(await next.open()).toEqual(expect.any(Number));
    const served = (await next.query<{ pid: number }>('select pg_backend_pid() as pid', [])).rows[0]!;
    expect(served.pid).not.toBe(pid);
    expect(await next.finish()).toBe('committed');
  });

  it('still commits the writes it deferred (a query’s audit events), in a transaction of their own', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, ownerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    reader.deferUntilCommit('insert into teams (org_id, name) values ($1, $2)', [org.id, 'deferred by a query']);
    expect(await reader.finish()).toBe('committed');
    expect(parked.parkedCount).toBe(0); // ended with its writes, not parked
    expect(await teamNamed('deferred by a query')).toBe(1);
    expect(pool.idleCount).toBe(pool.totalCount);
  });

  it('is ended at shutdown, after which nothing parks', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    expect(parked.parkedCount).toBe(1);
    await parked.closeCarrying();
    expect(parked.parkedCount).toBe(0);
    expect(await idleInTransaction()).toBe(0);
    const again = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await again.open();
    await again.finish();
    expect(parked.parkedCount).toBe(0);
  });
});

describe('the pool’s queue stays first come, first served', () => {
  it('a pool.connect() queued before a request transaction is served first, its client outside any transaction', async () => {
    const { pool } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    const order: string[] = [];
    // A user of the pool that is not a request transaction (principal lookups, audit flush…) queues first.
    const plain = pool.connect().then((client) => {
      order.push('plain');
      return client;
    });
    while (pool.waitingCount === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    const request = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    const opened = request.open().then(() => order.push('request'));
    await reader.finish();
    const client = await plain;
    expect(order).toEqual(['plain']);
    expect(
      (await client.query('select pg_current_xact_id_if_assigned() as xact, now() = statement_timestamp() as fresh')).rows[0],
    ).toEqual({
      xact: null,
      fresh: true,
    });
    client.release();
    await opened;
    expect(order).toEqual(['plain', 'request']);
    await request.finish();
  });

  it('a plain pool.query() is not starved by a stream of read-only requests', async () => {
    const { pool } = poolParkingFor(60_000, 1);
    let current = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await current.open();
    let plainServed = false;
    const plain = pool.query('select 1').then(() => (plainServed = true));
    let handedOver = 0;
    // Each request arrives while the previous one still holds the only client.
    while (!plainServed && handedOver < 50) {
      const next = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
      const opened = next.open();
      await current.query('select pg_sleep(0.002)', []);
      await current.finish();
      await opened;
      handedOver++;
      current = next;
    }
    await current.finish();
    await plain;
    expect(plainServed).toBe(true);
    expect(handedOver).toBeLessThanOrEqual(2);
  });
});

describe('what finish() reports for a read-only transaction', () => {
  it('rolled back, when it was told to roll back', async () => {
    const { pool, parked } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    await expect(
      reader.mutation(false, async () => {
        throw new Error('doomed');
      }),
    ).rejects.toThrow('doomed');
    expect(await reader.finish()).toBe('rolled back');
    expect(parked.parkedCount).toBe(0);
  });

  it('rolled back, without writing what it deferred, when a statement failed', async () => {
    const { pool } = poolParkingFor(60_000, 1);
    const reader = new RequestDatabase(pool, ownerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    reader.deferUntilCommit('insert into teams (org_id, name) values ($1, $2)', [org.id, 'deferred by an aborted query']);
    await expect(reader.query('select 1/0', [])).rejects.toBeTruthy();
    expect(await reader.finish()).toBe('rolled back');
    expect(await teamNamed('deferred by an aborted query')).toBe(0);
  });
});

// CarryingPool's edges, from its second review (docs/reviews/read-only-transactions-2026-11-26.md,
// "Second review"): a parked client is never left idle in the pool inside its transaction (nor
// killed there by idle_in_transaction_session_timeout); connect()'s callback form and end(); a
// connection reset during connect()'s own commit of a carried transaction fails that connect()
// and leaves the process up.

const makePool = (max: number, parkMs = 60_000, idleInTransactionTimeoutMs?: number) =>
  poolParkingFor(parkMs, max, idleInTransactionTimeoutMs).pool;

async function openTransactions(): Promise<{ pid: number; state: string; xmin: string | null }[]> {
  const { rows } = await superuser.query(
    `select pid, state, backend_xmin::text as xmin from pg_stat_activity
     where datname = current_database() and application_name = 'parked-test' and state like 'idle in transaction%'`,
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
    const c = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await c.open();
    const parkedPid = await pidOf(c);
    await c.query('select count(*) from teams', []);
    // B is a read-only request still running on client Q.
    const b = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await b.open();
    const bPid = await pidOf(b);
    expect(await c.finish()).toBe('committed');
    expect(pool.parkedCount).toBe(1);

    // A request A arrives in the same tick as B finishes (ordinary under load).
    const a = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    const [first, second] = await Promise.allSettled([pool.end(), pool.end()]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    expect(await openTransactions()).toEqual([]);
  });

  it('end() while a parked transaction is being ended and a request is waiting', async () => {
    const pool = makePool(1);
    const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
    await reader.open();
    await reader.finish();
    const ended = pool.end();
    const late = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
      const reader = new RequestDatabase(pool, viewerBinding(), silentLogger, { readOnly: true });
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
