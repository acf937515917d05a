/**
 * Indexed substring search under forced row-level security: the part that needs a superuser,
 * run by `db:bootstrap` in the gateway's database (issue 10).
 *
 * Why a superuser. Under RLS, PostgreSQL lets a query's condition become an index condition (be
 * evaluated ahead of the policies, on any tenant's rows) only when its function is LEAKPROOF, and
 * only a superuser may declare one. ILIKE (`texticlike`) is not leakproof, so a pg_trgm index on
 * a name is never used for `name ILIKE '%term%'` and a rare term reads the whole organization.
 *
 * Why not `alter function texticlike leakproof` (the common workaround): it is not leakproof.
 * `'abcd' ILIKE 'abc\'` raises "LIKE pattern must not end with escape character" while
 * `'zzz' ILIKE 'abc\'` returns false: the error depends on the row, not only on the pattern. With
 * it marked leakproof, a request of organization A that can send SQL (a resolver bug, an
 * injection) probes organization B's names through that error (`name ILIKE '%Acquisition of \'`
 * errors iff some row of any tenant contains "Acquisition of " followed by more text: checked on
 * PostgreSQL 15 with pg_trgm, see docs/reviews/indexed-search-2026-11-26.md). That trades RLS for speed, database-wide.
 *
 * What this does instead, in schema `gateway_search`:
 *  - `contains_ci(haystack, pattern)`: ILIKE restricted to the patterns the gateway sends
 *    (`%…%` around a literal whose `\ % _` are escaped, src/domain/pagination.ts
 *    `containsPattern`); any other pattern gives NULL. It cannot raise for any row: the pattern
 *    check runs before ILIKE, and a checked pattern has no trailing escape and two `%` only (no
 *    deep recursion); the length cap keeps lower()'s buffers far below the 1 GB allocation limit
 *    (the API never stores a value near it). Whether it returns true, false or NULL depends on
 *    its arguments only, and it writes nothing: leakproof in fact, not by decree. PL/pgSQL on
 *    purpose: a SQL-language body would be inlined into the query and judged by its `~~*`,
 *    which is not leakproof (checked: the planner then ignores the index again).
 *  - the operator `~~~*` over it, with constant estimators (`contsel`/`contjoinsel`), and
 *    `gin_contains_ops`: pg_trgm's GIN support functions with that operator as the ILIKE
 *    strategy (4), so pg_trgm extracts the trigrams of `%term%` exactly as for ILIKE and rechecks
 *    with the leakproof function.
 *  - pg_trgm and btree_gin (the indexes lead with `org_id`, and the connections index with
 *    `org_id, customer_id`: a search's matches come from its own organization's — for a
 *    customer-confined caller its own customer's — entries). A trigram's posting list still holds
 *    every organization's rows; `org_id` narrows the scan without partitioning it, so how common a
 *    term is elsewhere changes the blocks an empty search reads: a coarse frequency signal, never
 *    content (second review, G3; README says so).
 * Migration 021 builds the indexes when the operator class is there (and defines a plain ILIKE
 * stand-in for the operator when it is not). A gateway that finds no index sends plain ILIKE and
 * needs nothing in `gateway_search` (a dump restored without a superuser keeps searching).
 *
 * Why constant estimators (review F3). ILIKE's `iclikesel` evaluates the operator's function on
 * the column's planner statistics (most common values, histogram: `pg_statistic`, sampled from
 * every organization). PostgreSQL skips that under RLS for a function that is not leakproof; for
 * a leakproof one it does it, so row estimates (EXPLAIN, and through the plan chosen even the
 * order of a caller's own tied rows) would answer "does some tenant's value contain this
 * substring". `matchingsel` does the same. `contsel` never looks at the data. The two-step page
 * (src/domain/pagination.ts) does not depend on the estimate; the customer_id in the connections
 * index keeps a confined search off other customers' entries without the statistics' help.
 *
 * Why the pinned search_path and no owner-written code (review F1, F2, F5). This runs as a
 * superuser inside a database gateway_owner owns (it owns schema `public`, may set the
 * database's default search_path, owns everything the migrations create). Any unqualified name
 * here could resolve to a function gateway_owner planted, and any owner-owned function called
 * here (e.g. `app_private.ensure_search_indexes()`) would run as the superuser; `SET ROLE` is no
 * barrier (the called code can `RESET ROLE`: checked). So: the connection starts with
 * `search_path = pg_catalog, pg_temp` (the startup option overrides database and role defaults,
 * and pg_temp is never searched for functions or operators then), every name below is
 * schema-qualified as well, the search indexes are built from DDL text in this file (CREATE
 * INDEX runs no code of the table owner's; index expressions would run as the owner under a
 * security-restricted operation), and the superuser takes schema `gateway_search`, the function
 * and the operator (a migrate-first order leaves them with gateway_owner, who could otherwise
 * drop or re-estimate them), refusing to go on while anything else in that schema belongs to a
 * role that is not a superuser. The leakproof function's own body is schema-qualified too: the
 * planner runs it ahead of RLS, under the caller's search_path.
 */
import pg from 'pg';
import { APP_ROLE, OWNER_ROLE } from './bootstrap.js';

export const SEARCH_SCHEMA = 'gateway_search';

/** The patterns `containsPattern` produces: `%`, then literal or escaped characters, then `%`. */
const FUNCTION_SQL = `
create or replace function ${SEARCH_SCHEMA}.contains_ci(haystack text, pattern text) returns boolean
language plpgsql immutable strict leakproof parallel safe as $$
begin
  if pg_catalog.octet_length(pattern) operator(pg_catalog.>) 67108864
     or pg_catalog.octet_length(haystack) operator(pg_catalog.>) 67108864
     or (pattern collate pg_catalog."C") operator(pg_catalog.!~) '^%([^\\\\%_]|\\\\.)*%$' then
    return null;
  end if;
  -- The database's own collation, whatever the caller's expression carries: a collation the
  -- caller created (e.g. a nondeterministic one in its temp schema, which ILIKE refuses) must not
  -- make this raise, for any row (review G4).
  return (haystack collate pg_catalog."default") operator(pg_catalog.~~*) pattern;
end $$`;

/**
 * The operator, owned by the superuser, with constant estimators. One defined earlier (migration
 * 021's stand-in, or an earlier bootstrap with `iclikesel`) is taken over and re-estimated; one
 * that is not exactly ours (another function, a commutator or negator) is dropped and redefined.
 */
const OPERATOR_SQL = `
do $$
declare op pg_catalog.oid := pg_catalog.to_regoperator('${SEARCH_SCHEMA}.~~~*(text,text)');
begin
  if op is not null and not exists (
      select from pg_catalog.pg_operator o
      where o.oid operator(pg_catalog.=) op and o.oprcom operator(pg_catalog.=) 0 and o.oprnegate operator(pg_catalog.=) 0
        and o.oprcode operator(pg_catalog.=) pg_catalog.to_regproc('${SEARCH_SCHEMA}.contains_ci')) then
    drop operator ${SEARCH_SCHEMA}.~~~* (text, text) cascade;
    op := null;
  end if;
  if op is null then
    create operator ${SEARCH_SCHEMA}.~~~* (leftarg = text, rightarg = text, function = ${SEARCH_SCHEMA}.contains_ci,
      restrict = pg_catalog.contsel, join = pg_catalog.contjoinsel);
  else
    alter operator ${SEARCH_SCHEMA}.~~~* (text, text) owner to current_user;
    alter operator ${SEARCH_SCHEMA}.~~~* (text, text) set (restrict = pg_catalog.contsel, join = pg_catalog.contjoinsel);
  end if;
end $$`;

/** Objects in the schema that a role other than a superuser owns (extension members excepted). */
const FOREIGN_OBJECTS_SQL = `
select pg_catalog.string_agg(x.what, ', ' order by x.what) as what from (
  select 'function ' operator(pg_catalog.||) p.oid::pg_catalog.regprocedure::pg_catalog.text as what, p.proowner as owner, 'pg_catalog.pg_proc'::pg_catalog.regclass as cls, p.oid
    from pg_catalog.pg_proc p where p.pronamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'operator ' operator(pg_catalog.||) o.oid::pg_catalog.regoperator::pg_catalog.text, o.oprowner, 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid
    from pg_catalog.pg_operator o where o.oprnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'relation ' operator(pg_catalog.||) c.relname::pg_catalog.text, c.relowner, 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid
    from pg_catalog.pg_class c where c.relnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'type ' operator(pg_catalog.||) t.typname::pg_catalog.text, t.typowner, 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
    from pg_catalog.pg_type t where t.typnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'collation ' operator(pg_catalog.||) c.collname::pg_catalog.text, c.collowner, 'pg_catalog.pg_collation'::pg_catalog.regclass, c.oid
    from pg_catalog.pg_collation c where c.collnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'conversion ' operator(pg_catalog.||) c.conname::pg_catalog.text, c.conowner, 'pg_catalog.pg_conversion'::pg_catalog.regclass, c.oid
    from pg_catalog.pg_conversion c where c.connamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'text search configuration ' operator(pg_catalog.||) c.cfgname::pg_catalog.text, c.cfgowner, 'pg_catalog.pg_ts_config'::pg_catalog.regclass, c.oid
    from pg_catalog.pg_ts_config c where c.cfgnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'text search dictionary ' operator(pg_catalog.||) d.dictname::pg_catalog.text, d.dictowner, 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, d.oid
    from pg_catalog.pg_ts_dict d where d.dictnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
  union all select 'statistics ' operator(pg_catalog.||) s.stxname::pg_catalog.text, s.stxowner, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid
    from pg_catalog.pg_statistic_ext s where s.stxnamespace operator(pg_catalog.=) $1::pg_catalog.regnamespace
) x
where not (select r.rolsuper from pg_catalog.pg_roles r where r.oid operator(pg_catalog.=) x.owner)
  and not exists (select from pg_catalog.pg_depend d
                  join pg_catalog.pg_extension e on e.oid operator(pg_catalog.=) d.refobjid
                  join pg_catalog.pg_roles er on er.oid operator(pg_catalog.=) e.extowner
                  where d.classid operator(pg_catalog.=) x.cls and d.objid operator(pg_catalog.=) x.oid
                    and d.refclassid operator(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                    and d.deptype operator(pg_catalog.=) 'e' and er.rolsuper)`;

/**
 * pg_trgm and btree_gin are trusted extensions: gateway_owner may install them itself before a
 * superuser ever bootstraps, and would then own them (able to drop them with the operator class
 * and the indexes, or add its own members). The step goes on only with superuser-owned ones
 * (review G1); an extension's schema does not matter (the class names its functions by oid).
 */
const EXTENSION_OWNERS_SQL = `
select e.extname::pg_catalog.text as name, r.rolsuper as superuser
  from pg_catalog.pg_extension e join pg_catalog.pg_roles r on r.oid operator(pg_catalog.=) e.extowner
 where e.extname operator(pg_catalog.=) any($1::pg_catalog.text[])`;

/** Every grantee on the schema other than its owner (public as 0): their rights, grant options included, go. */
const SCHEMA_GRANTEES_SQL = `
select distinct case when a.grantee operator(pg_catalog.=) 0 then 'public'
                     else pg_catalog.quote_ident(r.rolname::pg_catalog.text) end as grantee
  from pg_catalog.pg_namespace n
  cross join lateral pg_catalog.aclexplode(n.nspacl) a
  left join pg_catalog.pg_roles r on r.oid operator(pg_catalog.=) a.grantee
 where n.nspname operator(pg_catalog.=) $1 and a.grantee operator(pg_catalog.<>) n.nspowner`;

/**
 * The operator class. Its family is tested (and a family left behind by a dropped class is
 * dropped) on its own: `drop operator class` leaves the implicit family and its operator entry.
 */
const OPCLASS_SQL = `
do $$
declare trgm pg_catalog.name := (select n.nspname from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) e.extnamespace
                                 where e.extname operator(pg_catalog.=) 'pg_trgm');
begin
  if not exists (select from pg_catalog.pg_opclass c join pg_catalog.pg_namespace n on n.oid operator(pg_catalog.=) c.opcnamespace
                   join pg_catalog.pg_am a on a.oid operator(pg_catalog.=) c.opcmethod
                 where n.nspname operator(pg_catalog.=) '${SEARCH_SCHEMA}' and c.opcname operator(pg_catalog.=) 'gin_contains_ops'
                   and a.amname operator(pg_catalog.=) 'gin') then
    drop operator family if exists ${SEARCH_SCHEMA}.gin_contains_ops using gin;
    execute pg_catalog.format($f$
      create operator class ${SEARCH_SCHEMA}.gin_contains_ops for type text using gin as
        operator 4 ${SEARCH_SCHEMA}.~~~* (text, text),
        function 1 pg_catalog.btint4cmp(int4, int4),
        function 2 %1$I.gin_extract_value_trgm(text, internal),
        function 3 %1$I.gin_extract_query_trgm(text, internal, int2, internal, internal, internal, internal),
        function 4 %1$I.gin_trgm_consistent(internal, int2, text, int4, internal, internal, internal, internal),
        function 6 %1$I.gin_trgm_triconsistent(internal, int2, text, int4, internal, internal, internal),
        storage int4$f$, trgm);
  end if;
end $$`;

/**
 * The search indexes, as migration 021's `app_private.ensure_search_indexes()` builds them (keep
 * the two in step; test/db/search-security.test.ts compares them). Here from this text, run by
 * the superuser: that function belongs to gateway_owner and must not run as a superuser.
 */
export const SEARCH_INDEXES: ReadonlyArray<readonly [name: string, definition: string]> = [
  [
    'definitions_search',
    `app_public.definitions using gin (org_id, kind, name ${SEARCH_SCHEMA}.gin_contains_ops, description ${SEARCH_SCHEMA}.gin_contains_ops)`,
  ],
  ['connections_search', `app_public.connections using gin (org_id, customer_id, name ${SEARCH_SCHEMA}.gin_contains_ops)`],
  [
    'customers_search',
    `app_public.customers using gin (org_id, name ${SEARCH_SCHEMA}.gin_contains_ops, slug ${SEARCH_SCHEMA}.gin_contains_ops)`,
  ],
  // People (migration 022): members by their user's name and email (copies on the membership).
  [
    'memberships_search',
    `app_public.memberships using gin (org_id, user_name ${SEARCH_SCHEMA}.gin_contains_ops, user_email ${SEARCH_SCHEMA}.gin_contains_ops)`,
  ],
  ['invitations_search', `app_public.invitations using gin (org_id, email ${SEARCH_SCHEMA}.gin_contains_ops)`],
];

/** The table and the columns an index definition of SEARCH_INDEXES names. */
function indexedColumns(definition: string): { table: string; columns: string[] } {
  const [, table, list] = /^(\S+) using gin \((.*)\)$/.exec(definition)!;
  return { table: table!, columns: list!.split(',').map((c) => c.trim().split(' ')[0]!) };
}

/** Every name qualified, and this too: the startup packet's option outranks database and role defaults. */
export const PINNED_SEARCH_PATH_OPTION = '-c search_path=pg_catalog,pg_temp';

export interface SearchBootstrapReport {
  /** The leakproof operator and its index operator class exist in the database. */
  indexed: boolean;
  /** Why not, when not. */
  reason?: string;
  /** Search indexes built now (a database migrated before this step). */
  indexesBuilt: number;
}

async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query('begin');
  try {
    await fn();
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

/**
 * Idempotent. Runs as a superuser connected to the gateway's database (an ALTER or CREATE here
 * changes that database's catalogue only; a database cloned from it as a template inherits it),
 * on a connection opened with PINNED_SEARCH_PATH_OPTION (set again here, for any other caller).
 * Never throws for the search part: without a superuser (a managed server), or when a step
 * fails, it reports `indexed: false` and why, and search works unindexed.
 */
export async function enableIndexedSearch(client: pg.Client): Promise<SearchBootstrapReport> {
  await client.query('set search_path = pg_catalog, pg_temp');
  const su = await client.query(
    'select r.rolsuper as superuser from pg_catalog.pg_roles r where r.rolname operator(pg_catalog.=) current_user',
  );
  if (su.rows[0]?.superuser !== true) {
    return {
      indexed: false,
      reason: 'not a superuser: only a superuser can define the leakproof search operator',
      indexesBuilt: 0,
    };
  }
  try {
    // 1. The schema, function and operator need nothing but a superuser. All three become the
    // superuser's: no one else may drop, replace or re-estimate them, or create in the schema.
    await inTransaction(client, async () => {
      await client.query(`create schema if not exists ${SEARCH_SCHEMA}`);
      await client.query(`alter schema ${SEARCH_SCHEMA} owner to current_user`);
      // Every earlier grant goes, with what was granted on from it (a grant option handed to
      // pg_database_owner, which the database's owner is a member of: review G2).
      const grantees = await client.query(SCHEMA_GRANTEES_SQL, [SEARCH_SCHEMA]);
      for (const { grantee } of grantees.rows) {
        await client.query(`revoke all on schema ${SEARCH_SCHEMA} from ${grantee} cascade`);
      }
      await client.query(`revoke all on schema ${SEARCH_SCHEMA} from public, ${OWNER_ROLE}, ${APP_ROLE} cascade`);
      await client.query(`grant usage on schema ${SEARCH_SCHEMA} to ${OWNER_ROLE}, ${APP_ROLE}`);
    });
    await inTransaction(client, async () => {
      // Migration 021 may have created a plain stand-in owned by gateway_owner: replaced (which
      // also drops any SET or SECURITY DEFINER it was given), then ours.
      await client.query(FUNCTION_SQL);
      await client.query(`alter function ${SEARCH_SCHEMA}.contains_ci(text, text) owner to current_user`);
      await client.query(OPERATOR_SQL);
    });
    // What gateway_owner created in the schema while it owned it stays its own: an extension
    // script run in that schema could resolve a name to it. Refuse until it is gone.
    const foreign = await client.query(FOREIGN_OBJECTS_SQL, [SEARCH_SCHEMA]);
    if (foreign.rows[0].what) {
      throw new Error(
        `schema ${SEARCH_SCHEMA} holds objects a non-superuser owns (${foreign.rows[0].what}): drop them, then run this again`,
      );
    }
    // 2. The index operator class needs pg_trgm (and the org-leading index btree_gin): contrib
    // modules a server may lack. Without them search works as before, unindexed.
    await inTransaction(client, async () => {
      for (const extension of ['pg_trgm', 'btree_gin']) {
        const found = await client.query('select from pg_catalog.pg_extension where extname operator(pg_catalog.=) $1', [
          extension,
        ]);
        if (found.rowCount === 0) await client.query(`create extension ${extension} schema ${SEARCH_SCHEMA}`);
      }
      const owners = await client.query<{ name: string; superuser: boolean }>(EXTENSION_OWNERS_SQL, [['pg_trgm', 'btree_gin']]);
      const foreignExtensions = owners.rows.filter((e) => !e.superuser).map((e) => e.name);
      if (foreignExtensions.length > 0) {
        throw new Error(
          `extension ${foreignExtensions.join(', ')} is owned by a non-superuser: drop it as a superuser (drop extension … cascade), then run this again`,
        );
      }
      await client.query(OPCLASS_SQL);
    });
  } catch (error) {
    return { indexed: false, reason: (error as Error).message, indexesBuilt: 0 };
  }
  // 3. A database migrated before this step: build the indexes migration 021 could not (plain
  // CREATE INDEX: writes to the table wait for the build; README, "Indexed search").
  let indexesBuilt = 0;
  const migrated = await client.query(`select pg_catalog.to_regclass('app_public.definitions') is not null as migrated`);
  if (migrated.rows[0].migrated) {
    for (const [name, definition] of SEARCH_INDEXES) {
      const exists = await client.query('select pg_catalog.to_regclass($1) is not null as exists', [`app_public.${name}`]);
      if (exists.rows[0].exists) continue;
      // A database migrated to before the migration that adds an index's columns (022 for People's):
      // that migration builds it (ensure_search_indexes) when it runs.
      const { table, columns } = indexedColumns(definition);
      const present = await client.query(
        `select pg_catalog.count(*)::pg_catalog.int4 as n from pg_catalog.pg_attribute
          where attrelid operator(pg_catalog.=) pg_catalog.to_regclass($1) and attname operator(pg_catalog.=) any($2::pg_catalog.name[])
            and not attisdropped`,
        [table, columns],
      );
      if (present.rows[0].n !== columns.length) continue;
      await client.query(`create index ${name} on ${definition} with (fastupdate = off)`);
      indexesBuilt += 1;
    }
  }
  return { indexed: true, indexesBuilt };
}
