-- 021: substring search (`search` on workflows, connectors, agents, tools, connections and
-- customers) through an index, under forced RLS (issue 10: a page costs O(page)).
--  * The gateway matches with the operator gateway_search.~~~* (ILIKE on the `%…%` patterns it
--    builds). Under RLS only a LEAKPROOF condition can be an index condition, and only a
--    superuser can declare one: `db:bootstrap` defines the leakproof operator and its pg_trgm
--    GIN operator class (src/db/search-bootstrap.ts says why ILIKE itself is not leakproof and
--    why that one is). Where that step has not run, this migration defines a plain ILIKE
--    stand-in under the same name, and builds no index (search then reads until a page fills,
--    as before; the gateway, seeing no index, sends plain ILIKE and needs neither).
--  * app_private.ensure_search_indexes() builds the GIN indexes when the operator class exists;
--    called here, as the owner. Indexes lead with org_id (btree_gin): a search reads its own
--    organization's entries only; the connections index with (org_id, customer_id): a
--    customer-confined search reads its own customer's. fastupdate off: no pending list that
--    every search would scan after a burst of writes. db:bootstrap (a database migrated before
--    it) builds the same indexes from its own text (src/db/search-bootstrap.ts SEARCH_INDEXES):
--    it never calls this function, which gateway_owner owns, as a superuser.
--  * The operator's estimators are constant (contsel): ILIKE's would evaluate the leakproof
--    function on other tenants' planner statistics (src/db/search-bootstrap.ts, review F3).

do $$
begin
  if to_regnamespace('gateway_search') is null then
    create schema gateway_search;
  end if;
  if (select nspowner from pg_namespace where nspname = 'gateway_search') = (select oid from pg_roles where rolname = current_user) then
    grant usage on schema gateway_search to gateway_app;
  end if;
  if to_regprocedure('gateway_search.contains_ci(text,text)') is null then
    -- The stand-in: plain ILIKE (inlined, not leakproof: no index condition under RLS).
    create function gateway_search.contains_ci(haystack text, pattern text) returns boolean
      language sql immutable strict parallel safe as 'select haystack operator(pg_catalog.~~*) pattern';
  end if;
  if to_regoperator('gateway_search.~~~*(text,text)') is null then
    create operator gateway_search.~~~* (leftarg = text, rightarg = text, function = gateway_search.contains_ci,
      restrict = pg_catalog.contsel, join = pg_catalog.contjoinsel);
  end if;
end $$;

create function app_private.ensure_search_indexes() returns int
language plpgsql as $$
declare
  built int := 0;
  wanted text[][] := array[
    ['definitions_search', 'app_public.definitions (org_id, kind, name gateway_search.gin_contains_ops, description gateway_search.gin_contains_ops)'],
    ['connections_search', 'app_public.connections (org_id, customer_id, name gateway_search.gin_contains_ops)'],
    ['customers_search', 'app_public.customers (org_id, name gateway_search.gin_contains_ops, slug gateway_search.gin_contains_ops)']
  ];
  i int;
begin
  if not exists (select 1 from pg_opclass c join pg_namespace n on n.oid = c.opcnamespace join pg_am a on a.oid = c.opcmethod
                 where n.nspname = 'gateway_search' and c.opcname = 'gin_contains_ops' and a.amname = 'gin')
     or not exists (select 1 from pg_opclass c join pg_am a on a.oid = c.opcmethod
                    where c.opcintype = 'uuid'::regtype and c.opcdefault and a.amname = 'gin') then
    raise notice 'search indexes not built: run db:bootstrap as a superuser (leakproof search operator, pg_trgm, btree_gin)';
    return 0;
  end if;
  for i in 1 .. array_length(wanted, 1) loop
    if to_regclass('app_public.' || wanted[i][1]) is null then
      execute format('create index %I on %s using gin %s with (fastupdate = off)',
        wanted[i][1], split_part(wanted[i][2], ' ', 1), substr(wanted[i][2], strpos(wanted[i][2], ' ') + 1));
      built := built + 1;
    end if;
  end loop;
  return built;
end $$;
revoke all on function app_private.ensure_search_indexes() from public;

select app_private.ensure_search_indexes();
