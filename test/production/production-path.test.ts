/**
 * The README's production steps, literally and in order, on a fresh database of the tests'
 * PostgreSQL server: db:bootstrap, build, migrate (owner URL only), `node dist/main.js` with
 * NODE_ENV=production against an OpenID issuer, a token, a query, /metrics behind its secret,
 * a clean SIGTERM. The build goes to a directory of its own inside the project (so `dist/` of a
 * developer is left alone and the compiled files find migrations/ and node_modules/ as they
 * would from dist/).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { APP_ROLE, OWNER_ROLE, dropDatabase, withDatabase } from '../../src/db/bootstrap.js';
import { GatewayClient, expectData } from '../helpers/gateway.js';
import { startTestRedis } from '../helpers/redis.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const pgInfo = inject('postgres');
const suffix = randomBytes(4).toString('hex');
const database = `gateway_prod_${pgInfo.runId}_${suffix}`;
const buildDir = path.join(ROOT, '.test-build', suffix);
const adminUrl = pgInfo.superuserUrl;
const ownerUrl = withDatabase(adminUrl, database, { user: OWNER_ROLE, password: pgInfo.ownerPassword });
const appUrl = withDatabase(adminUrl, database, { user: APP_ROLE, password: pgInfo.appPassword });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly the environment given (plus PATH/HOME), as an operator would. */
function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 240_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+\(.+:\d+:\d+\)$/m);

let issuer: DevIssuer;
let gateway: ChildProcess | undefined;
let gatewayOutput: string[] = [];

/** `node <build>/main.js` in production mode against the test issuer; resolves with its ready line. */
async function startCompiledGateway(env: Record<string, string>): Promise<Record<string, unknown>> {
  gatewayOutput = [];
  const output = gatewayOutput;
  const child = spawn('node', [path.join(buildDir, 'main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH!,
      NODE_ENV: 'production',
      DATABASE_URL: appUrl,
      OIDC_ISSUER: issuer.issuer,
      OIDC_AUDIENCE: issuer.audience,
      CREDENTIALS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
      PORT: '0',
      DATA_DIR: path.join(buildDir, 'data'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway = child;
  child.stdout!.on('data', (d) => output.push(String(d)));
  child.stderr!.on('data', (d) => output.push(String(d)));
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line:\n${output.join('')}`)), 60_000);
    const check = () => {
      const line = output
        .join('')
        .split('\n')
        .find((l) => l.includes('"gateway ready"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}:\n${output.join('')}`)));
  });
}

/** SIGTERM: exit code 0, every line JSON, `stopped` the last one. Resolves with the lines. */
async function stopCleanly(): Promise<string[]> {
  const child = gateway!;
  // 'close', not 'exit': only then has everything the process wrote to stdout been read (under
  // load, 'exit' can come before the last log line's data event).
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.kill('SIGTERM');
  expect(await exited, gatewayOutput.join('')).toBe(0);
  const lines = gatewayOutput.join('').trim().split('\n');
  for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  expect(lines.at(-1)).toContain('"stopped"');
  return lines;
}

beforeAll(async () => {
  issuer = await startDevIssuer({ port: 0 });
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
  await issuer?.stop();
  await dropDatabase(adminUrl, database);
  fs.rmSync(buildDir, { recursive: true, force: true });
});

describe('the README production steps, in order, on a fresh database', () => {
  it('the README shows the commands this test runs', () => {
    for (const step of [
      'npm run db:bootstrap',
      'GATEWAY_DATABASE=',
      'npm run build',
      'DATABASE_OWNER_URL=postgres://gateway_owner:',
      'npm run migrate',
      'NODE_ENV=production DATABASE_URL=postgres://gateway_app:',
      'node dist/main.js',
    ]) {
      expect(README).toContain(step);
    }
  });

  it('1. db:bootstrap creates the database; run again it changes nothing, and keeps existing passwords', async () => {
    const env = {
      DATABASE_ADMIN_URL: adminUrl,
      GATEWAY_DATABASE: database,
      GATEWAY_OWNER_PASSWORD: pgInfo.ownerPassword,
      GATEWAY_APP_PASSWORD: pgInfo.appPassword,
    };
    const first = await run('npm', ['run', '-s', 'db:bootstrap'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`database ${database}: created`);
    // The hint names the owner for migrate and the app role for the gateway, on this database.
    expect(first.stdout).toMatch(new RegExp(`DATABASE_OWNER_URL=postgres://gateway_owner:…@[^ ]+/${database} npm run migrate`));
    expect(first.stdout).toMatch(new RegExp(`DATABASE_URL=postgres://gateway_app:…@[^ ]+/${database} `));

    // Different passwords: the roles exist, so nothing changes (the first database's gateway keeps working).
    const again = await run('npm', ['run', '-s', 'db:bootstrap'], {
      ...env,
      GATEWAY_OWNER_PASSWORD: 'another-password',
      GATEWAY_APP_PASSWORD: 'another-password',
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`role ${APP_ROLE}: exists, password unchanged`);
    expect(again.stdout).toContain(`database ${database}: exists`);
    const client = new pg.Client({ connectionString: appUrl });
    await client.connect();
    expect((await client.query('select current_user as u')).rows[0].u).toBe(APP_ROLE);
    await client.end();

    const missing = await run('npm', ['run', '-s', 'db:bootstrap'], { GATEWAY_DATABASE: database });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('DATABASE_ADMIN_URL: is required');
    noStackTrace(missing.stderr);
  }, 240_000);

  it('2. npm run build compiles the gateway and its tools', async () => {
    const built = await run('npm', ['run', '-s', 'build', '--', '--outDir', buildDir], {});
    expect(built.stdout + built.stderr).toBe('');
    expect(built.code).toBe(0);
    for (const file of ['main.js', 'cli/migrate.js', 'cli/bootstrap.js', 'cli/audit-purge.js', 'cli/audit-verify.js']) {
      expect(fs.existsSync(path.join(buildDir, file)), file).toBe(true);
    }
  }, 300_000);

  it('3. migrate needs only DATABASE_OWNER_URL; a bad value is a message, not a stack trace', async () => {
    const migrated = await run('npm', ['run', '-s', 'migrate'], { DATABASE_OWNER_URL: ownerUrl, LOG_LEVEL: 'info' });
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain('migrations applied');

    const compiled = await run('node', [path.join(buildDir, 'cli/migrate.js')], { DATABASE_OWNER_URL: ownerUrl });
    expect(compiled.code).toBe(0);
    expect(compiled.stdout).toContain('nothing to apply');

    const bad = await run('npm', ['run', '-s', 'migrate'], { DATABASE_OWNER_URL: 'not a url' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DATABASE_OWNER_URL');
    noStackTrace(bad.stderr);
  }, 240_000);

  it('4. node dist/main.js refuses a half configuration with a message', async () => {
    const half = await run('node', [path.join(buildDir, 'main.js')], {
      DATABASE_OWNER_URL: ownerUrl,
      DATA_DIR: path.join(buildDir, 'data'),
    });
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('DATABASE_URL: is required when DATABASE_OWNER_URL is set');
    noStackTrace(half.stderr + half.stdout);
  }, 120_000);

  it('5. node dist/main.js serves a token from the issuer; /metrics wants its secret; SIGTERM ends it cleanly', async () => {
    const metricsToken = randomBytes(24).toString('hex');
    const firstOwner = 'olga@example.com';
    const ready = await startCompiledGateway({
      ORG_CREATION: `domains:${firstOwner}`,
      METRICS_TOKEN: metricsToken,
      GRAPHIQL: 'true', // to check its assets are found from the compiled build
    });
    // The start log tells only what is true here: no demo members, no GraphiQL in production.
    expect(ready.demoMembers).toBeUndefined();
    expect(ready.issuerKind).toBe('OIDC_ISSUER');
    expect(ready.database).toBe(`${new URL(appUrl).hostname}:${new URL(appUrl).port}/${database}`);
    const url = String(ready.url);
    const client = new GatewayClient(url);

    const token = await issuer.mint({ sub: `prod-${suffix}`, email: firstOwner, emailVerified: true, name: 'Olga Owner' });
    const created = expectData(
      await client.request<{ createOrganization: { id: string; name: string } }>(
        'mutation { createOrganization(input: {name: "Production Co"}) { id name } }',
        undefined,
        { token },
      ),
    );
    const viewer = expectData(
      await client.request<{ viewer: { organization: { name: string }; role: { name: string } } }>(
        '{ viewer { organization { name } role { name } } }',
        undefined,
        { token, orgId: created.createOrganization.id },
      ),
    );
    expect(viewer.viewer).toEqual({ organization: { name: 'Production Co' }, role: { name: 'Owner' } });

    // The bundle holds one graphql-js: a syntax error is the same GraphQLError, with its location.
    const syntax = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ viewer { user { name }' }),
    });
    expect((await syntax.json()).errors).toEqual([
      {
        message: 'Syntax Error: Expected Name, found <EOF>.',
        locations: [{ line: 1, column: 25 }],
        extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      },
    ]);

    // GraphiQL's assets come from node_modules, found from the compiled file.
    const page = await (await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } })).text();
    const assets = [...new Set([...page.matchAll(/\/graphiql-assets\/[A-Za-z0-9_./-]+/g)].map((m) => m[0]))];
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const response = await fetch(`${url}${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(0); // read it: no half-read sockets at shutdown
    }

    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const scraped = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(
      /gateway_graphql_requests_total\{operation_name="anonymous",operation_type="mutation",outcome="OK"\} 1/,
    );

    const lines = await stopCleanly();
    // One line per request, with who, where, what and how it ended; no object dumps.
    const requestLine = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.operationType === 'query');
    expect(requestLine).toMatchObject({ orgId: created.createOrganization.id, outcome: 'OK', status: 200 });
    expect(requestLine.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(gatewayOutput.join('')).not.toMatch(/_connection|"client":\{|_events/);
  }, 120_000);

  it('6. with REDIS_URL it starts, counts locally while Redis cannot be reached, and still stops cleanly', async () => {
    // A port nothing listens on: the shared store is loaded (its own chunk in the bundle) and falls back.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const ready = await startCompiledGateway({ REDIS_URL: `redis://127.0.0.1:${port}` });
    const url = String(ready.url);
    const readiness = await fetch(`${url}/ready`);
    expect(readiness.status).toBe(200);
    expect(await readiness.json()).toMatchObject({ rateLimitStore: 'local-fallback' });
    const anonymous = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(anonymous.status).toBe(200);

    const lines = await stopCleanly();
    expect(lines.some((l) => l.includes('rate-limit store unreachable'))).toBe(true);
  }, 120_000);

  it('7. with a Redis that answers it counts shared, and SIGTERM ends it cleanly (no log after the last line)', async (ctx) => {
    const redis = await startTestRedis();
    if (!redis) return ctx.skip(); // no redis-server on this machine
    try {
      const ready = await startCompiledGateway({ REDIS_URL: redis.url });
      const readiness = await fetch(`${String(ready.url)}/ready`);
      expect(await readiness.json()).toMatchObject({ rateLimitStore: 'shared' });
      // The connection's own end at shutdown must not be logged as an outage after `stopped`
      // (that wrote to a closed log stream: an uncaught error and exit code 1).
      const lines = await stopCleanly();
      expect(lines.some((l) => l.includes('rate-limit store unreachable'))).toBe(false);
    } finally {
      await redis.stop();
    }
  }, 120_000);
});
