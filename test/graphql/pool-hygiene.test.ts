/**
 * Many concurrent requests with failures mixed in, through a small pool: afterwards (once the
 * read-only transactions parked for the next request have ended, within milliseconds: see
 * src/db/parked-transactions.ts) every client is back, idle, outside any transaction, and
 * carries no request's settings.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CarryingPool } from '../../src/db/parked-transactions.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow, ExecuteWorkflow, UpdateWorkflow, ViewerQuery, WorkflowQuery, WorkflowsQuery } from './operations.js';

let t: TestGateway;
let a: SeededOrg;
let b: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway({ DATABASE_POOL_MAX: '3' });
  a = await t.world.organization('PoolA', { workflows: 3 });
  b = await t.world.organization('PoolB', { workflows: 3 });
});
afterAll(() => t?.stop());

it('returns every client clean after 120 concurrent mixed requests', async () => {
  const tokens = {
    aDev: await t.world.token(a.members.developer),
    aViewer: await t.world.token(a.members.viewer),
    bOwner: await t.world.token(b.members.owner),
    endUser: await t.world.token(a.members.end_user),
  };
  const ctx = (token: string, org: SeededOrg) => ({ token, orgId: org.id });
  const jobs: (() => Promise<unknown>)[] = [
    () => t.client.request(WorkflowsQuery, { first: 10 }, ctx(tokens.aViewer, a)),
    () => t.client.request(WorkflowsQuery, { first: 10 }, ctx(tokens.bOwner, b)),
    () => t.client.request(CreateWorkflow, { input: { name: `ok ${randomUUID()}` } }, ctx(tokens.aDev, a)),
    () => t.client.request(CreateWorkflow, { input: { name: '' } }, ctx(tokens.aDev, a)), // bad input
    () => t.client.request(CreateWorkflow, { input: { name: 'PoolA workflow 1' } }, ctx(tokens.aDev, a)), // SQL unique violation
    () => t.client.request(CreateWorkflow, { input: { name: 'denied' } }, ctx(tokens.aViewer, a)), // denied
    () => t.client.request(UpdateWorkflow, { input: { id: b.workflows[0]!, name: 'x' } }, ctx(tokens.aDev, a)), // other tenant
    () => t.client.request(WorkflowQuery, { id: randomUUID() }, ctx(tokens.aDev, a)), // missing
    () =>
      t.client.request(ExecuteWorkflow, { input: { id: a.workflows[0]!, customerId: a.customers[0]!.id } }, ctx(tokens.aDev, a)),
    () => t.client.request(ViewerQuery, {}, { token: 'garbage.token.here' }), // 401 before any DB work
    () => t.client.request(ViewerQuery, {}, ctx(tokens.endUser, a)),
    () =>
      t.client.request(
        `mutation { x: createWorkflow(input: { name: "${randomUUID()}" }) { id } y: createWorkflow(input: { name: "PoolA workflow 2" }) { id } }`,
        {},
        ctx(tokens.aDev, a),
      ),
  ];
  const responses = await Promise.all(Array.from({ length: 120 }, (_, i) => jobs[i % jobs.length]!()));
  expect(responses).toHaveLength(120);

  const pool = t.gateway.pool;
  await (pool as CarryingPool).drained();
  expect(pool.waitingCount).toBe(0);
  expect(pool.totalCount).toBeLessThanOrEqual(3);
  expect(pool.idleCount).toBe(pool.totalCount);

  // Hold every client at once and look inside each.
  const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
  try {
    for (const client of clients) {
      const { rows } = await client.query(`
        select nullif(current_setting('app.user_id', true), '') as user_id,
               nullif(current_setting('app.org_id', true), '') as org_id,
               nullif(current_setting('app.role', true), '') as role,
               nullif(current_setting('app.tenant_id', true), '') as tenant_id,
               pg_current_xact_id_if_assigned() as xact,
               (select count(*)::int from definitions) as visible_definitions`);
      expect(rows[0]).toEqual({ user_id: null, org_id: null, role: null, tenant_id: null, xact: null, visible_definitions: 0 });
    }
  } finally {
    for (const client of clients) client.release();
  }

  const { rows: sessions } = await pool.query(
    // This database only: other test files share the cluster and the role.
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and usename = current_user and state like 'idle in transaction%'`,
  );
  expect(sessions[0].n).toBe(0);
});

it('a permission change under load neither starves nor leaks the pool (principals are re-read on the open client)', async () => {
  const members = [a.members.admin, a.members.developer, a.members.operator, a.members.viewer, a.members.owner];
  const tokens = await Promise.all(members.map((m) => t.world.token(m)));
  // Warm every principal into the cache, then change the organization's permissions.
  for (const token of tokens) expect((await t.client.request(ViewerQuery, {}, { token, orgId: a.id })).status).toBe(200);
  await t.world.inOrg(a, (db) => db.query(`insert into teams (org_id, name) values ($1, 'Version bump')`, [a.id]));
  await t.world.inOrg(a, async (db) => {
    const team = (await db.query<{ id: string }>(`select id from teams where name = 'Version bump'`)).rows[0]!.id;
    await db.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [
      a.id,
      team,
      a.members.viewer.membershipId,
    ]);
  });
  // More concurrent requests than the pool (3) has clients, all needing a fresh principal.
  const started = Date.now();
  const responses = await Promise.all(
    tokens.flatMap((token) => [1, 2].map(() => t.client.request(ViewerQuery, {}, { token, orgId: a.id }))),
  );
  expect(responses.map((r) => r.status)).toEqual(responses.map(() => 200));
  expect(Date.now() - started).toBeLessThan(4_000); // well under the 5 s connection timeout a deadlock would hit
  const pool = t.gateway.pool;
  await (pool as CarryingPool).drained();
  expect(pool.idleCount).toBe(pool.totalCount);
  expect(pool.waitingCount).toBe(0);
});
