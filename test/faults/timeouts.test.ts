/**
 * Timeouts are retryable answers, and one lock does not hold the pool (issue 7, point 4): with a
 * table locked, writers give up after lock_timeout with a 503 naming it, a request that cannot
 * get a pooled client gets a 503 naming that, `/ready` keeps answering from its own connection
 * while every pooled client is stuck, and a statement timeout is a 503 naming statement_timeout.
 * Also point 8: audit events that cannot be written are logged, one line each.
 */
import { sealingKey } from '../../src/audit/seal.js';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { GraphQLError } from 'graphql';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestAudit } from '../../src/audit/audit-log.js';
import { createPool } from '../../src/db/pool.js';
import { RequestDatabase } from '../../src/db/request-database.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { errorCodes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow, ViewerQuery } from '../graphql/operations.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

describe('a locked table', () => {
  let t: TestGateway;
  let org: SeededOrg;
  let token: string;
  beforeAll(async () => {
    t = await startTestGateway(
      { DATABASE_POOL_MAX: '2', DATABASE_LOCK_TIMEOUT: '3s', DATABASE_STATEMENT_TIMEOUT: '10s', DATABASE_POOL_TIMEOUT: '1s' },
      { db },
    );
    org = await t.world.organization('Locked');
    token = await t.world.token(org.members.developer);
    await t.client.request(ViewerQuery, {}, { token, orgId: org.id }); // sign-in recorded, principal cached
  });
  afterAll(() => t?.stop());

  it('writers give up at lock_timeout with a 503 saying so; the pool and /ready keep answering', async () => {
    const locker = new pg.Client({ connectionString: db.superuserUrl });
    locker.on('error', () => {});
    await locker.connect();
    try {
      await locker.query('begin; lock table app_public.definitions in access exclusive mode');
      const writers = [1, 2].map((i) =>
        t.client.request(CreateWorkflow, { input: { name: `blocked ${i} ${randomUUID()}` } }, { token, orgId: org.id }),
      );
      // Both pooled clients are now waiting on the lock.
      const pool = t.gateway.pool;
      const deadline = Date.now() + 10_000;
      while (!(pool.totalCount === 2 && pool.idleCount === 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(pool.idleCount).toBe(0);

      // The readiness probe has a connection of its own.
      const asked = Date.now();
      const ready = await fetch(`${t.gateway.url}/ready`, { signal: AbortSignal.timeout(5_000) });
      console.log(`/ready answered in ${Date.now() - asked} ms with every pooled client stuck on a lock`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', database: 'up', rateLimitStore: 'memory' });

      // No pooled client within DATABASE_POOL_TIMEOUT: a 503 that says what timed out.
      const starved = await t.client.request(ViewerQuery, {}, { token, orgId: org.id });
      expect(starved.status).toBe(503);
      expect(starved.headers.get('retry-after')).toBe('1');
      expect(errorCodes(starved)).toEqual(['SERVICE_UNAVAILABLE']);
      expect(starved.body.errors![0]!.message).toMatch(/waiting for a free database connection/);

      for (const answer of await Promise.all(writers)) {
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('1');
        expect(errorCodes(answer)).toEqual(['SERVICE_UNAVAILABLE']);
        expect(answer.body.errors![0]!.message).toMatch(/lock_timeout/);
        expect(answer.body.errors![0]!.extensions!.fault).toBe('lock timeout');
      }
    } finally {
      await locker.query('rollback').catch(() => {});
      await locker.end();
    }
    // The lock gone, everything answers again.
    const after = await t.client.request(CreateWorkflow, { input: { name: `after ${randomUUID()}` } }, { token, orgId: org.id });
    expect(after.status).toBe(200);
    expect(after.body.errors).toBeUndefined();
  });
});

describe('the request transaction', () => {
  it('answers a statement timeout with a 503 naming statement_timeout, and its client goes back clean', async () => {
    const pool = createPool(db.appUrl, { max: 1, statementTimeoutMs: 200 }, silentLogger);
    try {
      const request = new RequestDatabase(pool, { userId: null, orgId: null, access: null, tenantId: null }, silentLogger);
      const failure = await request.query('select pg_sleep(2)').catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(GraphQLError);
      const error = failure as GraphQLError;
      expect(error.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', fault: 'statement timeout', http: { status: 503 } });
      expect(error.message).toMatch(/statement_timeout/);
      expect(await request.finish()).toBe('rolled back');
      const { rows } = await pool.query<{ state: string }>('select 1 as state');
      expect(rows).toHaveLength(1);
    } finally {
      await pool.end();
    }
  });

  it('is bounded by a lock_timeout shorter than the statement timeout by default', async () => {
    const pool = createPool(db.appUrl, { max: 1, statementTimeoutMs: 10_000 }, silentLogger);
    try {
      const { rows } = await pool.query<{ lock: string; statement: string }>(
        `select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement`,
      );
      expect(rows[0]).toEqual({ lock: '2s', statement: '10s' });
    } finally {
      await pool.end();
    }
  });
});

describe('audit events that cannot be written', () => {
  it('are logged one line each, with every field and a stable marker', async () => {
    // A database that is not there: a port nobody listens on.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const deadUrl = new URL(db.appUrl);
    deadUrl.port = String(port);
    const pool = createPool(deadUrl.toString(), { max: 1, statementTimeoutMs: 1000, acquireTimeoutMs: 1000 }, silentLogger);

    const lines: string[] = [];
    const logger = createLogger('info', {}, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    const orgId = randomUUID();
    const userId = randomUUID();
    const audit = new RequestAudit(
      { requestId: 'req-1', clientIp: '127.0.0.1', userAgent: 'test' },
      { userId, name: 'Dee' },
      logger,
      sealingKey(undefined),
    );
    audit.defer('failure', orgId, {
      action: 'workflow.create',
      resourceType: 'workflow',
      details: { code: 'SERVICE_UNAVAILABLE' },
    });
    audit.defer('denied', orgId, { action: 'role.delete', resourceType: 'role', resourceId: 'r-1' });
    await audit.flush(pool, { userId, orgId, access: 'staff', tenantId: null });
    await pool.end();

    const unwritten = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'audit.unwritten');
    expect(unwritten).toHaveLength(2);
    for (const line of unwritten) expect(line.audit_unwritten).toBe(true);
    expect(unwritten.map((l) => l.event)).toEqual([
      expect.objectContaining({
        orgId,
        actorType: 'user',
        actorUserId: userId,
        actorName: 'Dee',
        action: 'workflow.create',
        resourceType: 'workflow',
        resourceId: null,
        outcome: 'failure',
        customerId: null,
        requestId: 'req-1',
        clientIp: '127.0.0.1',
        userAgent: 'test',
        details: { code: 'SERVICE_UNAVAILABLE' },
      }),
      expect.objectContaining({ action: 'role.delete', outcome: 'denied', resourceId: 'r-1' }),
    ]);
  });
});
