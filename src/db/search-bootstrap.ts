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
 * PostgreSQL 15 with pg_trgm, see notes/search.md). That trades RLS for speed, database-wide.
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
 *  - the operator `~~~*` over it, estimated like ILIKE, and `gin_contains_ops`: pg_trgm's GIN
 *    support functions with that operator as the ILIKE strategy (4), so pg_trgm extracts the
 *    trigrams of `%term%` exactly as for ILIKE and rechecks with the leakproof function.
 *  - pg_trgm and btree_gin (the index leads with `org_id`: a search reads one organization's
 *    entries of the index, never another tenant's).
 * Migration 021 builds the indexes when the operator class is there (and defines a plain ILIKE
 * stand-in for the operator when it is not, so the same SQL runs either way).
 */
import pg from 'pg';
import { APP_ROLE, OWNER_ROLE } from './bootstrap.js';

export const SEARCH_SCHEMA = 'gateway_search';

/** The patterns `containsPattern` produces: `%`, then literal or escaped characters, then `%`. */
const FUNCTION_SQL = `
create or replace function ${SEARCH_SCHEMA}.contains_ci(haystack text, pattern text) returns boolean
language plpgsql immutable strict leakproof parallel safe as $$
begin
  if octet_length(pattern) > 67108864 or octet_length(haystack) > 67108864
     or pattern operator(pg_catalog.!~) '^%([^\\\\%_]|\\\\.)*%$' then
    return null;
  end if;
  return haystack operator(pg_catalog.~~*) pattern;
end $$`;

const OPERATOR_SQL = `
do $$ begin
  if to_regoperator('${SEARCH_SCHEMA}.~~~*(text,text)') is null then
    create operator ${SEARCH_SCHEMA}.~~~* (leftarg = text, rightarg = text, function = ${SEARCH_SCHEMA}.contains_ci,
      restrict = iclikesel, join = iclikejoinsel);
  end if;
end $$`;

const OPCLASS_SQL = `
do $$
declare trgm name := (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm');
begin
  if not exists (select 1 from pg_opclass c join pg_namespace n on n.oid = c.opcnamespace join pg_am a on a.oid = c.opcmethod
                 where n.nspname = '${SEARCH_SCHEMA}' and c.opcname = 'gin_contains_ops' and a.amname = 'gin') then
    execute format($f$
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

export interface SearchBootstrapReport {
  /** The leakproof operator and its index operator class exist in the database. */
  indexed: boolean;
  /** Why not, when not. */
  reason?: string;
  /** Search indexes built now (a database migrated before this step). */
  indexesBuilt: number;
}

/**
 * Idempotent. Runs as a superuser connected to the gateway's database (an ALTER or CREATE here
 * changes that database's catalogue only; a database cloned from it as a template inherits it).
 */
export async function enableIndexedSearch(client: pg.Client): Promise<SearchBootstrapReport> {
  // 1. The function and its operator need nothing but a superuser.
  await client.query('begin');
  try {
    await client.query(`create schema if not exists ${SEARCH_SCHEMA}`);
    await client.query(`grant usage on schema ${SEARCH_SCHEMA} to ${OWNER_ROLE}, ${APP_ROLE}`);
    await client.query(FUNCTION_SQL);
    // Migration 021 may have created a plain stand-in owned by the schema owner: the leakproof
    // function belongs to the superuser, so no one else can replace its body.
    await client.query(`alter function ${SEARCH_SCHEMA}.contains_ci(text, text) owner to current_user`);
    await client.query(OPERATOR_SQL);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
  // 2. The index operator class needs pg_trgm (and the org-leading index btree_gin): contrib
  // modules a server may lack. Without them search works as before, unindexed.
  await client.query('begin');
  try {
    for (const extension of ['pg_trgm', 'btree_gin']) {
      const found = await client.query('select 1 from pg_extension where extname = $1', [extension]);
      if (found.rowCount === 0) await client.query(`create extension ${extension} schema ${SEARCH_SCHEMA}`);
    }
    await client.query(OPCLASS_SQL);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    return { indexed: false, reason: (error as Error).message, indexesBuilt: 0 };
  }
  // 3. A database migrated before this step: build the indexes migration 021 could not.
  let indexesBuilt = 0;
  const ensure = await client.query(`select to_regprocedure('app_private.ensure_search_indexes()') is not null as defined`);
  if (ensure.rows[0].defined) {
    indexesBuilt = (await client.query('select app_private.ensure_search_indexes() as n')).rows[0].n;
  }
  return { indexed: true, indexesBuilt };
}
