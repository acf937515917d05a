/**
 * Two gateway replicas on one database: rate-limit counters are shared through Redis (a private
 * redis-server, or TEST_REDIS_URL; skipped when neither is there), and stay per replica without it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startTestRedis } from '../helpers/redis.js';
import { ViewerQuery } from './operations.js';

const testRedis = await startTestRedis();
const hasRedis = testRedis !== null;
const TEST_REDIS_URL = testRedis?.url ?? '';

let db: TestDatabase;
let issuer: DevIssuer;
beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await startDevIssuer({ port: 0 });
});
afterAll(async () => {
  await testRedis?.stop();
  await issuer?.stop();
  await db?.drop();
});

async function pair(env: Record<string, string>): Promise<[TestGateway, TestGateway]> {
  const limits = { RATE_LIMIT_USER_MAX: '3', RATE_LIMIT_ORG_MAX: '1000', RATE_LIMIT_WINDOW: '60s', ...env };
  return [await startTestGateway(limits, { db, issuer }), await startTestGateway(limits, { db, issuer })];
}

async function statuses(gateways: TestGateway[], token: string, calls: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < calls; i++)
    seen.push((await gateways[i % gateways.length]!.client.request(ViewerQuery, {}, { token })).status);
  return seen;
}

describe.skipIf(!hasRedis)('with Redis (REDIS_URL: a private redis-server, or TEST_REDIS_URL)', () => {
  it('a user’s budget is shared across replicas', async () => {
    // A key prefix of its own would need a config knob; a fresh user keeps runs apart instead.
    const [a, b] = await pair({ REDIS_URL: TEST_REDIS_URL });
    try {
      const user = await a.world.user(`redis-${randomUUID()}`);
      const token = await a.world.token(user);
      expect(await statuses([a, b], token, 4)).toEqual([200, 200, 200, 429]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('concurrent calls on two replicas are all counted (no lost updates)', async () => {
    const [a, b] = await pair({ REDIS_URL: TEST_REDIS_URL, RATE_LIMIT_USER_MAX: '10' });
    try {
      const token = await a.world.token(await a.world.user(`burst-${randomUUID()}`));
      const burst = await Promise.all(
        Array.from({ length: 16 }, (_, i) => [a, b][i % 2]!.client.request(ViewerQuery, {}, { token })),
      );
      const accepted = burst.filter((r) => r.status === 200).length;
      // Reads reserve a slot atomically, so exactly the budget gets through.
      expect(accepted).toBe(10);
      const redis = new Redis(TEST_REDIS_URL);
      const keys = await redis.keys('gateway:ratelimit:*');
      expect(keys.length).toBeGreaterThan(0);
      await redis.quit();
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('without Redis', () => {
  it('each replica counts on its own', async () => {
    const [a, b] = await pair({});
    try {
      const token = await a.world.token(await a.world.user('memory'));
      expect(await statuses([a, b], token, 6)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(await statuses([a], token, 1)).toEqual([429]);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
