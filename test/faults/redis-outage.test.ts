/**
 * A Redis outage degrades rate limiting, not the API (issue 7, point 5), with a real
 * `redis-server` this file starts on an ephemeral port (skipped, saying so, only where there is
 * no redis-server binary). Two replicas share counters through it; while it is down each
 * replica counts on its own (every request still answers, over-limit ones with 429), says so in
 * `/ready` and logs the change once; when it is back shared counting resumes by itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ViewerQuery } from '../graphql/operations.js';

const redisBinary = spawnSync('redis-server', ['--version']).status === 0;
if (!redisBinary) console.warn('redis-outage.test.ts skipped: no redis-server binary on PATH');

const LIMIT = 4;

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  const deadline = Date.now() + 10_000;
  while (!/Ready to accept connections/i.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

async function stopRedis(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL'); // an outage, not a polite shutdown
  await exited;
}

describe.skipIf(!redisBinary)('rate limiting through a Redis that goes away and comes back', () => {
  let db: TestDatabase;
  let issuer: DevIssuer;
  let redisPort: number;
  let redis: ChildProcess;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    db = await createTestDatabase();
    issuer = await startDevIssuer({ port: 0 });
    redisPort = await freePort();
    redis = await startRedis(redisPort);
    const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, RATE_LIMIT_USER_MAX: String(LIMIT), RATE_LIMIT_WINDOW: '60s' };
    a = await startTestGateway(env, { db, issuer });
    b = await startTestGateway(env, { db, issuer });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    if (redis) await stopRedis(redis);
    await issuer?.stop();
    await db?.drop();
  });

  const readiness = async (t: TestGateway) => (await (await fetch(`${t.gateway.url}/ready`)).json()) as Record<string, unknown>;

  async function untilMode(mode: string) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const modes = [a.gateway.rateLimitStoreMode(), b.gateway.rateLimitStoreMode()];
      if (modes.every((m) => m === mode)) return;
      if (Date.now() > deadline) throw new Error(`rate-limit store modes ${modes.join(', ')}; wanted ${mode}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends `calls` viewer requests for a fresh user, alternating replicas as given. */
  async function statuses(replicas: TestGateway[], calls: number, label: string): Promise<number[]> {
    const token = await a.world.token(await a.world.user(`${label}-${Date.now()}`));
    const seen: number[] = [];
    for (let i = 0; i < calls; i++)
      seen.push((await replicas[i % replicas.length]!.client.request(ViewerQuery, {}, { token })).status);
    return seen;
  }

  const lines = (t: TestGateway, text: string) => t.logs.filter((l) => l.includes(text)).length;

  it('counts across replicas, locally during the outage, and across replicas again when Redis is back', async () => {
    await untilMode('shared');
    expect(await readiness(a)).toMatchObject({ status: 'ready', rateLimitStore: 'shared' });
    // Shared: one budget across both replicas.
    expect(await statuses([a, b], LIMIT + 1, 'shared')).toEqual([200, 200, 200, 200, 429]);

    await stopRedis(redis);
    await untilMode('local-fallback');
    expect(await readiness(a)).toMatchObject({ status: 'ready', database: 'up', rateLimitStore: 'local-fallback' });
    // Every request still answers; each replica limits on its own budget.
    expect(await statuses([a], LIMIT + 1, 'outage-a')).toEqual([200, 200, 200, 200, 429]);
    const spread = await statuses([a, b], 2 * LIMIT + 1, 'outage-ab');
    expect(spread.slice(0, 2 * LIMIT)).toEqual(Array(2 * LIMIT).fill(200));
    expect(spread[2 * LIMIT]).toBe(429);
    // Said once per replica, however many requests ran meanwhile.
    for (const t of [a, b]) expect(lines(t, 'rate-limit store unreachable')).toBe(1);
    // A replica that starts during the outage starts, serves, and counts locally.
    const late = await startTestGateway(
      { REDIS_URL: `redis://127.0.0.1:${redisPort}`, RATE_LIMIT_USER_MAX: String(LIMIT), RATE_LIMIT_WINDOW: '60s' },
      { db, issuer },
    );
    expect(await statuses([late], 2, 'late')).toEqual([200, 200]);
    expect(late.gateway.rateLimitStoreMode()).toBe('local-fallback');
    expect(lines(late, 'rate-limit store unreachable')).toBe(1);

    redis = await startRedis(redisPort);
    await untilMode('shared');
    // Even the replica that never saw Redis finds it by itself.
    const deadline = Date.now() + 20_000;
    while (late.gateway.rateLimitStoreMode() !== 'shared' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(late.gateway.rateLimitStoreMode()).toBe('shared');
    await late.stop();
    expect(await readiness(b)).toMatchObject({ rateLimitStore: 'shared' });
    expect(await statuses([a, b], LIMIT + 1, 'back')).toEqual([200, 200, 200, 200, 429]);
    for (const t of [a, b]) {
      expect(lines(t, 'rate-limit store reachable again')).toBe(1);
      expect(lines(t, 'INTERNAL_SERVER_ERROR')).toBe(0);
    }
  });

  it('a Redis that hangs (connected, not answering) degrades the same way and is found again', async () => {
    await untilMode('shared');
    redis.kill('SIGSTOP');
    try {
      // Commands time out (500 ms); the requests still answer, counted locally.
      expect(await statuses([a], 3, 'hung')).toEqual([200, 200, 200]);
      expect(a.gateway.rateLimitStoreMode()).toBe('local-fallback');
    } finally {
      redis.kill('SIGCONT');
    }
    // No reconnect happens (the connection never dropped): the store probes again by itself.
    const deadline = Date.now() + 20_000;
    while (a.gateway.rateLimitStoreMode() !== 'shared' && Date.now() < deadline) {
      await statuses([a], 1, 'probe');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(a.gateway.rateLimitStoreMode()).toBe('shared');
  });
});
