-- 024 (issue 10, "a page costs O(page) … every order and filter the API offers"): a filter on a
-- column with a handful of values (a status, a kind, an outcome, a region) had no index in the
-- list's order. The page walked the list's order index and checked the filter on each row, which
-- reads about page ÷ (the share of rows that match): fine for a common value, the whole
-- organization for a rare one — and the rare ones are what such filters are for (the denied
-- events in a million-row audit log, the few failed syncs, the one suspended customer).
--
-- Each such filter gets an index `(org_id, <filter column>, <the list's order>, id)`: an equality
-- on the second column, then an ordered scan of exactly the matching rows, whatever their share.
-- The conditions are plain text equalities (leakproof, so they can be index conditions under RLS;
-- CONVENTIONS.md). test/db/list-plans.test.ts checks each filter with a rare value (1 row in 400)
-- as well as a common one.
--
--  * people: status and role (memberships; the role index makes memberships_role, its prefix,
--    redundant: 025 drops it), and role for the pending invitations the list shows beside the
--    members (by email, like invitations_people_order). With a team as well: 025;
--  * customers: status and region;
--  * connections: status, sync status and scope;
--  * executions: target kind (status, target, customer already had theirs, 007/017), and a status
--    within one customer (an End User's runs are confined to theirs: a status rare for a customer
--    with many runs read all of them);
--  * API keys and runners (service principals): kind (environment and status had theirs, 017);
--  * audit log: outcome, resource type and actor type (the `system` filter); action and actor
--    already had theirs (007).
-- Only indexes: no columns, policies or grants change. Each build takes a SHARE lock on its table
-- (writes wait, reads go on) until the migration commits; the part that must lock reads too is a
-- migration of its own (025), so it never waits while holding these.

create index memberships_status_order on app_public.memberships (org_id, status, sort_key, id);
create index memberships_role_order on app_public.memberships (org_id, role_id, sort_key, id);
create index invitations_role_order on app_public.invitations (org_id, role_id, email, id) where status = 'pending';

create index customers_status_order on app_public.customers (org_id, status, name_key, id);
create index customers_region_order on app_public.customers (org_id, region, name_key, id);

create index connections_status_order on app_public.connections (org_id, status, created_at desc, id desc);
create index connections_sync_status_order on app_public.connections (org_id, sync_status, created_at desc, id desc);
create index connections_scope_order on app_public.connections (org_id, scope, created_at desc, id desc);

create index service_principals_kind_order on app_public.service_principals (org_id, kind, created_at desc, id desc);

create index executions_target_kind_order on app_public.executions (org_id, target_kind, created_at desc, id desc);
create index executions_customer_status_order on app_public.executions (org_id, customer_id, status, created_at desc, id desc);

create index audit_events_outcome_order on app_public.audit_events (org_id, outcome, occurred_at desc, id desc);
create index audit_events_resource_type_order on app_public.audit_events (org_id, resource_type, occurred_at desc, id desc);
create index audit_events_actor_type_order on app_public.audit_events (org_id, actor_type, occurred_at desc, id desc);
