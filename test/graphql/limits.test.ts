/** Rate limits and operation limits: refused before any work, with stable codes. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_LIMITS } from '../../src/yoga.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { ViewerQuery, WorkflowsQuery } from './operations.js';

describe('rate limits (per user and per organization)', () => {
  let t: TestGateway;
  let org: SeededOrg;
  beforeAll(async () => {
    t = await startTestGateway({ RATE_LIMIT_USER_MAX: '3', RATE_LIMIT_ORG_MAX: '5', RATE_LIMIT_WINDOW: '30s' });
    org = await t.world.organization('Limited');
  });
  afterAll(() => t?.stop());

  it('answers 429 RATE_LIMITED with a numeric Retry-After once a user is over', async () => {
    const token = await t.world.token(org.members.viewer);
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await t.client.request(ViewerQuery, {}, { token });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(errorCodes(last!)).toEqual(['RATE_LIMITED']);
    expect(last!.headers.get('retry-after')).toBe('30');
    expect(last!.body.data ?? null).toBeNull();
  });

  it('counts each user separately, and the organization as a whole', async () => {
    // The viewer's three accepted calls count against the organization too (5 per window);
    // its refused fourth call stopped at the per-user limit.
    const [admin, developer, operator, owner] = await Promise.all(
      [org.members.admin, org.members.developer, org.members.operator, org.members.owner].map((m) => t.world.token(m)),
    );
    expect((await t.client.request(ViewerQuery, {}, { token: admin })).status).toBe(200);
    expect((await t.client.request(ViewerQuery, {}, { token: developer })).status).toBe(200);
    const over = await t.client.request(ViewerQuery, {}, { token: operator });
    expect(over.status).toBe(429);
    expect(over.body.errors![0]!.message).toMatch(/per organization/);
    // Another field has its own budget.
    expect((await t.client.request(WorkflowsQuery, { first: 1 }, { token: owner })).status).toBe(200);
  });

  it('aliases cannot multiply a budget: each occurrence counts', async () => {
    const token = await t.world.token((await t.world.organization('Aliases')).members.viewer);
    const response = await t.client.request(
      '{ a: viewer { user { id } } b: viewer { user { id } } c: viewer { user { id } } d: viewer { user { id } } }',
      {},
      { token },
    );
    expect(response.status).toBe(429);
  });
});

describe('rate limits: permissions first, denied calls counted against the caller only', () => {
  let t: TestGateway;
  let org: SeededOrg;
  const AUDIT = '{ auditLog(first: 1) { totalCount } }';
  beforeAll(async () => {
    t = await startTestGateway({ RATE_LIMIT_USER_MAX: '3', RATE_LIMIT_ORG_MAX: '4', RATE_LIMIT_WINDOW: '60s' });
    org = await t.world.organization('Probing');
  });
  afterAll(() => t?.stop());

  it('a denied call answers FORBIDDEN and is counted: probing stops at the limit with 429', async () => {
    const viewer = await t.world.token(org.members.viewer); // no audit_log.read
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await t.client.request(AUDIT, {}, { token: viewer });
      answers.push(`${response.status} ${errorCodes(response).join(',')}`);
    }
    expect(answers).toEqual(['200 FORBIDDEN', '200 FORBIDDEN', '200 FORBIDDEN', '429 RATE_LIMITED']);
  });

  it('denied calls did not spend the organization’s budget; permitted ones do', async () => {
    const [admin, owner] = await Promise.all([org.members.admin, org.members.owner].map((m) => t.world.token(m)));
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.client.request(AUDIT, {}, { token: admin })).status);
    statuses.push((await t.client.request(AUDIT, {}, { token: owner })).status);
    const over = await t.client.request(AUDIT, {}, { token: owner });
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(over.status).toBe(429);
    expect(over.body.errors![0]!.message).toMatch(/per organization/);
  });
});

describe('rate limits per client IP: anonymous calls and failed sign-ins', () => {
  let t: TestGateway;
  let org: SeededOrg;
  beforeAll(async () => {
    t = await startTestGateway({ RATE_LIMIT_IP_MAX: '4', RATE_LIMIT_WINDOW: '60s' });
    org = await t.world.organization('Anonymous');
  });
  afterAll(() => t?.stop());

  it('anonymous calls and 401s share the address’s budget; then 429 for both; signed-in callers are not held by it', async () => {
    const anonymous = () => t.client.request(ViewerQuery, {});
    const badToken = () => t.client.request(ViewerQuery, {}, { token: 'not.a.token' });
    const statuses = [
      (await anonymous()).status,
      (await anonymous()).status,
      (await badToken()).status,
      (await badToken()).status,
    ];
    expect(statuses).toEqual([200, 200, 401, 401]);
    const guessing = await badToken();
    expect(guessing.status).toBe(429);
    expect(errorCodes(guessing)).toEqual(['RATE_LIMITED']);
    expect(guessing.body.errors![0]!.message).toMatch(/per client IP/);
    expect(guessing.headers.get('retry-after')).toBe('60');
    expect((await anonymous()).status).toBe(429);
    // An anonymous call to a gated field is counted as well (and refused at the limit).
    expect((await t.client.request(WorkflowsQuery, { first: 1 })).status).toBe(429);
    const token = await t.world.token(org.members.viewer);
    expect((await t.client.request(ViewerQuery, {}, { token })).status).toBe(200);
  });

  it('refused organization headers (403) count too: probing organization ids stops at 429', async () => {
    const probing = await startTestGateway({ RATE_LIMIT_IP_MAX: '3', RATE_LIMIT_WINDOW: '60s' });
    try {
      const member = (await probing.world.organization('Prober')).members.viewer;
      const token = await probing.world.token(member);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await probing.client.request(ViewerQuery, {}, { token, orgId: randomUUID() })).status);
      }
      expect(statuses).toEqual([403, 403, 403, 429]);
    } finally {
      await probing.stop();
    }
  });

  it('X-Forwarded-For is ignored unless TRUST_PROXY says so', async () => {
    // This gateway does not trust proxies: a forged header does not buy a fresh budget.
    const forged = await t.client.request(ViewerQuery, {}, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(forged.status).toBe(429);
  });
});

describe('rate limits per client IP behind a trusted proxy (TRUST_PROXY)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ RATE_LIMIT_IP_MAX: '2', RATE_LIMIT_WINDOW: '60s', TRUST_PROXY: 'true' });
  });
  afterAll(() => t?.stop());

  it('takes the address the proxy saw (the last X-Forwarded-For entry): each client has its own budget', async () => {
    const from = (xff: string) => t.client.request(ViewerQuery, {}, { headers: { 'x-forwarded-for': xff } });
    expect([(await from('198.51.100.1')).status, (await from('198.51.100.1')).status]).toEqual([200, 200]);
    expect((await from('198.51.100.1')).status).toBe(429);
    // What the client wrote before the proxy's entry changes nothing.
    expect((await from('10.0.0.1, 198.51.100.1')).status).toBe(429);
    expect((await from('198.51.100.2')).status).toBe(200);
  });
});

describe('operation limits', () => {
  let t: TestGateway;
  let token: string;
  beforeAll(async () => {
    t = await startTestGateway();
    token = await t.world.token((await t.world.organization('Deep', { workflows: 1 })).members.owner);
  });
  afterAll(() => t?.stop());

  it('a normal Relay list query passes', async () => {
    expectData(await t.client.request(WorkflowsQuery, { first: 50 }, { token }));
  });

  it('rejects an operation nested too deep', async () => {
    // The schema has no cycles deep enough to exceed the limit with valid fields; the depth rule
    // counts selections regardless, so a too-deep document is refused for its depth as well.
    let selection = 'id';
    for (let i = 0; i < OPERATION_LIMITS.maxDepth; i++) selection = `user { ${selection} }`;
    const response = await t.client.request(`{ viewer { ${selection} } }`, {}, { token });
    expect(response.status).toBe(400);
    expect(new Set(errorCodes(response))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    expect(response.body.errors!.map((e) => e.extensions!.limit)).toContain('depth');
  });

  it('rejects too many aliases', async () => {
    const aliases = Array.from({ length: OPERATION_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: permissionCatalogue { key }`).join(
      ' ',
    );
    const response = await t.client.request(`{ ${aliases} }`, {}, { token });
    expect(response.status).toBe(400);
    expect(errorCodes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(response.body.errors![0]!.extensions!.limit).toBe('aliases');
  });

  it('rejects too many tokens before parsing completes', async () => {
    const fields = Array.from({ length: OPERATION_LIMITS.maxTokens }, () => '__typename').join(' ');
    const response = await t.client.request(`{ ${fields} }`, {}, { token });
    expect(errorCodes(response)).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(response.body.errors![0]!.extensions!.limit).toBe('tokens');
  });

  it('rejects batched operations (batching is off)', async () => {
    const response = await fetch(`${t.gateway.graphqlUrl}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
  });
});
