/** The HTTP surface: GraphiQL with no network, health and readiness, request ids, body limits. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ MAX_REQUEST_BYTES: '4096' });
});
afterAll(() => t?.stop());

describe('GraphiQL', () => {
  it('is served at /graphql with every asset from the gateway itself (works offline)', async () => {
    const page = await fetch(`${t.gateway.graphqlUrl}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/unpkg|jsdelivr|cdn|https?:\/\//);
    const assets = [...html.matchAll(/\/graphiql-assets\/[A-Za-z0-9_./-]+/g)].map((m) => m[0]);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of new Set(assets)) {
      const response = await fetch(`${t.gateway.url}${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(1000);
    }
    expect((await fetch(`${t.gateway.url}/graphiql-assets/../../package.json`)).status).toBe(404);
  });
});

describe('operations endpoints', () => {
  it('/health answers without the database; /ready checks it', async () => {
    expect((await fetch(`${t.gateway.url}/health`)).status).toBe(200);
    expect((await fetch(`${t.gateway.url}/ready`)).status).toBe(200);
  });

  it('every response carries a request id, the caller’s own when well-formed', async () => {
    const mine = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-0123456789' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(mine.headers.get('x-request-id')).toBe('trace-0123456789');
    const hostile = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'not; acceptable '.repeat(20) },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.logs.some((line) => line.includes('trace-0123456789'))).toBe(true);
  });

  it('refuses oversized bodies before reading them', async () => {
    const response = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(5000)}` }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
      'BAD_USER_INPUT',
    );
  });
});
