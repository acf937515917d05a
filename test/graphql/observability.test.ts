/**
 * What an operator sees: Prometheus metrics at /metrics, OpenTelemetry spans (exported here to
 * an in-memory exporter, as OTLP would ship them), and one log line per request.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, errorCodes, expectData, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow } from './operations.js';

/** Sample value of one series in the text exposition (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string, token?: string): Promise<string> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

describe('/metrics', () => {
  let t: TestGateway;
  let org: SeededOrg;
  beforeAll(async () => {
    t = await startTestGateway({ RATE_LIMIT_USER_MAX: '3', RATE_LIMIT_WINDOW: '60s' });
    org = await t.world.organization('Metrics Co');
  });
  afterAll(() => t?.stop());

  it('counts requests by operation and outcome, times them, and reports the pool, the cache, JWKS and audit writes', async () => {
    const owner = await t.world.token(org.members.owner);
    const viewer = await t.world.token(org.members.viewer);
    const as = (token: string) => ({ token, orgId: org.id });
    expectData(await t.client.request('query Viewer { viewer { user { id } } }', undefined, as(owner)));
    expectData(await t.client.request('query Viewer { viewer { user { id } } }', undefined, as(owner)));
    const denied = await t.client.request(CreateWorkflow, { input: { name: 'no' } }, as(viewer));
    expect(errorCodes(denied)).toEqual(['FORBIDDEN']);
    expectData(await t.client.request(CreateWorkflow, { input: { name: `wf ${randomUUID()}` } }, as(owner)));
    const bad = await t.client.request('query Viewer { viewer { user { id } } }', undefined, { token: 'not-a-jwt' });
    expect(bad.status).toBe(401);
    // A failure outside any organization has none to be filed in: the log only (unwritten).
    const loner = await t.world.token(await t.world.user('loner'));
    const invalid = await t.client.request('mutation { createOrganization(input: {name: ""}) { id } }', undefined, {
      token: loner,
    });
    expect(errorCodes(invalid)).toEqual(['BAD_USER_INPUT']);
    // Over the viewer's budget of 3 calls per field.
    let limited = 0;
    for (let i = 0; i < 4; i++) {
      const r = await t.client.request('query Burst { viewer { user { id } } }', undefined, as(viewer));
      if (errorCodes(r).includes('RATE_LIMITED')) limited++;
    }
    expect(limited).toBeGreaterThan(0);

    const text = await scrape(`${t.gateway.url}/metrics`);
    const requests = (labels: Record<string, string>) => sample(text, 'gateway_graphql_requests_total', labels);
    expect(requests({ operation_name: 'Viewer', operation_type: 'query', outcome: 'OK' })).toBe(2);
    expect(requests({ operation_name: 'CreateWorkflow', operation_type: 'mutation', outcome: 'FORBIDDEN' })).toBe(1);
    expect(requests({ operation_name: 'CreateWorkflow', operation_type: 'mutation', outcome: 'OK' })).toBe(1);
    expect(requests({ operation_name: 'Viewer', outcome: 'UNAUTHENTICATED' })).toBe(1);
    expect(requests({ operation_name: 'Burst', outcome: 'RATE_LIMITED' })).toBe(limited);
    expect(sample(text, 'gateway_rate_limit_rejections_total', { operation_name: 'Burst' })).toBe(limited);
    expect(sample(text, 'gateway_graphql_request_duration_seconds_count', { operation_type: 'mutation', outcome: 'OK' })).toBe(1);
    expect(
      sample(text, 'gateway_graphql_request_duration_seconds_bucket', { operation_type: 'query', outcome: 'OK', le: '+Inf' }),
    ).toBeGreaterThanOrEqual(2);
    // The two phases that cost something, timed per request: every signed-in query here built its
    // context (Viewer ×2, Burst ×4) and all but the rate-limited ones executed; the
    // unauthenticated one stopped before either.
    const phase = (name: string, type: string) =>
      sample(text, 'gateway_graphql_phase_duration_seconds_count', { phase: name, operation_type: type });
    expect(phase('context', 'query')).toBe(2 + 4);
    expect(phase('execute', 'query')).toBe(2 + 4 - limited);
    expect(phase('execute', 'mutation')).toBeGreaterThanOrEqual(2);
    expect(text).not.toMatch(/^graphql_envelop_|^graphql_yoga_/m);

    for (const state of ['in_use', 'idle', 'waiting']) {
      expect(sample(text, 'gateway_db_pool_clients', { state }), state).toBeGreaterThanOrEqual(0);
    }
    expect(sample(text, 'gateway_db_pool_clients', { state: 'idle' })).toBeGreaterThan(0);
    expect(sample(text, 'gateway_principal_cache_total', { result: 'hit' })).toBeGreaterThan(0);
    expect(sample(text, 'gateway_principal_cache_total', { result: 'miss' })).toBeGreaterThan(0);
    expect(sample(text, 'gateway_jwks_fetches_total', { result: 'ok' })).toBe(1);
    expect(sample(text, 'gateway_rate_limit_store', { mode: 'memory' })).toBe(1); // no REDIS_URL here
    expect(sample(text, 'gateway_audit_events_total', { outcome: 'success', result: 'written' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gateway_audit_events_total', { outcome: 'denied', result: 'written' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'gateway_audit_events_total', { outcome: 'failure', result: 'unwritten' })).toBe(1);
  });

  it('counts failed JWKS fetches', async () => {
    const broken = await startTestGateway({ OIDC_JWKS_URI: 'http://127.0.0.1:9/certs' }, { issuer: t.issuer });
    try {
      const token = await broken.world.token(await broken.world.user());
      expect((await broken.client.request('{ viewer { user { id } } }', undefined, { token })).status).toBe(503);
      const text = await scrape(`${broken.gateway.url}/metrics`);
      expect(sample(text, 'gateway_jwks_fetches_total', { result: 'failed' })).toBe(1);
      expect(sample(text, 'gateway_graphql_requests_total', { outcome: 'SERVICE_UNAVAILABLE' })).toBe(1);
    } finally {
      await broken.stop();
    }
  });
});

describe('/metrics in production', () => {
  it('is not on the API port without METRICS_TOKEN; METRICS_PORT serves it apart', async () => {
    const t = await startTestGateway({ NODE_ENV: 'production', METRICS_PORT: '0' });
    try {
      expect((await fetch(`${t.gateway.url}/metrics`)).status).toBe(404);
      expect(t.gateway.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(t.gateway.metricsUrl).not.toContain(t.gateway.url);
      expect(await scrape(t.gateway.metricsUrl!)).toContain('gateway_db_pool_clients');
    } finally {
      await t.stop();
    }
  });

  it('with METRICS_TOKEN: on the API port, only for the bearer of the secret', async () => {
    const secret = randomUUID();
    const t = await startTestGateway({ NODE_ENV: 'production', METRICS_TOKEN: secret });
    try {
      expect((await fetch(`${t.gateway.url}/metrics`)).status).toBe(401);
      expect(
        (await fetch(`${t.gateway.url}/metrics`, { headers: { authorization: 'Bearer wrong-secret-of-some-length' } })).status,
      ).toBe(401);
      expect(await scrape(`${t.gateway.url}/metrics`, secret)).toContain('gateway_graphql_requests_total');
    } finally {
      await t.stop();
    }
  });
});

describe('traces (OpenTelemetry, in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({}, { spanExporter: exporter });
  });
  afterAll(() => t?.stop());

  async function spansOf(requestId: string): Promise<ReadableSpan[]> {
    // The request span ends when the response is closed: wait for it (bounded).
    for (let i = 0; i < 100; i++) {
      const root = exporter
        .getFinishedSpans()
        .find((s) => s.attributes['gateway.request_id'] === requestId && s.name.startsWith('HTTP'));
      if (root) return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no request span for ${requestId}`);
  }

  it('a span per request, per operation, per resolver that touched the database and per SQL statement, with the request id', async () => {
    const org = await t.world.organization('Traced Co');
    const token = await t.world.token(org.members.owner);
    const requestId = `trace-${randomUUID()}`;
    const secretName = `secret-name-${randomUUID()}`;
    expectData(
      await t.client.request(
        CreateWorkflow,
        { input: { name: secretName } },
        { token, orgId: org.id, headers: { 'x-request-id': requestId } },
      ),
    );
    const spans = await spansOf(requestId);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');
    const named = (name: string) => spans.filter((s) => s.name === name);

    const [request] = named('HTTP POST /graphql');
    expect(request).toBeDefined();
    expect(request!.attributes['http.response.status_code']).toBe(200);
    const [operation] = named('mutation.CreateWorkflow');
    expect(parentOf(operation!)).toBe(request);
    expect(operation!.attributes['gateway.request_id']).toBe(requestId);

    const [resolver] = named('Mutation.createWorkflow');
    expect(parentOf(resolver!)).toBe(operation);
    const resolverSql = spans.filter((s) => parentOf(s) === resolver && s.name.startsWith('sql '));
    // The definition and its version 1 go in one round trip (migration 023's create_definition).
    expect(resolverSql).toHaveLength(1);
    expect(String(resolverSql[0]!.attributes['db.query.text'])).toContain('app_private.create_definition(');
    for (const s of resolverSql) expect(s.attributes['gateway.request_id']).toBe(requestId);

    // Opening the transaction (while building the context) and committing are statements of the request too.
    const statements = spans.filter((s) => s.name.startsWith('sql '));
    expect(statements.some((s) => String(s.attributes['db.query.text']).startsWith('begin'))).toBe(true);
    // COMMIT may carry the request's deferred audit writes in the same round trip (`…; commit`).
    expect(statements.some((s) => /(^|; )commit$/.test(String(s.attributes['db.query.text'])))).toBe(true);
    // Fields that never touch the database get no span of their own.
    expect(named('Workflow.name')).toEqual([]);
    // Variables never reach a span.
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain(secretName);
  });
});

describe('traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('ships the spans to the collector, request id included, at the latest when the gateway stops', async () => {
    const received: { path: string; contentType: string; body: string }[] = [];
    const collector = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const endpoint = `http://127.0.0.1:${(collector.address() as net.AddressInfo).port}`;
    const t = await startTestGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'gateway-under-test' });
    const requestId = `otlp-${randomUUID()}`;
    try {
      const org = await t.world.organization('Exported Co');
      const token = await t.world.token(org.members.owner);
      expectData(
        await t.client.request('query Viewer { viewer { user { id } } }', undefined, {
          token,
          orgId: org.id,
          headers: { 'x-request-id': requestId },
        }),
      );
    } finally {
      await t.stop(); // flushes the batch of spans
      collector.close();
    }
    const exported = received.filter((r) => r.path === '/v1/traces');
    expect(exported.length).toBeGreaterThan(0);
    const all = exported.map((r) => r.body).join('\n');
    expect(all).toContain('gateway-under-test');
    expect(all).toContain(requestId);
    expect(all).toContain('query.Viewer');
  });
});

describe('the request log line', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(() => t?.stop());

  it('says who did what, where, how it ended and how long it took; nothing more', async () => {
    const org = await t.world.organization('Logged Co');
    const token = await t.world.token(org.members.developer);
    const requestId = `log-${randomUUID()}`;
    expectData(
      await t.client.request(
        CreateWorkflow,
        { input: { name: 'logged' } },
        { token, orgId: org.id, headers: { 'x-request-id': requestId } },
      ),
    );
    const lines = t.logs.flatMap((chunk) => chunk.trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = lines.filter((l) => l.requestId === requestId && l.msg === 'request');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      method: 'POST',
      path: '/graphql',
      status: 200,
      operationName: 'CreateWorkflow',
      operationType: 'mutation',
      userId: org.members.developer.userId,
      orgId: org.id,
      outcome: 'OK',
      durationMs: expect.any(Number),
    });
    expect(JSON.stringify(mine[0])).not.toContain('logged'); // no variables
  });
});
