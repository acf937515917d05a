/**
 * Safe retries with Idempotency-Key (issue 7, point 3): replay, a different request under the
 * same key, concurrent duplicates, expiry and purge, and the reason it exists — a retry after a
 * fault where the first COMMIT succeeded but its answer was lost (a proxy cuts the connection
 * right after the server's COMMIT answer), or where COMMIT never arrived.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpiredIdempotencyKeys } from '../../src/db/idempotency.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { errorCodes, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';
import { CreateOrganization, CreateWorkflow, ViewerQuery } from '../graphql/operations.js';

let db: TestDatabase;
let proxy: FaultProxy;
let t: TestGateway;
let org: SeededOrg;
let developer: string;
let admin: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const direct = new URL(db.appUrl);
  proxy = await startFaultProxy(Number(direct.port));
  const throughProxy = new URL(db.appUrl);
  throughProxy.port = String(proxy.port);
  t = await startTestGateway({ DATABASE_URL: throughProxy.toString() }, { db });
  org = await t.world.organization('Retries');
  developer = await t.world.token(org.members.developer);
  admin = await t.world.token(org.members.admin);
});
afterAll(async () => {
  await t?.stop();
  await proxy?.stop();
  await db?.drop();
});

async function asSuperuser<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: db.superuserUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Rows named `name` and their success events: what actually happened. */
async function happened(name: string) {
  const rows = await asSuperuser<{ id: string }>('select id::text from app_public.definitions where org_id = $1 and name = $2', [
    org.id,
    name,
  ]);
  const events = await asSuperuser<{ n: number }>(
    `select count(*)::int as n from app_public.audit_events where org_id = $1 and outcome = 'success' and resource_id = any($2::text[])`,
    [org.id, rows.map((r) => r.id)],
  );
  return { rows: rows.length, ids: rows.map((r) => r.id), successEvents: events[0]!.n };
}

const idOf = (response: { body: { data?: { createWorkflow?: { id: string } | null } | null } }) =>
  response.body.data?.createWorkflow?.id;

const create = (name: string, key: string | null, token = developer) =>
  t.client.request(CreateWorkflow, { input: { name } }, { token, orgId: org.id, headers: key ? { 'idempotency-key': key } : {} });

describe('Idempotency-Key', () => {
  it('replays the first result: no second change, no second audit event', async () => {
    const key = randomUUID();
    const name = `replay ${key}`;
    const first = await create(name, key);
    expect(first.status).toBe(200);
    const id = idOf(first);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const again = await create(name, key);
    expect(again.status).toBe(200);
    expect(idOf(again)).toBe(id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((again.body as { extensions?: unknown }).extensions).toEqual({ idempotency: { replayed: true } });
    expect(await happened(name)).toEqual({ rows: 1, ids: [id], successEvents: 1 });
  });

  it('the same key with a different request is refused with a stable code, and changes nothing', async () => {
    const key = randomUUID();
    await create(`original ${key}`, key);
    const other = await create(`different ${key}`, key);
    expect(other.status).toBe(422);
    expect(errorCodes(other)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect((await happened(`different ${key}`)).rows).toBe(0);
  });

  it('keys belong to their principal: another member may use the same key', async () => {
    const key = randomUUID();
    const mine = await create(`mine ${key}`, key);
    const theirs = await create(`theirs ${key}`, key, admin);
    expect(mine.status).toBe(200);
    expect(theirs.status).toBe(200);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
  });

  it('works outside any organization too (createOrganization replays, one organization exists)', async () => {
    const user = await t.world.user(`founder-${randomUUID()}`);
    const token = await t.world.token(user);
    const key = randomUUID();
    const name = `Founded ${key.slice(0, 8)}`;
    const headers = { 'idempotency-key': key };
    const first = await t.client.request(CreateOrganization, { input: { name } }, { token, headers });
    const again = await t.client.request(CreateOrganization, { input: { name } }, { token, headers });
    expect(first.body.errors).toBeUndefined();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data).toEqual(first.body.data);
    const orgs = await asSuperuser('select id from app_public.organizations where name = $1', [name]);
    expect(orgs).toHaveLength(1);
  });

  it('concurrent duplicates never both execute: one runs, the others wait and replay it', async () => {
    const key = randomUUID();
    const name = `concurrent ${key}`;
    const answers = await Promise.all(Array.from({ length: 8 }, () => create(name, key)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const ids = new Set(answers.map((a) => idOf(a)));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(7);
    expect(await happened(name)).toEqual({ rows: 1, ids: [...ids], successEvents: 1 });
  });

  it('a failed first attempt is not stored: the retry runs for real', async () => {
    const key = randomUUID();
    const taken = `taken ${key}`;
    await create(taken, null);
    const conflict = await create(taken, key);
    expect(errorCodes(conflict)).toEqual(['CONFLICT']);
    // The obstacle goes; the same request under the same key now succeeds.
    await asSuperuser('update app_public.definitions set name = $2 where org_id = $1 and name = $3', [
      org.id,
      `moved ${key}`,
      taken,
    ]);
    const retry = await create(taken, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect((await happened(taken)).rows).toBe(1);
  });

  it('is ignored on queries, and a malformed key is refused naming the header', async () => {
    const query = await t.client.request(
      ViewerQuery,
      {},
      { token: developer, orgId: org.id, headers: { 'idempotency-key': 'x' } },
    );
    expect(query.status).toBe(200);
    const bad = await create(`bad key ${randomUUID()}`, 'has spaces in it');
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors![0]!.extensions!.field).toBe('Idempotency-Key');
  });

  it('expires: an expired key runs again, and the purge deletes expired keys', async () => {
    const key = randomUUID();
    const name = `expiring ${key}`;
    const first = await create(name, key);
    await asSuperuser(
      `update app_public.idempotency_keys set expires_at = now() - interval '1 second' where idempotency_key = $1`,
      [key],
    );
    // (Out of the way, so running again can succeed: names are unique.)
    await asSuperuser('update app_public.definitions set name = $2 where org_id = $1 and name = $3', [
      org.id,
      `renamed ${key}`,
      name,
    ]);
    const afterExpiry = await create(name, key);
    expect(afterExpiry.status).toBe(200);
    expect(afterExpiry.headers.get('idempotent-replayed')).toBeNull();
    expect(idOf(afterExpiry)).not.toBe(idOf(first));

    await asSuperuser(
      `update app_public.idempotency_keys set expires_at = now() - interval '1 second' where idempotency_key = $1`,
      [key],
    );
    const live = randomUUID();
    await create(`live ${live}`, live);
    expect(await purgeExpiredIdempotencyKeys(t.gateway.pool)).toBeGreaterThanOrEqual(1);
    const left = await asSuperuser<{ idempotency_key: string }>(
      'select idempotency_key from app_public.idempotency_keys where idempotency_key = any($1)',
      [[key, live]],
    );
    expect(left.map((r) => r.idempotency_key)).toEqual([live]);
  });

  it('the default lifetime is 24 hours', async () => {
    const key = randomUUID();
    await create(`ttl ${key}`, key);
    const [row] = await asSuperuser<{ hours: number }>(
      `select round(extract(epoch from expires_at - created_at) / 3600)::int as hours from app_public.idempotency_keys where idempotency_key = $1`,
      [key],
    );
    expect(row!.hours).toBe(24);
  });
});

describe('when the connection dies at COMMIT', () => {
  it('COMMIT saved but its answer lost: 503 outcome UNKNOWN, and the retry replays the saved result', async () => {
    const key = randomUUID();
    const name = `lost answer ${key}`;
    const cut = proxy.cutAfterCommit();
    const first = await create(name, key);
    await cut;
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('1');
    expect(errorCodes(first)).toEqual(['SERVICE_UNAVAILABLE']);
    expect(first.body.errors![0]!.extensions!.outcome).toBe('UNKNOWN');
    expect(first.body.errors![0]!.message).not.toMatch(/could not be saved/);
    const saved = await happened(name);
    expect(saved).toMatchObject({ rows: 1, successEvents: 1 });

    const retry = await create(name, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(idOf(retry)).toBe(saved.ids[0]);
    expect(await happened(name)).toEqual(saved);
  });

  it('COMMIT never arrived: 503 outcome UNKNOWN, nothing saved, and the retry runs once', async () => {
    const key = randomUUID();
    const name = `lost commit ${key}`;
    const cut = proxy.cutBeforeCommit();
    const first = await create(name, key);
    await cut;
    expect(first.status).toBe(503);
    expect(first.body.errors![0]!.extensions!.outcome).toBe('UNKNOWN');
    expect((await happened(name)).rows).toBe(0);

    const retry = await create(name, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await happened(name)).toMatchObject({ rows: 1, successEvents: 1 });
  });

  it('without a key the unknown outcome is still said plainly, never "could not be saved"', async () => {
    const name = `no key ${randomUUID()}`;
    const cut = proxy.cutAfterCommit();
    const answer = await create(name, null);
    await cut;
    expect(answer.status).toBe(503);
    expect(answer.body.errors![0]!.extensions!.outcome).toBe('UNKNOWN');
    expect((await happened(name)).rows).toBe(1);
    // The gateway answers normally on its next request.
    expect((await create(`next ${randomUUID()}`, null)).status).toBe(200);
  });
});
