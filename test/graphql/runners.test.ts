/**
 * Runners end to end: a run's whole life from executeWorkflow through a runner to
 * retryExecution, without touching SQL; leases (two concurrent runners on two replicas never
 * claim one execution twice; an expired lease is reclaimed and the dead runner's reports are
 * refused); illegal transitions; runner-only mutations; connection sync status; audit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { createKey } from '../helpers/keys.js';
import type { SeededOrg } from '../helpers/world.js';

let db: TestDatabase;
let issuer: DevIssuer;
let a: TestGateway;
let b: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let adminToken: string;
let operatorToken: string;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await startDevIssuer({ port: 0 });
  a = await startTestGateway({}, { db, issuer });
  b = await startTestGateway({}, { db, issuer });
  org = await a.world.organization('Runners', { workflows: 1 });
  other = await a.world.organization('Other runners', { workflows: 1 });
  adminToken = await a.world.token(org.members.admin);
  operatorToken = await a.world.token(org.members.operator);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await issuer?.stop();
  await db?.drop();
});

interface ClaimData {
  leaseId: string;
  executionId: string;
  attempt: number;
  targetKind: string;
  targetId: string;
  parameters: Record<string, unknown>;
  customerId: string;
}
const CLAIM = `mutation($input: ClaimExecutionInput) {
  claimExecution(input: $input) { leaseId leaseExpiresAt executionId attempt targetKind targetId parameters customerId }
}`;
const PROGRESS = `mutation($id: ID!, $lease: ID!, $p: JSON, $extend: Int) {
  reportExecutionProgress(input: { id: $id, leaseId: $lease, progress: $p, extendLeaseSeconds: $extend }) { leaseExpiresAt }
}`;
const FINISH = `mutation($id: ID!, $lease: ID!, $outcome: ExecutionOutcome!, $output: JSON, $error: String) {
  finishExecution(input: { id: $id, leaseId: $lease, outcome: $outcome, output: $output, error: $error }) { id status }
}`;
const EXECUTION = `query($id: ID!) { execution(id: $id) { id status error output progress attempts retryOf { id } } }`;

async function runnerKey(name = 'engine') {
  return (await createKey(a.client, adminToken, org.id, { name, kind: 'RUNNER' })).secret;
}

async function execute(token = operatorToken, o = org, parameters: Record<string, unknown> = { n: 1 }) {
  return expectData(
    await a.client.request<{ executeWorkflow: { id: string; status: string } }>(
      'mutation($id: ID!, $c: ID!, $p: JSON) { executeWorkflow(input: { id: $id, customerId: $c, parameters: $p }) { id status } }',
      { id: o.workflows[0], c: o.customers[0]!.id, p: parameters },
      { token, orgId: o.id },
    ),
  ).executeWorkflow;
}

async function claim(gateway: TestGateway, token: string, input: Record<string, unknown> = {}) {
  return expectData(await gateway.client.request<{ claimExecution: ClaimData | null }>(CLAIM, { input }, { token }))
    .claimExecution;
}

/** Claims until the queue is empty (bounded), so each test starts from nothing queued. */
async function drain(token: string) {
  for (let i = 0; i < 200 && (await claim(a, token)); i++);
}

describe('the whole life of a run, without SQL', () => {
  it('executeWorkflow → claim → progress → FAILED → retryExecution → claim → SUCCEEDED', async () => {
    const runner = await runnerKey();
    await drain(runner);
    const queued = await execute(operatorToken, org, { contact: 'ada' });
    expect(queued.status).toBe('QUEUED');

    const first = (await claim(a, runner))!;
    expect(first).toMatchObject({
      executionId: queued.id,
      attempt: 1,
      targetKind: 'WORKFLOW',
      targetId: org.workflows[0],
      parameters: { contact: 'ada' },
      customerId: org.customers[0]!.id,
    });
    expectData(
      await b.client.request(PROGRESS, { id: queued.id, lease: first.leaseId, p: { step: 1 }, extend: 60 }, { token: runner }),
    );
    const running = expectData(
      await a.client.request<{ execution: { status: string; progress: unknown } }>(
        EXECUTION,
        { id: queued.id },
        {
          token: operatorToken,
          orgId: org.id,
        },
      ),
    ).execution;
    expect(running).toMatchObject({ status: 'RUNNING', progress: { step: 1 } });

    // Retrying a running execution is refused; once it failed, it is allowed.
    expect(
      errorCodes(
        await a.client.request(
          'mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }',
          { id: queued.id },
          {
            token: operatorToken,
            orgId: org.id,
          },
        ),
      ),
    ).toEqual(['CONFLICT']);
    const failed = expectData(
      await b.client.request<{ finishExecution: { status: string } }>(
        FINISH,
        { id: queued.id, lease: first.leaseId, outcome: 'FAILED', error: 'HubSpot answered 502' },
        { token: runner },
      ),
    ).finishExecution;
    expect(failed.status).toBe('FAILED');
    expect(
      expectData(
        await a.client.request<{ execution: unknown }>(EXECUTION, { id: queued.id }, { token: operatorToken, orgId: org.id }),
      ).execution,
    ).toMatchObject({ status: 'FAILED', error: 'HubSpot answered 502', attempts: 1 });

    const retry = expectData(
      await a.client.request<{ retryExecution: { id: string; status: string } }>(
        'mutation($id: ID!) { retryExecution(input: { id: $id }) { id status } }',
        { id: queued.id },
        { token: operatorToken, orgId: org.id },
      ),
    ).retryExecution;
    expect(retry.status).toBe('QUEUED');
    const second = (await claim(b, runner))!;
    expect(second).toMatchObject({ executionId: retry.id, parameters: { contact: 'ada' } });
    expectData(
      await a.client.request(
        FINISH,
        { id: retry.id, lease: second.leaseId, outcome: 'SUCCEEDED', output: { synced: 3 } },
        { token: runner },
      ),
    );
    expect(
      expectData(
        await a.client.request<{ execution: unknown }>(EXECUTION, { id: retry.id }, { token: operatorToken, orgId: org.id }),
      ).execution,
    ).toMatchObject({ status: 'SUCCEEDED', output: { synced: 3 }, error: null, retryOf: { id: queued.id } });

    // Each transition is audited, with the runner as the actor.
    const events = (await a.world.audit(org)).filter((e) => [queued.id, retry.id].includes(e.resource_id ?? ''));
    expect(events.map((e) => [e.action, e.outcome])).toEqual([
      ['execution.claim', 'success'],
      ['execution.report_progress', 'success'],
      ['execution.retry', 'failure'],
      ['execution.finish', 'success'],
      ['execution.retry', 'success'],
      ['execution.claim', 'success'],
      ['execution.finish', 'success'],
    ]);
    const byRunner = events.filter((e) => e.action.startsWith('execution.') && e.action !== 'execution.retry');
    expect(new Set(byRunner.map((e) => e.actor_user_id)).size).toBe(1);
    expect(byRunner[0]!.actor_user_id).not.toBe(org.members.operator.userId);
  });
});

describe('illegal transitions are CONFLICT', () => {
  it('finishing twice, without the lease, someone else’s, after the lease expired; the reclaim wins', async () => {
    const [one, two] = [await runnerKey('one'), await runnerKey('two')];
    await drain(one);
    const { id } = await execute();
    const held = (await claim(a, one))!;
    expect(held.executionId).toBe(id);
    const finish = (token: string, lease: string) =>
      a.client.request(FINISH, { id, lease, outcome: 'SUCCEEDED', output: {} }, { token });

    expect(errorCodes(await finish(two, held.leaseId))).toEqual(['CONFLICT']); // not its claim
    expect(errorCodes(await finish(one, '00000000-0000-4000-8000-000000000000'))).toEqual(['CONFLICT']); // wrong lease

    // The lease runs out (the runner died): the execution is claimable again, by anyone.
    await asSuperuser(a.db, (c) =>
      c.query(`update app_public.executions set lease_expires_at = now() - interval '1 second' where id = $1`, [id]),
    );
    expect(errorCodes(await finish(one, held.leaseId))).toEqual(['CONFLICT']); // expired
    const reclaimed = (await claim(b, two))!;
    expect(reclaimed).toMatchObject({ executionId: id, attempt: 2 });
    expect(errorCodes(await finish(one, held.leaseId))).toEqual(['CONFLICT']); // the dead runner is late
    expectData(await finish(two, reclaimed.leaseId));
    expect(errorCodes(await finish(two, reclaimed.leaseId))).toEqual(['CONFLICT']); // finished twice

    const refusals = (await a.world.audit(org)).filter((e) => e.resource_id === id && e.outcome === 'failure');
    expect(refusals.map((e) => [e.action, e.details.code])).toEqual(
      Array.from({ length: 5 }, () => ['execution.finish', 'CONFLICT']),
    );
  });

  it('FAILED needs an error; other outcomes refuse one', async () => {
    const runner = await runnerKey();
    await drain(runner);
    const { id } = await execute();
    const held = (await claim(a, runner))!;
    const noError = await a.client.request(FINISH, { id, lease: held.leaseId, outcome: 'FAILED' }, { token: runner });
    expect(errorCodes(noError)).toEqual(['BAD_USER_INPUT']);
    const stray = await a.client.request(
      FINISH,
      { id, lease: held.leaseId, outcome: 'CANCELLED', error: 'x' },
      { token: runner },
    );
    expect(errorCodes(stray)).toEqual(['BAD_USER_INPUT']);
    expectData(await a.client.request(FINISH, { id, lease: held.leaseId, outcome: 'CANCELLED' }, { token: runner }));
  });
});

describe('two runners on two replicas, concurrently', () => {
  it('claim every queued execution exactly once, and nothing of another organization', async () => {
    const [one, two] = [await runnerKey('one'), await runnerKey('two')];
    await drain(one);
    const theirs = await execute(await a.world.token(other.members.operator), other);
    const ours = new Set<string>();
    for (let i = 0; i < 12; i++) ours.add((await execute()).id);

    const claimed: string[] = [];
    const worker = async (gateway: TestGateway, token: string) => {
      for (let i = 0; i < 30; i++) {
        const got = await claim(gateway, token, { leaseSeconds: 60 });
        if (!got) return;
        claimed.push(got.executionId);
      }
    };
    await Promise.all([worker(a, one), worker(b, two), worker(a, two), worker(b, one)]);
    expect(claimed).toHaveLength(12);
    expect(new Set(claimed)).toEqual(ours);
    expect(claimed).not.toContain(theirs.id);
  });
});

describe('only runners', () => {
  it('people and API keys of any role are FORBIDDEN (and the denial is audited)', async () => {
    const adminKey = (await createKey(a.client, adminToken, org.id, { roleId: await a.world.systemRoleId(org, 'admin') })).secret;
    for (const [token, orgId] of [
      [adminToken, org.id],
      [adminKey, null],
    ] as const) {
      const response = await a.client.request(CLAIM, { input: {} }, { token, orgId });
      expect(errorCodes(response)).toEqual(['FORBIDDEN']);
      const sync = await a.client.request(
        'mutation($id: ID!) { setConnectionSyncStatus(input: { connectionId: $id, status: SUCCEEDED }) { connectionId } }',
        { id: '00000000-0000-4000-8000-000000000000' },
        { token, orgId },
      );
      expect(errorCodes(sync)).toEqual(['FORBIDDEN']);
    }
    const denied = (await a.world.audit(org)).filter((e) => e.action === 'execution.claim' && e.outcome === 'denied');
    expect(denied.length).toBeGreaterThanOrEqual(2);
  });
});

describe('in the database', () => {
  it('only a binding of an active runner, as itself, may call the runner functions', async () => {
    const runnerSecret = await runnerKey('sql');
    const runner = await a.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string; user_id: string }>(
        `select id, user_id from service_principals where kind = 'runner' order by created_at desc limit 1`,
      );
      return rows[0]!;
    });
    expect(runnerSecret).toBeTruthy();
    const attempt = async (settings: Record<string, string>) => {
      const client = await a.world.pool.connect();
      try {
        await client.query('begin');
        for (const [key, value] of Object.entries(settings)) await client.query('select set_config($1, $2, true)', [key, value]);
        return (await client.query('select * from app_private.claim_execution(60, null)')).rowCount;
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    const staff = { 'app.org_id': org.id, 'app.role': 'staff' };
    // A person (the Owner), a person claiming to be the runner, the runner's identity without its kind.
    await expect(attempt({ ...staff, 'app.user_id': org.members.owner.userId })).rejects.toThrow(/only an active runner/);
    await expect(
      attempt({
        ...staff,
        'app.user_id': org.members.owner.userId,
        'app.principal_kind': 'runner',
        'app.principal_id': runner.id,
      }),
    ).rejects.toThrow(/only an active runner/);
    await expect(attempt({ ...staff, 'app.user_id': runner.user_id, 'app.principal_id': runner.id })).rejects.toThrow(
      /only an active runner/,
    );
    // The runner itself, bound as the gateway binds it: allowed (whatever is queued).
    expect(
      await attempt({ ...staff, 'app.user_id': runner.user_id, 'app.principal_kind': 'runner', 'app.principal_id': runner.id }),
    ).toBeGreaterThanOrEqual(0);
  });
});

describe('a runner without a role', () => {
  it('holds no permission and says so', async () => {
    const runner = await runnerKey('bare');
    const viewer = expectData(
      await a.client.request<{ viewer: { role: null; permissions: string[]; organization: { id: string } } }>(
        '{ viewer { role { id } permissions organization { id } } }',
        {},
        { token: runner },
      ),
    ).viewer;
    expect(viewer).toEqual({ role: null, permissions: [], organization: { id: org.id } });
    expect(errorCodes(await a.client.request('{ workflows(first: 1) { totalCount } }', {}, { token: runner }))).toEqual([
      'FORBIDDEN',
    ]);
  });
});

describe('connection sync status', () => {
  it('a runner sets it; lastSyncedAt moves on success; a failure keeps its error', async () => {
    const runner = await runnerKey();
    const connectorId = await a.world.connector(org);
    const connectionId = await a.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId,
      ownerUserId: org.members.operator.userId,
      shared: true,
    });
    const SET =
      'mutation($id: ID!, $s: RunnerSyncStatus!, $e: String) { setConnectionSyncStatus(input: { connectionId: $id, status: $s, error: $e }) { connectionId syncStatus } }';
    const READ = 'query($id: ID!) { connection(id: $id) { syncStatus lastSyncedAt lastError } }';
    const read = async () =>
      expectData(
        await a.client.request<{ connection: { syncStatus: string; lastSyncedAt: string | null; lastError: string | null } }>(
          READ,
          { id: connectionId },
          { token: operatorToken, orgId: org.id },
        ),
      ).connection;
    expectData(await a.client.request(SET, { id: connectionId, s: 'SYNCING' }, { token: runner }));
    expect(await read()).toMatchObject({ syncStatus: 'SYNCING', lastSyncedAt: null });
    expectData(await a.client.request(SET, { id: connectionId, s: 'SUCCEEDED' }, { token: runner }));
    const synced = await read();
    expect(synced.syncStatus).toBe('SUCCEEDED');
    expect(synced.lastSyncedAt).not.toBeNull();
    expect(errorCodes(await a.client.request(SET, { id: connectionId, s: 'FAILED' }, { token: runner }))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expectData(await a.client.request(SET, { id: connectionId, s: 'FAILED', e: 'token revoked' }, { token: runner }));
    expect(await read()).toMatchObject({ syncStatus: 'FAILED', lastSyncedAt: synced.lastSyncedAt, lastError: 'token revoked' });
    // Another organization's connection answers like a missing one.
    const theirs = await a.world.connection(other, {
      customerId: other.customers[0]!.id,
      connectorId: await a.world.connector(other),
      ownerUserId: other.members.operator.userId,
      shared: true,
    });
    expect(errorCodes(await a.client.request(SET, { id: theirs, s: 'SYNCING' }, { token: runner }))).toEqual(['NOT_FOUND']);
  });
});
