/**
 * A database that stops answering without closing anything — a frozen server, a network
 * partition, a failover that blackholes packets. No TCP error ever arrives (keepalive does not
 * even run while a query is unanswered: TCP retransmits for ~15 minutes), and statement_timeout
 * lives on the server that is not answering. The gateway must still answer every request
 * within its configured timeouts (503, retryable), never hold it, and recover by itself.
 * Review of issue 7, point 1 ("never a hang past the configured timeouts").
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { errorCodes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateWorkflow, ViewerQuery } from '../graphql/operations.js';

let db: TestDatabase;
let proxy: FaultProxy;
let t: TestGateway;
let org: SeededOrg;
let developer: string;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await startFaultProxy(Number(new URL(db.appUrl).port));
  const throughProxy = new URL(db.appUrl);
  throughProxy.port = String(proxy.port);
  t = await startTestGateway(
    {
      DATABASE_URL: throughProxy.toString(),
      DATABASE_STATEMENT_TIMEOUT: '1s',
      DATABASE_LOCK_TIMEOUT: '500ms',
      DATABASE_POOL_TIMEOUT: '1s',
    },
    { db },
  );
  org = await t.world.organization('Frozen');
  developer = await t.world.token(org.members.developer);
  // Signed in, principal cached, pooled clients open through the proxy.
  const warm = await t.client.request(ViewerQuery, {}, { token: developer, orgId: org.id });
  expect(warm.status).toBe(200);
});
afterAll(async () => {
  proxy?.thaw();
  await t?.stop();
  await proxy?.stop();
  await db?.drop();
});

async function rowsNamed(name: string): Promise<number> {
  const client = new pg.Client({ connectionString: db.superuserUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from app_public.definitions where org_id = $1 and name = $2',
      [org.id, name],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

describe('a database that stops answering', () => {
  // Without a client-side bound these requests wait for TCP to give up (minutes): the test's
  // own timeout is what fails then.
  it(
    'answers reads and writes with a retryable 503 instead of holding them, and recovers by itself',
    { timeout: 60_000 },
    async () => {
      proxy.freeze();
      const name = `frozen ${randomUUID()}`;
      const [read, write] = await Promise.all([
        t.client.request(ViewerQuery, {}, { token: developer, orgId: org.id }),
        t.client.request(CreateWorkflow, { input: { name } }, { token: developer, orgId: org.id }),
      ]);
      for (const answer of [read, write]) {
        expect(answer.status, JSON.stringify(answer.body)).toBe(503);
        expect(errorCodes(answer)).toEqual(['SERVICE_UNAVAILABLE']);
        expect(answer.headers.get('retry-after')).toBe('1');
        expect(answer.body.errors![0]!.message).not.toMatch(/could not be saved/);
      }
      const ready = await fetch(`${t.gateway.url}/ready`);
      expect(ready.status).toBe(503);

      proxy.thaw();
      // Recovery without a restart: the stuck connections were given up, fresh ones work.
      let recovered = false;
      for (let attempt = 0; attempt < 50 && !recovered; attempt++) {
        const after = await t.client.request(ViewerQuery, {}, { token: developer, orgId: org.id });
        recovered = after.status === 200 && !after.body.errors;
        if (!recovered) await new Promise((r) => setTimeout(r, 200));
      }
      expect(recovered).toBe(true);
      const created = await t.client.request(
        CreateWorkflow,
        { input: { name: `after ${randomUUID()}` } },
        { token: developer, orgId: org.id },
      );
      expect(created.status).toBe(200);
      expect(created.body.errors).toBeUndefined();
      // The write that met the frozen database was answered "not saved": it is not there.
      expect(await rowsNamed(name)).toBe(0);
    },
  );

  it(
    'a COMMIT that is never answered is an unknown outcome, not a hang and not "nothing was saved"',
    { timeout: 60_000 },
    async () => {
      const name = `stalled commit ${randomUUID()}`;
      const stalled = proxy.stallCommit();
      const answer = await t.client.request(CreateWorkflow, { input: { name } }, { token: developer, orgId: org.id });
      await stalled;
      expect(answer.status, JSON.stringify(answer.body)).toBe(503);
      expect(errorCodes(answer)).toEqual(['SERVICE_UNAVAILABLE']);
      expect(answer.body.errors![0]!.extensions?.outcome).toBe('UNKNOWN');
      expect(answer.body.errors![0]!.message).not.toMatch(/nothing was saved|could not be saved/);
      // The server never received that COMMIT; the gateway did not wait for it to find out.
      const next = await t.client.request(ViewerQuery, {}, { token: developer, orgId: org.id });
      expect(next.status).toBe(200);
    },
  );
});
