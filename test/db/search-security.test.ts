/**
 * Reviewer's repros for branch `search` (see /work/notes/review-search.md). Each `it` asserts the
 * SAFE behaviour, so each fails on f2fef7f and should pass once the finding is fixed.
 *   TEST_DATABASE_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres npx vitest run test/db/search-security.test.ts
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { bootstrapDatabase } from '../../src/db/bootstrap.js';
import { asApp, asSuperuser, createTestDatabase, type TestDatabase } from '../helpers/database.js';

const A = '0b160000-0000-4000-8000-00000000000a';
const B = '0b160000-0000-4000-8000-00000000000b';
let db: TestDatabase;
let pool: pg.Pool;

async function asOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.ownerUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool(2);
  await asSuperuser(db, (c) =>
    c.query(`set session_replication_role = replica; set search_path = app_public;
      insert into organizations (id, name) values ('${A}', 'A'), ('${B}', 'B');
      insert into workspaces (org_id, name, is_default) values ('${A}', 'Default', true), ('${B}', 'Default', true);
      insert into definitions (org_id, kind, name, workspace_id)
        select o, 'workflow', case when o = '${B}' then 'Secret Initech merger ' else 'workflow ' end || i,
               (select id from workspaces w where w.org_id = o)
        from unnest(array['${A}', '${B}']::uuid[]) o, generate_series(1, 400) i;
      reset session_replication_role; analyze definitions;`),
  );
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

const staffA = { orgId: A, role: 'staff', permissions: ['workflows.read'] };

it('F3: row estimates of the search operator do not depend on another organization\'s rows', async () => {
  const estimate = async (term: string) =>
    asApp(pool, staffA, async (c) => {
      const { rows } = await c.query(`explain (format json) select 1 from app_public.definitions d
        where d.name operator(gateway_search.~~~*) '%${term}%'`);
      return rows[0]['QUERY PLAN'][0].Plan['Plan Rows'] as number;
    });
  // Org A has no "initech"; org B has 400. On f2fef7f: 400-ish vs 1.
  expect(await estimate('initech')).toBe(await estimate('qwxyzk'));
});

it('F2: the leakproof function is not hijacked by the caller\'s search_path', async () => {
  await asOwner((c) =>
    c.query(`create function public.octet_length(t text) returns int language plpgsql immutable as $$
      begin if t like 'Secret%' then raise exception 'LEAK: %', t; end if; return pg_catalog.octet_length(t); end $$`),
  );
  try {
    await asApp(pool, staffA, async (c) => {
      await c.query(`set local search_path = public, pg_catalog`);
      const { rows } = await c.query(`select count(*)::int n from app_public.definitions d
        where d.name operator(gateway_search.~~~*) '%zzz%'`);
      expect(rows[0].n).toBe(0); // f2fef7f: ERROR  LEAK: Secret Initech merger …
    });
  } finally {
    await asOwner((c) => c.query('drop function public.octet_length(text)'));
  }
});

it('F1: db:bootstrap does not run code gateway_owner wrote as the superuser', async () => {
  await asOwner((c) =>
    c.query(`create or replace function app_private.ensure_search_indexes() returns int language plpgsql as $$
      begin create table app_public.ran_as as select current_user::text who; return 0; end $$`),
  );
  const pgInfo = inject('postgres');
  await bootstrapDatabase({ superuserUrl: pgInfo.superuserUrl, database: db.name, ownerPassword: pgInfo.ownerPassword, appPassword: pgInfo.appPassword }).catch(() => {});
  const who = await asSuperuser(db, async (c) =>
    (await c.query(`select (select who from app_public.ran_as) as who`).catch(() => ({ rows: [{ who: null }] }))).rows[0].who,
  );
  // f2fef7f: 'postgres' (the superuser running db:bootstrap)
  expect(who === null || who === 'gateway_owner').toBe(true);
});
