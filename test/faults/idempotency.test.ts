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
import { asApp, createTestDatabase, type TestDatabase } from '../helpers/database.js';
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

  it('a request confined to a customer (X-Customer-Id) is a different request: refused, never a replay of the unconfined one', async () => {
    const key = randomUUID();
    const name = `confined ${key}`;
    const first = await create(name, key, admin);
    expect(first.status).toBe(200);
    const confined = await t.client.request(
      CreateWorkflow,
      { input: { name } },
      { token: admin, orgId: org.id, customerId: org.customers[0]!.id, headers: { 'idempotency-key': key } },
    );
    expect(confined.headers.get('idempotent-replayed')).toBeNull();
    expect(errorCodes(confined)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(confined.status).toBe(422);
  });

  it('row security: a key and its stored result are visible only to their principal, in their organization', async () => {
    const other = await t.world.organization('Retries elsewhere');
    const key = `rls ${randomUUID()}`;
    const nil = '00000000-0000-0000-0000-000000000000';
    const pool = db.appPool();
    try {
      const staff = (userId: string, orgId: string) => ({ userId, orgId, role: 'staff' });
      // Filed as the developer, once under the organization and once under no organization.
      for (const scope of [org.id, nil]) {
        await asApp(
          pool,
          staff(org.members.developer.userId, org.id),
          (c) =>
            c.query(
              `insert into idempotency_keys (org_id, user_id, idempotency_key, fingerprint, expires_at, result)
               values ($1, app_public.current_user_id(), $2, repeat('a', 64), now() + interval '1 hour', '{"data":{"secret":1}}')`,
              [scope, key],
            ),
          { commit: true },
        );
      }
      const visible = (settings: Parameters<typeof asApp>[1]) =>
        asApp(
          pool,
          settings,
          async (c) => (await c.query('select org_id from idempotency_keys where idempotency_key = $1', [key])).rowCount,
        );
      expect(await visible(staff(org.members.developer.userId, org.id))).toBe(2);
      // Another member of the same organization, its admin included: nothing.
      expect(await visible(staff(org.members.admin.userId, org.id))).toBe(0);
      expect(await visible(staff(org.members.owner.userId, org.id))).toBe(0);
      // Unbound: nothing.
      expect(await visible({})).toBe(0);
      // The same person acting in another organization sees only the unscoped key (their own).
      expect(await visible(staff(org.members.developer.userId, other.id))).toBe(1);
      // Nobody writes a key under another principal, nor under an organization not bound.
      await expect(
        asApp(pool, staff(org.members.admin.userId, org.id), (c) =>
          c.query(
            `insert into idempotency_keys (org_id, user_id, idempotency_key, fingerprint, expires_at)
             values ($1, $2, $3, repeat('b', 64), now() + interval '1 hour')`,
            [org.id, org.members.developer.userId, `forged ${key}`],
          ),
        ),
      ).rejects.toThrow(/row-level security/);
      await expect(
        asApp(pool, staff(org.members.developer.userId, org.id), (c) =>
          c.query(
            `insert into idempotency_keys (org_id, user_id, idempotency_key, fingerprint, expires_at)
             values ($1, app_public.current_user_id(), $2, repeat('b', 64), now() + interval '1 hour')`,
            [other.id, `elsewhere ${key}`],
          ),
        ),
      ).rejects.toThrow(/row-level security/);
      // And nobody overwrites another's stored result.
      const overwritten = await asApp(
        pool,
        staff(org.members.admin.userId, org.id),
        async (c) => (await c.query(`update idempotency_keys set result = '{}' where idempotency_key = $1`, [key])).rowCount,
      );
      expect(overwritten).toBe(0);
    } finally {
      await pool.end();
    }
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

  it('a partly successful operation is stored as answered: the retry replays it, the succeeded part is not repeated', async () => {
    const key = randomUUID();
    const taken = `partial taken ${key}`;
    const fresh = `partial fresh ${key}`;
    await create(taken, null);
    const both = `mutation($a: CreateWorkflowInput!, $b: CreateWorkflowInput!) {
      ok: createWorkflow(input: $a) { id }
      clash: createWorkflow(input: $b) { id }
    }`;
    const send = () =>
      t.client.request(
        both,
        { a: { name: fresh }, b: { name: taken } },
        { token: developer, orgId: org.id, headers: { 'idempotency-key': key } },
      );
    const first = await send();
    expect(errorCodes(first)).toEqual(['CONFLICT']);
    const okId = (first.body.data as { ok?: { id: string } } | null)?.ok?.id;
    expect(okId).toBeTruthy();
    const again = await send();
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data).toEqual(first.body.data);
    expect(errorCodes(again)).toEqual(['CONFLICT']);
    expect(await happened(fresh)).toEqual({ rows: 1, ids: [okId], successEvents: 1 });
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
