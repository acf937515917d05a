/**
 * NODE_ENV=production turns the development conveniences off: no development issuer, no
 * GraphiQL, no introspection or field suggestions, no CORS unless origins are configured.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const INTROSPECTION = '{ __schema { queryType { name } } }';
const TYPO = '{ workflowz(first: 1) { totalCount } }';

describe('start in production', () => {
  it('refuses to start without OIDC_ISSUER (no development issuer), naming the variable', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-prod-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'production',
          CREDENTIALS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
          DATA_DIR: dataDir,
          PORT: '0',
          DEV_ISSUER_PORT: '0',
          LOG_LEVEL: 'silent',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c) => (output += String(c)));
      child.stderr.on('data', (c) => (output += String(c)));
      // Had it started, it would serve; stop it then (SIGINT shuts down cleanly) and fail below.
      const guard = setTimeout(() => child.kill('SIGINT'), 45_000);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearTimeout(guard);
      expect(code).toBe(2); // a configuration mistake (README: exit code 2, a message, no stack trace)
      expect(output).toMatch(/OIDC_ISSUER: is required in production/);
      expect(fs.existsSync(path.join(dataDir, 'dev-issuer.json'))).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('production defaults: GraphiQL and introspection off unless enabled; development keeps them', () => {
    const base = { OIDC_ISSUER: 'https://sso.example.com/realms/x', OIDC_AUDIENCE: 'gw' };
    const key = randomBytes(32).toString('base64');
    const production = loadConfig({ ...base, NODE_ENV: 'production', CREDENTIALS_ENCRYPTION_KEY: key, AUDIT_SIGNING_KEY: key });
    expect([production.GRAPHIQL, production.INTROSPECTION, production.CORS_ORIGINS]).toEqual([false, false, []]);
    const enabled = loadConfig({
      ...base,
      NODE_ENV: 'production',
      CREDENTIALS_ENCRYPTION_KEY: key,
      AUDIT_SIGNING_KEY: key,
      GRAPHIQL: 'true',
      INTROSPECTION: 'true',
    });
    expect([enabled.GRAPHIQL, enabled.INTROSPECTION]).toEqual([true, true]);
    const development = loadConfig({});
    expect([development.GRAPHIQL, development.INTROSPECTION]).toEqual([true, true]);
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://app.example.com/path' })).toThrow(/CORS_ORIGINS/);
  });
});

async function post(url: string, query: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    response,
    body: (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] },
  };
}

describe('a production gateway with nothing enabled', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ NODE_ENV: 'production' });
  });
  afterAll(() => t?.stop());

  it('serves no GraphiQL page and no GraphiQL assets', async () => {
    const page = await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/GraphiQL|graphiql-assets/i);
    expect((await fetch(`${t.gateway.url}/graphiql-assets/yoga-graphiql.umd.js`)).status).toBe(404);
  });

  it('refuses introspection (400, GRAPHQL_VALIDATION_FAILED) but answers __typename', async () => {
    const introspection = await post(t.gateway.graphqlUrl, INTROSPECTION);
    expect(introspection.response.status).toBe(400);
    expect(new Set(introspection.body.errors!.map((e) => e.extensions?.code))).toEqual(new Set(['GRAPHQL_VALIDATION_FAILED']));
    expect(introspection.body.data).toBeUndefined();
    const typename = await post(t.gateway.graphqlUrl, '{ __typename }');
    expect(typename.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('gives no field suggestions', async () => {
    const { body } = await post(t.gateway.graphqlUrl, TYPO);
    expect(body.errors![0]!.message).toMatch(/workflowz/);
    expect(JSON.stringify(body)).not.toMatch(/Did you mean|workflows/);
  });

  it('answers no cross-origin caller: no CORS headers, not even on a preflight', async () => {
    const { response } = await post(t.gateway.graphqlUrl, '{ __typename }', { origin: 'https://evil.example' });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await fetch(t.gateway.graphqlUrl, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
  });
});

describe('a production gateway with GraphiQL, introspection and one CORS origin enabled', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({
      NODE_ENV: 'production',
      GRAPHIQL: 'true',
      INTROSPECTION: 'true',
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
    });
  });
  afterAll(() => t?.stop());

  it('serves GraphiQL and introspection, with suggestions', async () => {
    const page = await fetch(t.gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(await page.text()).toMatch(/graphiql-assets/);
    const introspection = await post(t.gateway.graphqlUrl, INTROSPECTION);
    expect(introspection.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    expect((await post(t.gateway.graphqlUrl, TYPO)).body.errors![0]!.message).toMatch(/Did you mean/);
  });

  it('names a listed origin back exactly, with credentials; other origins get nothing', async () => {
    for (const origin of ['https://app.example.com', 'https://admin.example.com']) {
      const { response } = await post(t.gateway.graphqlUrl, '{ __typename }', { origin });
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
      expect(response.headers.get('access-control-allow-credentials')).toBe('true');
      const preflight = await fetch(t.gateway.graphqlUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    }
    for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null']) {
      const { response } = await post(t.gateway.graphqlUrl, '{ __typename }', { origin });
      expect(response.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(response.headers.get('access-control-allow-credentials'), origin).toBeNull();
    }
  });
});
