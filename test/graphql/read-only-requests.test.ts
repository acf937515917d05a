/**
 * Query operations run READ ONLY and carry their end to the next request
 * (src/db/parked-transactions.ts), through the gateway:
 *  - which operations open READ ONLY transactions (a query, the same after a parse-cache hit,
 *    each operation of a two-operation document by operationName; a request with activity to
 *    record runs read-write);
 *  - requests whose context needs the pool before their transaction (no X-Organization-Id:
 *    the default organization is read through the pool) are served in turn while read-only
 *    requests saturate a one-client pool.
 * (From the review in docs/reviews/read-only-transactions-2026-11-26.md.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RequestDatabase } from '../../src/db/request-database.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { ViewerQuery } from './operations.js';

let t: TestGateway;
let a: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway({ DATABASE_POOL_MAX: '1' });
  a = await t.world.organization('ReadOnlyA', { workflows: 2 });
});
afterAll(() => t?.stop());

it('opens READ ONLY exactly for the operation that runs', async () => {
  const original = RequestDatabase.prototype.finish;
  const modes: boolean[] = [];
  RequestDatabase.prototype.finish = function (this: RequestDatabase) {
    modes.push(this.readOnly);
    return original.call(this);
  };
  try {
    const token = await t.world.token(a.members.developer);
    const opts = { token, orgId: a.id };
    await t.client.request(ViewerQuery, {}, opts); // activity due: read-write
    expect(modes).toEqual([false]);
    modes.length = 0;
    await t.client.request(ViewerQuery, {}, opts);
    await t.client.request(ViewerQuery, {}, opts); // parse cache hit
    const doc = `query Q { viewer { user { id } } } mutation M { createWorkflow(input: { name: "ro-probe-${Date.now()}" }) { id } }`;
    const m = await fetch(`${t.client.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-organization-id': a.id },
      body: JSON.stringify({ query: doc, operationName: 'M' }),
    });
    const mBody = await m.json();
    const q = await fetch(`${t.client.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-organization-id': a.id },
      body: JSON.stringify({ query: doc, operationName: 'Q' }),
    });
    const qBody = await q.json();
    expect(mBody.errors).toBeUndefined();
    expect(qBody.errors).toBeUndefined();
    // viewer, viewer (parse cache hit), M, Q
    expect(modes.slice(0, 2)).toEqual([true, true]);
    expect(modes.at(-2)).toBe(false); // M
    expect(modes.at(-1)).toBe(true); // Q
  } finally {
    RequestDatabase.prototype.finish = original;
  }
});

it('requests that need the pool before their transaction are served in turn while read-only requests saturate it', async () => {
  const withHeader = { token: await t.world.token(a.members.viewer), orgId: a.id };
  const noHeader = { token: await t.world.token(a.members.developer) }; // one organization: default applies
  // warm activity for both
  await t.client.request(ViewerQuery, {}, withHeader);
  await t.client.request(ViewerQuery, {}, { ...noHeader, orgId: a.id });
  await t.client.request(ViewerQuery, {}, noHeader);
  let stop = false;
  const loopers = Array.from({ length: 12 }, async () => {
    let n = 0;
    while (!stop) {
      await t.client.request(ViewerQuery, {}, withHeader);
      n++;
    }
    return n;
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await t.client.request(ViewerQuery, {}, noHeader);
    statuses.push(r.status);
  }
  stop = true;
  const served = await Promise.all(loopers);
  expect(served.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
  // Handed over outside the pool's queue (the first version), all five got 503 after the 5 s
  // acquire timeout while ~1,400 requests with the header were served.
  expect(statuses).toEqual(statuses.map(() => 200));
}, 60_000);
