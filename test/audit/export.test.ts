/**
 * GET /audit/export (issue 11.6): NDJSON of a time range under the GraphQL authentication and
 * audit_log.read; another organization's events never appear; 100k events stream in bounded
 * memory (the gateway runs in this process: its live heap is sampled after forced collections
 * while a slow reader drains the stream); refusals have stable codes and are audited.
 */
import http from 'node:http';
import v8 from 'node:v8';
import pg from 'pg';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asApp } from '../helpers/database.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { createKey } from '../helpers/keys.js';
import type { SeededOrg } from '../helpers/world.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let t: TestGateway;
let a: SeededOrg;
let b: SeededOrg;

async function events(org: SeededOrg, n: number, action = 'workflow.create', batch = 25_000): Promise<void> {
  for (let done = 0; done < n; done += batch) {
    await asApp(
      t.world.pool,
      { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['workflows.create'] },
      (c) =>
        c.query(
          `insert into audit_events (org_id, actor_type, actor_user_id, actor_name, action, resource_type, resource_id, outcome,
             request_id, client_ip, user_agent, details)
           select $1, 'user', $2, 'Owner', $4, 'workflow', 'wf-' || g, 'success', 'req-' || g, '10.0.0.1', 'bench/1.0',
             jsonb_build_object('n', g, 'note', repeat('x', 120))
           from generate_series(1, $3) g`,
          [org.id, org.members.owner.userId, Math.min(batch, n - done), action],
        ),
      { commit: true },
    );
  }
}

function exportUrl(query: Record<string, string> | string = {}, base = t.gateway.url): string {
  return `${base}/audit/export?${typeof query === 'string' ? query : new URLSearchParams(query)}`;
}

async function get(query: Record<string, string> | string, headers: Record<string, string>) {
  const response = await fetch(exportUrl(query), { headers });
  const text = await response.text();
  return { response, text };
}

async function bearer(org: SeededOrg, role: keyof SeededOrg['members']) {
  return { authorization: `Bearer ${await t.world.token(org.members[role])}`, 'x-organization-id': org.id };
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  t = await startTestGateway();
  a = await t.world.organization('Export A', { customers: 1 });
  b = await t.world.organization('Export B', { customers: 1 });
  await events(a, 300, 'workflow.create', 100);
  await events(b, 200, 'role.delete', 100);
}, 120_000);

afterAll(() => t?.stop());

describe('the export', () => {
  it('streams the organization’s events as NDJSON, oldest first by default, with the GraphQL fields', async () => {
    const { response, text } = await get({}, await bearer(a, 'admin'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const rows = lines(text);
    expect(rows.length).toBeGreaterThanOrEqual(300);
    // Another organization's events never appear (B wrote only role.delete).
    expect(rows.some((r) => r.action === 'role.delete')).toBe(false);
    const own = rows.filter((r) => r.action === 'workflow.create');
    expect(own[0]).toMatchObject({
      actor: { type: 'USER', name: 'Owner', userId: a.members.owner.userId, servicePrincipalId: null },
      resourceType: 'workflow',
      outcome: 'SUCCESS',
      clientIp: '10.0.0.1',
      userAgent: 'bench/1.0',
      details: { n: 1 },
    });
    expect(Object.keys(own[0]!).sort()).toEqual(
      [
        'action',
        'actor',
        'clientIp',
        'cursor',
        'customerId',
        'details',
        'id',
        'occurredAt',
        'outcome',
        'requestId',
        'resourceId',
        'resourceType',
        'seq',
        'userAgent',
      ].sort(),
    );
    const times = rows.map((r) => r.occurredAt as string);
    expect([...times].sort()).toEqual(times);
    // Everything the organization's trail holds (but this export's own record, written after it).
    const ids = new Set(rows.map((r) => r.id));
    const { rows: db } = await asApp(t.world.pool, { orgId: a.id, role: 'staff', permissions: ['audit_log.read'] }, (c) =>
      c.query<{ id: string }>(`select id from audit_events where action <> 'audit_log.export'`),
    );
    for (const { id } of db) expect(ids.has(id)).toBe(true);
  });

  it('newest first, and a time range (from inclusive, to exclusive)', async () => {
    const all = lines((await get({ order: 'desc' }, await bearer(a, 'owner'))).text);
    const times = all.map((r) => r.occurredAt as string);
    expect([...times].sort().reverse()).toEqual(times);
    const from = all[200]!.occurredAt as string;
    const to = all[100]!.occurredAt as string;
    const slice = lines((await get({ from, to, order: 'asc' }, await bearer(a, 'owner'))).text);
    expect(slice.length).toBeGreaterThan(0);
    for (const r of slice) {
      expect(r.occurredAt >= from && r.occurredAt < to).toBe(true);
    }
  });

  it('an API key holding audit_log.read exports its own organization only', async () => {
    const ownerToken = await t.world.token(a.members.owner);
    const adminRole = await t.world.systemRoleId(a, 'admin');
    const key = await createKey(t.client, ownerToken, a.id, { roleId: adminRole });
    const { response, text } = await get({}, { authorization: `Bearer ${key.secret}` });
    expect(response.status).toBe(200);
    expect(lines(text).some((r) => r.action === 'role.delete')).toBe(false);
    // Naming the other organization answers like a non-member's request.
    const other = await get({}, { authorization: `Bearer ${key.secret}`, 'x-organization-id': b.id });
    expect(other.response.status).toBe(403);
    expect(JSON.parse(other.text).errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('resumes after any line: after=<cursor> gives exactly the lines that followed it, in either order', async () => {
    const headers = await bearer(a, 'admin');
    for (const order of ['asc', 'desc'] as const) {
      const all = lines((await get({ order }, headers)).text).filter((r) => r.action === 'workflow.create');
      expect(all.length).toBeGreaterThanOrEqual(300);
      expect(new Set(all.map((r) => r.cursor)).size).toBe(all.length);
      for (const k of [0, 137, all.length - 1]) {
        const rest = lines((await get({ order, after: all[k]!.cursor }, headers)).text).filter(
          (r) => r.action === 'workflow.create',
        );
        expect(rest.map((r) => r.id)).toEqual(all.slice(k + 1).map((r) => r.id));
      }
    }
    // Within a range too, and a date alone means midnight UTC (not the session's time zone).
    const day = (await get({ from: '2026-01-01', to: '9999-12-31' }, headers)).response;
    expect(day.status).toBe(200);
  });

  it('is audited: a finished export records its range and count', async () => {
    const { text } = await get({ order: 'desc' }, await bearer(a, 'admin'));
    const n = lines(text).length;
    const trail = await t.world.audit(a);
    const recorded = trail.filter((e) => e.action === 'audit_log.export' && e.outcome === 'success').at(-1);
    expect(recorded).toMatchObject({
      actor_user_id: a.members.admin.userId,
      details: { order: 'desc', events: n, complete: true },
    });
  });
});

describe('refusals: stable codes, JSON bodies', () => {
  it('no token: 401 UNAUTHENTICATED; a bad token: 401', async () => {
    const none = await get({}, {});
    expect(none.response.status).toBe(401);
    expect(JSON.parse(none.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const bad = await get({}, { authorization: 'Bearer not.a.token', 'x-organization-id': a.id });
    expect(bad.response.status).toBe(401);
    expect(JSON.parse(bad.text).errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('without audit_log.read: 403 FORBIDDEN, audited as denied', async () => {
    const { response, text } = await get({}, await bearer(a, 'viewer'));
    expect(response.status).toBe(403);
    expect(JSON.parse(text).errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', permission: 'audit_log.read' });
    const trail = await t.world.audit(a);
    expect(
      trail.some((e) => e.action === 'audit_log.export' && e.outcome === 'denied' && e.actor_user_id === a.members.viewer.userId),
    ).toBe(true);
  });

  it('another organization (not a member): 403, whatever exists there', async () => {
    const headers = await bearer(a, 'owner');
    const { response, text } = await get({}, { ...headers, 'x-organization-id': b.id });
    expect(response.status).toBe(403);
    expect(text).not.toContain('role.delete');
  });

  it.each([
    [{ from: 'yesterday' }, 'from'],
    [{ to: '2026-13-45T00:00:00Z' }, 'to'],
    [{ order: 'sideways' }, 'order'],
    [{ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'from'],
    [{ limit: '5' }, 'limit'],
    // The reviewer's values (S7): Date.parse takes them, PostgreSQL does not (or reads them otherwise).
    [{ from: '0000-01-01T00:00:00Z' }, 'from'],
    [{ from: '2026-02-31T00:00:00Z' }, 'from'],
    [{ from: '2026-02-30' }, 'from'],
    [{ to: '2026-01-01T24:00:00Z' }, 'to'],
    [{ from: '2026-01-01T00:00:00+99:00' }, 'from'],
    [{ from: '-infinity' }, 'from'],
    [{ to: '1969-12-31T23:59:59Z' }, 'to'],
    [{ from: '10000-01-01T00:00:00Z' }, 'from'],
    ['order=asc&order=bogus', 'order'],
    [{ after: 'not a cursor' }, 'after'],
    [{ after: Buffer.from('2026-01-01T00:00:00.000000Z|not-a-uuid').toString('base64url') }, 'after'],
    [{ after: Buffer.from('2026-02-31T00:00:00.000000Z|00000000-0000-0000-0000-000000000000').toString('base64url') }, 'after'],
  ])('bad parameters %j: 400 BAD_USER_INPUT naming %s', async (query, field) => {
    const { response, text } = await get(query as Record<string, string> | string, await bearer(a, 'admin'));
    expect(response.status).toBe(400);
    expect(JSON.parse(text).errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('POST: 405', async () => {
    const response = await fetch(exportUrl(), { method: 'POST', headers: await bearer(a, 'admin') });
    expect(response.status).toBe(405);
    expect((await response.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('rate-limited like other calls: 429 with Retry-After once over the caller’s budget', async () => {
    const limited = await startTestGateway({ RATE_LIMIT_USER_MAX: '2' }, { db: t.db, issuer: t.issuer });
    try {
      const headers = await bearer(a, 'admin');
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await fetch(
          `${limited.gateway.url}/audit/export?order=desc&from=${encodeURIComponent(new Date().toISOString())}`,
          {
            headers,
          },
        );
        await response.text();
        statuses.push(response.status);
        if (response.status === 429) {
          expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
        }
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.stop();
    }
  });
});

/** Reads the status and the first chunk, then stops reading (the socket fills, the server waits). */
function openPaused(
  base: string,
  headers: Record<string, string>,
): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/audit/export`, { headers }, (res) => {
      res.once('data', (first: Buffer) => {
        res.pause();
        resolve({ req, res, first });
      });
    });
    req.on('error', reject);
  });
}

async function until<T>(attempt: () => Promise<T | undefined>, what: string, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await attempt();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('paused exports cannot take the gateway down (review S5)', () => {
  let x: SeededOrg;
  let y: SeededOrg;
  beforeAll(async () => {
    // Large enough that a paused reader's socket buffers cannot hold the whole export.
    x = await t.world.organization('Export paused X', { customers: 1 });
    y = await t.world.organization('Export paused Y', { customers: 1 });
    await events(x, 30_000, 'workflow.create', 15_000);
    await events(y, 30_000, 'workflow.create', 15_000);
  }, 180_000);

  it('beyond the caps: 429 for the same organization, 503 when full, Retry-After; GraphQL of another tenant still answers', async () => {
    // A request pool of 2: before the fix two paused exports held both of its clients.
    const small = await startTestGateway(
      { DATABASE_POOL_MAX: '2', AUDIT_EXPORT_POOL_MAX: '2', AUDIT_EXPORT_PER_ORGANIZATION: '1' },
      { db: t.db, issuer: t.issuer },
    );
    const open: http.ClientRequest[] = [];
    try {
      const px = await openPaused(small.gateway.url, await bearer(x, 'admin'));
      open.push(px.req);
      expect(px.res.statusCode).toBe(200);
      const again = await fetch(exportUrl({}, small.gateway.url), { headers: await bearer(x, 'owner') });
      expect(again.status).toBe(429);
      expect(again.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await again.json()).errors[0].extensions).toMatchObject({
        code: 'RATE_LIMITED',
        reason: 'EXPORTS_PER_ORGANIZATION',
      });
      const py = await openPaused(small.gateway.url, await bearer(y, 'admin'));
      open.push(py.req);
      expect(py.res.statusCode).toBe(200);
      const third = await fetch(exportUrl({}, small.gateway.url), { headers: await bearer(a, 'admin') });
      expect(third.status).toBe(503);
      expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
      expect((await third.json()).errors[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'EXPORTS_TOTAL' });
      // Another tenant's GraphQL, several calls in a row, all answer.
      for (let i = 0; i < 3; i++) {
        const r = await small.client.request<any>(
          `query { agents(first: 1) { totalCount } }`,
          {},
          { token: await t.world.token(b.members.viewer), orgId: b.id },
        );
        expect(r.body.errors).toBeUndefined();
        expect(typeof r.body.data.agents.totalCount).toBe('number');
      }
      // A client that goes away gives its slot back: X may export again.
      px.req.destroy();
      open.shift();
      // Until the server has seen the client go, X's tries are refused (and counted) too.
      let refusedWhileReleasing = 0;
      const status = await until(async () => {
        const r = await fetch(exportUrl({ from: '9999-01-01T00:00:00Z' }, small.gateway.url), {
          headers: await bearer(x, 'admin'),
        });
        await r.text();
        if (r.status === 429) refusedWhileReleasing++;
        return r.status === 200 ? r.status : undefined;
      }, 'the cancelled export to give its slot back');
      expect(status).toBe(200);
      // What an operator sees: refusals by cap, rows and bytes sent, how exports ended.
      const metrics = await (await fetch(`${small.gateway.url}/metrics`)).text();
      const value = (line: RegExp) => Number(line.exec(metrics)?.[1] ?? NaN);
      expect(value(/^gateway_audit_export_refused_total\{reason="organization"\} (\d+)/m)).toBe(1 + refusedWhileReleasing);
      expect(value(/^gateway_audit_export_refused_total\{reason="total"\} (\d+)/m)).toBe(1);
      expect(value(/^gateway_audit_export_rows_total (\d+)/m)).toBeGreaterThan(0);
      expect(value(/^gateway_audit_export_bytes_total (\d+)/m)).toBeGreaterThan(0);
      expect(value(/^gateway_audit_exports_total\{how="cancelled"\} (\d+)/m)).toBe(1);
    } finally {
      for (const req of open) req.destroy();
      await small.stop();
    }
  }, 120_000);

  it('a reader that stops pulling is ended after the pull timeout; its last line says where to resume, and resuming gives the rest', async () => {
    const quick = await startTestGateway(
      { AUDIT_EXPORT_PULL_TIMEOUT: '300ms', AUDIT_EXPORT_PER_ORGANIZATION: '1' },
      { db: t.db, issuer: t.issuer },
    );
    try {
      const headers = await bearer(x, 'admin');
      const paused = await openPaused(quick.gateway.url, headers);
      expect(paused.res.statusCode).toBe(200);
      // Its slot comes back without the client doing anything (bounded wait, no timing assertion).
      await until(async () => {
        const r = await fetch(exportUrl({ from: '9999-01-01T00:00:00Z' }, quick.gateway.url), { headers });
        await r.text();
        return r.status === 200 ? true : undefined;
      }, 'the pull timeout to end the paused export');
      // Reading again: the lines sent before the end, then one error line with the cursor to resume from.
      paused.res.resume();
      const chunks: Buffer[] = [paused.first];
      for await (const chunk of paused.res) chunks.push(chunk as Buffer);
      const got = lines(Buffer.concat(chunks).toString('utf8'));
      const stop = got.pop()!;
      expect(stop.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', resumeAfter: got.at(-1)!.cursor, events: got.length });
      expect(got.length).toBeLessThan(30_000);
      const rest = lines((await get({ after: stop.error.resumeAfter }, headers)).text);
      const ids = [...got, ...rest].filter((r) => r.action === 'workflow.create').map((r) => r.id);
      expect(ids.length).toBe(30_000);
      expect(new Set(ids).size).toBe(30_000);
      // Audited as an interrupted export.
      const trail = await t.world.audit(x);
      expect(
        trail.some(
          (e) => e.action === 'audit_log.export' && e.details?.ended === 'pull_timeout' && e.details?.complete === false,
        ),
      ).toBe(true);
    } finally {
      await quick.stop();
    }
  }, 120_000);
});

describe('a failure mid-stream', () => {
  it('ends the body with one error line naming the cursor to resume after; resuming gives the rest', async () => {
    const x = await t.world.organization('Export fault', { customers: 1 });
    await events(x, 30_000, 'workflow.create', 15_000);
    const headers = await bearer(x, 'admin');
    const paused = await openPaused(t.gateway.url, headers);
    expect(paused.res.statusCode).toBe(200);
    // The export's connection dies (a failover, an operator): its next batch fails.
    const su = new pg.Client({ connectionString: t.db.superuserUrl });
    await su.connect();
    try {
      const killed = await until(async () => {
        const { rows } = await su.query<{ n: number }>(
          `select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = 'gateway-export' and state like 'idle in transaction%' and datname = $1) k`,
          [new URL(t.db.appUrl).pathname.slice(1)],
        );
        return rows[0]!.n > 0 ? rows[0]!.n : undefined;
      }, 'the export backend');
      expect(killed).toBe(1);
    } finally {
      await su.end();
    }
    paused.res.resume();
    const chunks: Buffer[] = [paused.first];
    for await (const chunk of paused.res) chunks.push(chunk as Buffer);
    const got = lines(Buffer.concat(chunks).toString('utf8'));
    const stop = got.pop()!;
    expect(stop.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', resumeAfter: got.at(-1)!.cursor, events: got.length });
    expect(stop.error.message).toContain('after=');
    const rest = lines((await get({ after: stop.error.resumeAfter }, headers)).text);
    const ids = [...got, ...rest].filter((r) => r.action === 'workflow.create').map((r) => r.id);
    expect(ids.length).toBe(30_000);
    expect(new Set(ids).size).toBe(30_000);
  }, 120_000);
});

describe('100,000 events', () => {
  it('stream in bounded memory with a slow reader (the live heap does not grow with the export)', async () => {
    const big = await t.world.organization('Export big', { customers: 1 });
    await events(big, 100_000);
    const headers = await bearer(big, 'owner');
    gc();
    const base = process.memoryUsage();
    let peakHeap = 0;
    let peakRss = 0;
    let bytes = 0;
    let count = 0;
    let chunks = 0;
    const response = await fetch(exportUrl(), { headers });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let tail = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      const text = tail + decoder.decode(value, { stream: true });
      const parts = text.split('\n');
      tail = parts.pop()!;
      count += parts.length;
      if (++chunks % 40 === 0) {
        // A slow reader: the server must wait (drain), not buffer the rest.
        await new Promise((r) => setTimeout(r, 5));
        gc();
        const now = process.memoryUsage();
        peakHeap = Math.max(peakHeap, now.heapUsed - base.heapUsed);
        peakRss = Math.max(peakRss, now.rss - base.rss);
      }
    }
    const mb = (n: number) => (n / 1_048_576).toFixed(1);
    console.log(
      `audit export: ${count} events, ${mb(bytes)} MB streamed; live heap growth peak ${mb(peakHeap)} MB, RSS growth peak ${mb(peakRss)} MB`,
    );
    expect(count).toBeGreaterThanOrEqual(100_000);
    expect(bytes).toBeGreaterThan(40 * 1_048_576);
    // Everything at once would be ≥ the payload (40+ MB as text, several times that as rows).
    expect(peakHeap).toBeLessThan(16 * 1_048_576);
  }, 300_000);
});
