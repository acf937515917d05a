/**
 * The security of indexed search, from two independent reviews' repros
 * (docs/reviews/indexed-search-2026-11-26.md): each `it` asserts the safe behaviour and failed
 * before its fix (F1–F7, G1, G2, G4).
 *   TEST_DATABASE_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres npx vitest run test/db/search-security.test.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { bootstrapDatabase } from '../../src/db/bootstrap.js';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { RequestDatabase } from '../../src/db/request-database.js';
import { enableIndexedSearch, SEARCH_INDEXES } from '../../src/db/search-bootstrap.js';
import { listDefinitions } from '../../src/domain/definitions.js';
import { detectIndexedSearch, setIndexedSearch } from '../../src/domain/pagination.js';
import { asApp, asSuperuser, createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';

const A = '0b160000-0000-4000-8000-00000000000a';
const B = '0b160000-0000-4000-8000-00000000000b';
const SEARCH_INDEX_NAMES = SEARCH_INDEXES.map(([name]) => name);
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

it("F3: row estimates of the search operator do not depend on another organization's rows", async () => {
  const estimate = async (term: string) =>
    asApp(pool, staffA, async (c) => {
      const { rows } = await c.query(`explain (format json) select 1 from app_public.definitions d
        where d.name operator(gateway_search.~~~*) '%${term}%'`);
      return rows[0]['QUERY PLAN'][0].Plan['Plan Rows'] as number;
    });
  // Org A has no "initech"; org B has 400. On f2fef7f: 400-ish vs 1.
  expect(await estimate('initech')).toBe(await estimate('qwxyzk'));
});

it("F2: the leakproof function is not hijacked by the caller's search_path", async () => {
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
  await bootstrapDatabase({
    superuserUrl: pgInfo.superuserUrl,
    database: db.name,
    ownerPassword: pgInfo.ownerPassword,
    appPassword: pgInfo.appPassword,
  }).catch(() => {});
  const who = await asSuperuser(
    db,
    async (c) =>
      (await c.query(`select (select who from app_public.ran_as) as who`).catch(() => ({ rows: [{ who: null }] }))).rows[0].who,
  );
  // f2fef7f: 'postgres' (the superuser running db:bootstrap)
  expect(who === null || who === 'gateway_owner').toBe(true);
});

// ---------------------------------------------------------------------------------------------
// Added with the fixes (branch search-fix): the other routes of F1, and F3–F7.
// ---------------------------------------------------------------------------------------------

const bootstrap = () => {
  const pgInfo = inject('postgres');
  return bootstrapDatabase({
    superuserUrl: pgInfo.superuserUrl,
    database: db.name,
    ownerPassword: pgInfo.ownerPassword,
    appPassword: pgInfo.appPassword,
  });
};

async function searchState() {
  return asSuperuser(db, async (c) => {
    const { rows } = await c.query(
      `select
        (select r.rolsuper from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = 'gateway_search') as schema_superuser,
        (select r.rolsuper from pg_operator o join pg_roles r on r.oid = o.oprowner where o.oid = to_regoperator('gateway_search.~~~*(text,text)')) as operator_superuser,
        (select r.rolsuper from pg_proc p join pg_roles r on r.oid = p.proowner where p.oid = to_regprocedure('gateway_search.contains_ci(text,text)')) as function_superuser,
        (select oprrest::text || '/' || oprjoin::text from pg_operator where oid = to_regoperator('gateway_search.~~~*(text,text)')) as estimators,
        (select count(*)::int from pg_class where relname = any($1::text[])) as indexes`,
      [SEARCH_INDEX_NAMES],
    );
    return rows[0];
  });
}

it('F1: none of the three routes runs as the superuser (planted ensure_search_indexes with RESET ROLE, public.format, database search_path + public.to_regoperator), and a dropped operator class is rebuilt (F7)', async () => {
  await asOwner(async (c) => {
    await c.query(`create table app_public.ran_as_superuser (via text, who text)`);
    await c.query(`grant insert on app_public.ran_as_superuser to public`);
    await c.query(`create or replace function app_private.ensure_search_indexes() returns int language plpgsql as $$
      begin reset role; insert into app_public.ran_as_superuser select 'ensure', current_user where current_setting('is_superuser') = 'on'; return 0; end $$`);
    for (const [fn, args, body] of [
      ['format', 'f text, a name', `pg_catalog.format(f, a)`],
      ['to_regoperator', 't text', `pg_catalog.to_regoperator(t)`],
      ['to_regclass', 't text', `pg_catalog.to_regclass(t)`],
      ['to_regproc', 't text', `pg_catalog.to_regproc(t)`],
    ] as const) {
      const returns = { format: 'text', to_regoperator: 'regoperator', to_regclass: 'regclass', to_regproc: 'regproc' }[fn];
      await c.query(`create function public.${fn}(${args}) returns ${returns} language plpgsql as $$
        begin insert into app_public.ran_as_superuser select '${fn}', current_user where current_setting('is_superuser') = 'on'; return ${body}; end $$`);
    }
    await c.query(`alter database ${c.escapeIdentifier(db.name)} set search_path = public, pg_catalog`);
  });
  // The next run must define the operator class again (and build the indexes): F1's second route,
  // and F7 (the family a dropped class leaves behind).
  await asSuperuser(db, (c) => c.query('drop operator class gateway_search.gin_contains_ops using gin cascade'));
  try {
    const report = await bootstrap();
    expect(report.search).toEqual({ indexed: true, indexesBuilt: SEARCH_INDEXES.length });
    const ran = await asSuperuser(db, async (c) => (await c.query('select via, who from app_public.ran_as_superuser')).rows);
    expect(ran).toEqual([]);
    expect(await searchState()).toMatchObject({ indexes: SEARCH_INDEXES.length, estimators: 'contsel/contjoinsel' });
  } finally {
    await asOwner(async (c) => {
      await c.query(`alter database ${c.escapeIdentifier(db.name)} reset search_path`);
      await c.query(
        `drop function public.format(text, name), public.to_regoperator(text), public.to_regclass(text), public.to_regproc(text)`,
      );
      await c.query('drop table app_public.ran_as_superuser');
    });
  }
});

it('F5/F3: after a migrate-first order (gateway_owner owned schema and operator, ILIKE estimators), db:bootstrap takes them over and re-estimates; gateway_owner can no longer drop or create in gateway_search', async () => {
  await asSuperuser(db, (c) =>
    c.query(`alter schema gateway_search owner to gateway_owner;
      alter operator gateway_search.~~~*(text, text) owner to gateway_owner;
      alter operator gateway_search.~~~*(text, text) set (restrict = iclikesel, join = iclikejoinsel)`),
  );
  expect(await searchState()).toMatchObject({
    schema_superuser: false,
    operator_superuser: false,
    estimators: 'iclikesel/iclikejoinsel',
  });
  expect((await bootstrap()).search).toEqual({ indexed: true, indexesBuilt: 0 });
  expect(await searchState()).toEqual({
    schema_superuser: true,
    operator_superuser: true,
    function_superuser: true,
    estimators: 'contsel/contjoinsel',
    indexes: SEARCH_INDEXES.length,
  });
  await asOwner(async (c) => {
    await expect(c.query('drop operator gateway_search.~~~*(text, text)')).rejects.toThrow(/must be owner/);
    await expect(c.query('drop function gateway_search.contains_ci(text, text)')).rejects.toThrow(/must be owner/);
    await expect(c.query(`alter operator gateway_search.~~~*(text, text) set (restrict = iclikesel)`)).rejects.toThrow(
      /must be owner/,
    );
    await expect(c.query('create function gateway_search.x() returns int language sql as $$select 1$$')).rejects.toThrow(
      /permission denied/,
    );
  });
});

it('F5: an object gateway_owner left in gateway_search stops the extension/opclass step (reported, not thrown)', async () => {
  await asSuperuser(db, (c) =>
    c.query(`create function gateway_search.planted() returns int language sql as 'select 1';
      alter function gateway_search.planted() owner to gateway_owner`),
  );
  try {
    const report = await bootstrap();
    expect(report.search.indexed).toBe(false);
    expect(report.search.reason).toMatch(/non-superuser owns \(function gateway_search\.planted\(\)\)/);
  } finally {
    await asSuperuser(db, (c) => c.query('drop function gateway_search.planted()'));
  }
  expect((await bootstrap()).search).toEqual({ indexed: true, indexesBuilt: 0 });
});

it('F3: the connections index leads with (org_id, customer_id); db:bootstrap builds exactly the indexes the migrations build (021, and 022 for People)', async () => {
  const definitions = () =>
    asSuperuser(
      db,
      async (c) =>
        (
          await c.query(
            `select relname::text, pg_get_indexdef(oid) as def from pg_class
        where relname = any($1::text[]) order by relname`,
            [SEARCH_INDEX_NAMES],
          )
        ).rows,
    );
  const dropAll = () =>
    asSuperuser(db, (c) => c.query(`drop index ${SEARCH_INDEX_NAMES.map((n) => `app_public.${n}`).join(', ')}`));
  await dropAll();
  // The function as the last migration defining it does (022; the F1 tests above planted their own).
  const migration = fs.readFileSync(path.join(MIGRATIONS_DIR, '022_people_team_and_search_order.sql'), 'utf8');
  const ensure = /create (or replace )?function app_private\.ensure_search_indexes\(\)[\s\S]*?\nend \$\$;/.exec(migration)![0];
  await asOwner((c) => c.query(ensure.replace(/^create (or replace )?function/, 'create or replace function')));
  expect(await asOwner(async (c) => (await c.query('select app_private.ensure_search_indexes() as n')).rows[0].n)).toBe(
    SEARCH_INDEXES.length,
  );
  const byMigration = await definitions();
  await dropAll();
  expect((await bootstrap()).search).toEqual({ indexed: true, indexesBuilt: SEARCH_INDEXES.length });
  expect(await definitions()).toEqual(byMigration);
  expect(byMigration.find((r) => r.relname === 'connections_search')?.def).toMatch(
    /USING gin \(org_id, customer_id, name gateway_search\.gin_contains_ops\)/,
  );
});

it('F6: without a superuser the search step reports NOT indexed (and why) instead of throwing', async () => {
  const report = await asOwner((c) => enableIndexedSearch(c));
  expect(report).toEqual({ indexed: false, reason: expect.stringMatching(/not a superuser/), indexesBuilt: 0 });
});

it('F4: with the operator gone (a restore without a superuser), the gateway detects no index and searches with plain ILIKE', async () => {
  const binding = { userId: null, orgId: A, access: 'staff' as const, tenantId: null, permissions: ['workflows.read'] };
  const search = async () => {
    const rdb = new RequestDatabase(pool, binding, silentLogger);
    try {
      const page = await listDefinitions(
        rdb,
        'workflow',
        { search: 'workflow 1' },
        { field: 'CREATED_AT', direction: 'desc' },
        { first: 5 },
      );
      return { edges: page.edges.length, total: await page.totalCount() };
    } finally {
      await rdb.abandon();
    }
  };
  try {
    setIndexedSearch(await detectIndexedSearch(pool));
    const indexed = await search();
    expect(indexed).toEqual({ edges: 5, total: 111 }); // workflow 1, 10–19, 100–199
    await asSuperuser(db, (c) => c.query('drop schema gateway_search cascade'));
    expect(await detectIndexedSearch(pool)).toBe(false);
    setIndexedSearch(false);
    expect(await search()).toEqual(indexed);
  } finally {
    setIndexedSearch(false);
    await bootstrap();
  }
});

it('F3 addendum: a customer-confined search for a term another customer has thousands of reads its own customer only (index on org_id, customer_id, name)', async () => {
  const c1 = '0b160000-0000-4000-8000-0000000000c1';
  const c2 = '0b160000-0000-4000-8000-0000000000c2';
  await asSuperuser(db, (c) =>
    c.query(`set session_replication_role = replica;
      insert into app_public.customers (org_id, id, name, slug) values ('${A}', '${c1}', 'one', 'one'), ('${A}', '${c2}', 'two', 'two');
      insert into app_public.connections (org_id, customer_id, connector_id, name)
        select '${A}'::uuid, '${c1}'::uuid, gen_random_uuid(), 'own connection ' || i from generate_series(1, 50) i
        union all select '${A}'::uuid, '${c2}'::uuid, gen_random_uuid(), 'needle connection ' || i from generate_series(1, 5000) i;
      reset session_replication_role; analyze app_public.connections;`),
  );
  const confined = { orgId: A, role: 'customer', tenantId: c1, permissions: ['connections.read'] };
  const plan = await asApp(pool, confined, async (c) => {
    const { rows } = await c.query(`explain (analyze, format json) select count(*) from app_public.connections c
      where c.customer_id = (select app_public.current_tenant_id()) and c.name operator(gateway_search.~~~*) '%needle%'`);
    return rows[0]['QUERY PLAN'][0].Plan;
  });
  // Every row any node read (returned or thrown away): the other customer's 5,000 must not be among them.
  const read = (node: Record<string, unknown>): number =>
    ((node['Actual Rows'] as number) ?? 0) +
    ((node['Rows Removed by Filter'] as number) ?? 0) +
    ((node['Rows Removed by Index Recheck'] as number) ?? 0) +
    ((node.Plans as Record<string, unknown>[] | undefined) ?? []).reduce((sum, child) => sum + read(child), 0);
  expect(read(plan)).toBeLessThan(200);
  expect(JSON.stringify(plan)).toMatch(/customer_id/);
});

it('F6: db:bootstrap by an admin without superuser (CREATEROLE, CREATEDB, member of gateway_owner, as on a managed server) sets up the database and reports search NOT indexed', async () => {
  const pgInfo = inject('postgres');
  const admin = `sf_admin_${db.name.slice(-8)}`;
  const database = `${db.name}_managed`;
  await asSuperuser(db, (c) =>
    c.query(`create role ${admin} login createrole createdb password 'admin-pw'; grant gateway_owner to ${admin}`),
  );
  try {
    const u = new URL(pgInfo.superuserUrl);
    u.username = admin;
    u.password = 'admin-pw';
    const report = await bootstrapDatabase({ superuserUrl: u.toString(), database });
    expect(report).toMatchObject({
      roles: { gateway_owner: 'kept', gateway_app: 'kept' },
      databaseCreated: true,
      search: { indexed: false, reason: expect.stringMatching(/not a superuser/), indexesBuilt: 0 },
    });
  } finally {
    await asSuperuser(db, async (c) => {
      await c.query(`drop database if exists ${database} with (force)`);
      await c.query(`drop role ${admin}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Second review (docs/reviews/indexed-search-2026-11-26.md): G1, G2, G4.
// ---------------------------------------------------------------------------------------------

it('G4: a collation the caller makes cannot make the leakproof function raise', async () => {
  await asApp(pool, staffA, async (c) => {
    await c.query(`create collation pg_temp.nd (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`);
    const { rows } = await c.query(`select count(*)::int n from app_public.definitions d
      where (d.name collate pg_temp.nd) operator(gateway_search.~~~*) '%workflow 1%'`);
    expect(rows[0].n).toBeGreaterThan(0); // before: ERROR nondeterministic collations are not supported for ILIKE
  });
});

it('G2: grants handed out on gateway_search before the takeover (a grant option to pg_database_owner) are gone after db:bootstrap', async () => {
  await asSuperuser(db, (c) => c.query(`grant create on schema gateway_search to pg_database_owner with grant option`));
  await bootstrap();
  const acl = await asSuperuser(db, async (c) => {
    const { rows } = await c.query(`select has_schema_privilege('gateway_owner', 'gateway_search', 'create') as owner_create,
      coalesce((select bool_or(a.grantee = 'pg_database_owner'::regrole) from pg_namespace n, aclexplode(n.nspacl) a
                 where n.nspname = 'gateway_search'), false) as listed`);
    return rows[0];
  });
  expect(acl).toEqual({ owner_create: false, listed: false });
});

it('G1: extensions gateway_owner installed itself (trusted extensions) stop the search step until a superuser replaces them', async () => {
  // The owner installs pg_trgm before any superuser step (here: after dropping the superuser's).
  await asSuperuser(db, (c) => c.query(`drop extension pg_trgm cascade`));
  await asOwner((c) => c.query(`create extension pg_trgm schema public`));
  try {
    const report = await bootstrap();
    expect(report.search.indexed).toBe(false);
    expect(report.search.reason).toMatch(/extension pg_trgm is owned by a non-superuser/);
  } finally {
    await asSuperuser(db, (c) => c.query(`drop extension if exists pg_trgm cascade`));
  }
  const again = await bootstrap();
  expect(again.search.indexed).toBe(true);
  expect(await searchState()).toMatchObject({ indexes: SEARCH_INDEXES.length });
});

it("a database migrated before 022 (no People copies yet): db:bootstrap builds the other indexes and skips People's instead of failing", async () => {
  // As before 022: memberships without the name copy, nor its index (the column renamed away: its
  // triggers name it).
  await asSuperuser(db, (c) =>
    c.query(`drop index app_public.memberships_search;
      alter table app_public.memberships rename column user_name to before_022`),
  );
  try {
    const report = await bootstrap();
    expect(report.search).toEqual({ indexed: true, indexesBuilt: 0 });
    const present = await asSuperuser(db, async (c) =>
      (
        await c.query(`select relname::text from pg_class where relname = any($1::text[]) order by relname`, [SEARCH_INDEX_NAMES])
      ).rows.map((r) => r.relname),
    );
    expect(present).toEqual(SEARCH_INDEX_NAMES.filter((n) => n !== 'memberships_search').sort());
  } finally {
    // 022 adds the column back; the next superuser step builds its index.
    await asSuperuser(db, (c) => c.query('alter table app_public.memberships rename column before_022 to user_name'));
  }
  expect((await bootstrap()).search).toEqual({ indexed: true, indexesBuilt: 1 });
  expect(await searchState()).toMatchObject({ indexes: SEARCH_INDEXES.length });
});
