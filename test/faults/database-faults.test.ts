/**
 * The database fails under load and the gateway survives it (issue 7, points 1 and 2), on a
 * PostgreSQL cluster of this file's own: 10 concurrent clients create workflows (and read)
 * while the gateway's backends are terminated, and while the cluster is stopped (fast and
 * immediate shutdown) and started again. After each fault:
 *  - the process is alive (an unheard pg 'error' event would have crashed this worker);
 *  - every answer was a success or a 503 SERVICE_UNAVAILABLE with Retry-After — never a 200
 *    INTERNAL_SERVER_ERROR, never anything else;
 *  - the gateway recovered by itself (the recovery time is printed);
 *  - the accounting holds exactly: every success answered has its row and exactly one success
 *    audit event; every answer that was not a success and not `outcome: UNKNOWN` left nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type GatewayClient, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import { startOwnPostgres, type OwnPostgres } from '../helpers/own-postgres.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow, ViewerQuery } from '../graphql/operations.js';

const CLIENTS = 10;

let own: OwnPostgres;
let t: TestGateway;
let org: SeededOrg;
let token: string;

beforeAll(async () => {
  own = await startOwnPostgres();
  t = await startTestGateway({ DATABASE_POOL_MAX: '6', DATABASE_POOL_TIMEOUT: '3s' }, { db: own.db });
  org = await t.world.organization('Faults');
  token = await t.world.token(org.members.developer);
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await own?.destroy();
});

interface Answer {
  name: string | null; // null: a read
  startedAt: number;
  endedAt: number;
  status: number;
  retryAfter: string | null;
  codes: string[];
  outcome: unknown;
  id: string | null;
  transportError?: string;
  body?: unknown;
}

/** Ten clients, each: three createWorkflow then one read, until told to stop (bounded in count and time). */
function startLoad(client: GatewayClient, phase: string) {
  const answers: Answer[] = [];
  let stopping = false;
  const deadline = Date.now() + 60_000;
  const worker = async (n: number) => {
    for (let i = 0; i < 1_000 && !stopping && Date.now() < deadline; i++) {
      const name = i % 4 === 3 ? null : `${phase} c${n} #${i}`;
      const startedAt = Date.now();
      let response: GraphQLResponse | undefined;
      let transportError: string | undefined;
      try {
        response = name
          ? await client.request(CreateWorkflow, { input: { name } }, { token, orgId: org.id })
          : await client.request(ViewerQuery, {}, { token, orgId: org.id });
      } catch (error) {
        transportError = (error as Error).message;
      }
      const body = response?.body;
      const data = body?.data as { createWorkflow?: { id: string } } | null | undefined;
      answers.push({
        name,
        startedAt,
        endedAt: Date.now(),
        status: response?.status ?? 0,
        retryAfter: response?.headers.get('retry-after') ?? null,
        codes: (body?.errors ?? []).map((e) => String(e.extensions?.code)),
        outcome: body?.errors?.[0]?.extensions?.outcome,
        id: data?.createWorkflow?.id ?? null,
        transportError,
        ...(process.env.FAULT_DEBUG ? { body } : {}),
      });
      // A polite client backs off a little on a 503 (the header says 1 s; the test is in a hurry).
      if (response?.status === 503) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const running = Promise.all(Array.from({ length: CLIENTS }, (_, n) => worker(n)));
  return {
    answers,
    successes: () => answers.filter((a) => a.status === 200 && a.codes.length === 0).length,
    async stop() {
      stopping = true;
      await running;
      return answers;
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const isSuccess = (a: Answer) => a.status === 200 && a.codes.length === 0;

/** Every answer is a success or a retryable 503; returns the 503s. */
function expectOnlySuccessOr503(answers: Answer[]): Answer[] {
  const odd = answers.filter(
    (a) =>
      !isSuccess(a) &&
      !(a.status === 503 && a.codes.length > 0 && a.codes.every((c) => c === 'SERVICE_UNAVAILABLE') && a.retryAfter),
  );
  expect(odd.slice(0, 5), `answers that were neither a success nor a 503 with Retry-After`).toEqual([]);
  return answers.filter((a) => a.status === 503);
}

/** The accounting of point 2, against the database itself (as superuser). */
async function expectExactAccounting(phase: string, answers: Answer[]) {
  const rows = await own.superuser<{ id: string; name: string }>(
    `select id::text, name from app_public.definitions where org_id = $1 and name like $2`,
    [org.id, `${phase} %`],
  );
  const events = await own.superuser<{ resource_id: string; n: number }>(
    `select resource_id, count(*)::int as n from app_public.audit_events
      where org_id = $1 and outcome = 'success' and resource_id = any($2::text[]) group by resource_id`,
    [org.id, rows.map((r) => r.id)],
  );
  const rowByName = new Map(rows.map((r) => [r.name, r.id]));
  const eventsById = new Map(events.map((e) => [e.resource_id, e.n]));
  const mutations = answers.filter((a) => a.name);
  const unknown = mutations.filter((a) => a.outcome === 'UNKNOWN');
  for (const answer of mutations) {
    const rowId = rowByName.get(answer.name!);
    if (isSuccess(answer)) {
      expect(rowId, `${answer.name} answered success`).toBe(answer.id);
      expect(eventsById.get(rowId!), `success events of ${answer.name}`).toBe(1);
    } else if (answer.outcome !== 'UNKNOWN') {
      expect(rowId, `${answer.name} answered ${answer.status} ${answer.codes.join()} but exists`).toBeUndefined();
    } else if (rowId) {
      expect(eventsById.get(rowId), `success events of ${answer.name} (outcome unknown, committed)`).toBe(1);
    }
  }
  // Nothing exists that nobody asked for, and no success event lacks its row.
  expect(rows.length).toBeLessThanOrEqual(mutations.filter(isSuccess).length + unknown.length);
  expect(events.reduce((n, e) => n + e.n, 0)).toBe(rows.length);
  return {
    successes: mutations.filter(isSuccess).length,
    unknown: unknown.length,
    committedUnknown: unknown.filter((a) => rowByName.has(a.name!)).length,
  };
}

async function expectAliveAndServing() {
  const health = await fetch(`${t.gateway.url}/health`);
  expect(health.status).toBe(200);
  const ready = await fetch(`${t.gateway.url}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ database: 'up' });
  const after = await t.client.request(CreateWorkflow, { input: { name: `after ${Date.now()}` } }, { token, orgId: org.id });
  expect(after.body.errors).toBeUndefined();
}

const report: Record<string, unknown> = {};
afterAll(() => console.log(`database fault recovery: ${JSON.stringify(report)}`));

describe('under 10 concurrent clients', () => {
  it('survives its backends being terminated, repeatedly', async () => {
    const load = startLoad(t.client, 'terminate');
    await until(() => load.successes() >= 20, 'warm-up successes');
    let terminated = 0;
    let lastKill = 0;
    for (let round = 0; round < 5; round++) {
      terminated += await own.terminateAppBackends();
      lastKill = Date.now();
      await new Promise((r) => setTimeout(r, 200));
    }
    await until(
      () => load.answers.some((a) => a.startedAt > lastKill && isSuccess(a) && a.name !== null),
      'a success after the last kill',
    );
    const firstSuccess = Math.min(...load.answers.filter((a) => a.startedAt > lastKill && isSuccess(a)).map((a) => a.endedAt));
    await new Promise((r) => setTimeout(r, 500));
    const answers = await load.stop();

    expect(terminated).toBeGreaterThan(0);
    const failed = expectOnlySuccessOr503(answers);
    const accounting = await expectExactAccounting('terminate', answers);
    report.terminate = {
      terminated,
      answers: answers.length,
      unavailable: failed.length,
      ...accounting,
      recoveryMs: firstSuccess - lastKill,
    };
    await expectAliveAndServing();
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`survives a ${mode} shutdown and restart of the database, and recovers by itself`, async () => {
      const phase = `restart-${mode}`;
      // A member the gateway has never seen: resolving them needs the database (outside the
      // request transaction), which must answer 503 as well.
      const stranger = await t.world.token(await t.world.member(org, 'viewer', `stranger-${mode}`));
      const load = startLoad(t.client, phase);
      await until(() => load.successes() >= 20, 'warm-up successes');
      const stoppedAt = Date.now();
      await own.stop(mode);
      const downAt = Date.now();
      // Down for a while: requests keep coming and must get 503s, not hang or crash anything.
      // Counted among requests begun once it was down (not ones in flight when it went), so
      // that the outage window below is never empty on a slow machine.
      await until(
        () => load.answers.filter((a) => a.startedAt >= downAt && a.status === 503).length >= 10,
        'answers during the outage',
      );
      const asked = Date.now();
      const ready = await fetch(`${t.gateway.url}/ready`);
      report[`ready-while-down-${mode}`] = { status: ready.status, ms: Date.now() - asked };
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'unavailable', database: 'down' });
      const unseen = await t.client.request(ViewerQuery, {}, { token: stranger, orgId: org.id });
      expect(unseen.status, JSON.stringify(unseen.body)).toBe(503);
      expect(unseen.headers.get('retry-after')).toBe('1');
      expect(unseen.body.errors?.map((e) => e.extensions?.code)).toEqual(['SERVICE_UNAVAILABLE']);
      const restartAt = Date.now();
      await own.start();
      const upAt = Date.now();
      await until(
        () => load.answers.some((a) => a.startedAt >= upAt && isSuccess(a) && a.name !== null),
        'a success after the restart',
      );
      const firstSuccess = Math.min(...load.answers.filter((a) => a.startedAt >= upAt && isSuccess(a)).map((a) => a.endedAt));
      await new Promise((r) => setTimeout(r, 500));
      const answers = await load.stop();

      // Begun after the server was gone and answered before it was asked to start again.
      const outage = answers.filter((a) => a.startedAt >= downAt && a.endedAt <= restartAt);
      expect(outage.length).toBeGreaterThan(0);
      expect(
        outage.filter((a) => a.status !== 503),
        'answers while the database was down',
      ).toEqual([]);
      const failed = expectOnlySuccessOr503(answers);
      const accounting = await expectExactAccounting(phase, answers);
      report[phase] = {
        answers: answers.length,
        unavailable: failed.length,
        ...accounting,
        downMs: upAt - stoppedAt,
        recoveryMs: firstSuccess - upAt,
      };
      await expectAliveAndServing();
    });
  }
});
