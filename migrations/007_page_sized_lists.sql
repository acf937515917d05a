-- 007 page-sized lists: a list page must cost O(page), not O(organization).
--
-- Why:
--  * Policy shape decides the plan. Written `org_id = (select current_org_id()) and
--    (select current_access()) = 'staff'`, the second clause compares two values the planner
--    cannot see (an init-plan parameter and a constant) and is estimated at 0.5 % of rows: the
--    planner then believes an ordered index scan must read the whole organization to fill a
--    page, and prefers a bitmap scan of all its rows plus a sort (17.6 ms for 51 of 4,000
--    workflows). Folding the access check into the value `org_id` is compared with —
--    `org_id = (select current_staff_org_id())`, NULL (no rows) unless the request is staff —
--    leaves one index condition, and the page is an ordered index scan over ~51 rows (0.95 ms).
--    Where a customer-confined request narrows further, the narrowing's "or staff" arm is one
--    boolean parameter, which the planner estimates at 50 %, not 0.5 %.
--    Every PERMISSIVE policy below is dropped and recreated with the same rows visible and the
--    same WITH CHECK; RESTRICTIVE policies (later migrations) are not touched.
--  * Indexes for every order and indexed filter the API offers, `org_id` leading and the id
--    tie-breaker last, so keyset pages read only the page.
--  * People are sorted by name (or email): the member's sort key lives on the membership
--    (`sort_key`, kept in step with the user's name and email by triggers), so the People list
--    is a merge of two ordered index scans instead of a sort of the organization.

-------------------------------------------------------------------------------
-- The organization a staff request may see: NULL (matches nothing) for anything else.
-------------------------------------------------------------------------------
create function app_public.current_staff_org_id() returns uuid
language sql stable parallel safe as $$
  select case when app_public.current_access() = 'staff' then app_public.current_org_id() end
$$;
grant execute on function app_public.current_staff_org_id() to gateway_app;

-------------------------------------------------------------------------------
-- Policies, recreated in the planner-friendly form (same rows, same checks).
-------------------------------------------------------------------------------

-- Users: yourself, and members of the organization you are acting in (staff only).
drop policy select_self_or_colleague on app_public.users;
create policy select_self_or_colleague on app_public.users for select using (
  id = (select app_public.current_user_id())
  or exists (
    select 1 from app_public.memberships m
    where m.user_id = users.id and m.org_id = (select app_public.current_staff_org_id())
  )
);

-- Organizations: the one you act in (staff, or a customer-confined request with its customer),
-- and those you are an active member of.
drop policy select_member on app_public.organizations;
create policy select_member on app_public.organizations for select using (
  id = (select case
          when app_public.current_access() = 'staff'
            or (app_public.current_access() = 'customer' and app_public.current_tenant_id() is not null)
          then app_public.current_org_id()
        end)
  or exists (
    select 1 from app_public.memberships m
    where m.org_id = organizations.id and m.user_id = (select app_public.current_user_id()) and m.status = 'active'
  )
);
drop policy insert_current on app_public.organizations;
create policy insert_current on app_public.organizations for insert
  with check (id = (select app_public.current_staff_org_id()));
drop policy update_current on app_public.organizations;
create policy update_current on app_public.organizations for update
  using (id = (select app_public.current_staff_org_id()));
drop policy delete_current on app_public.organizations;
create policy delete_current on app_public.organizations for delete
  using (id = (select app_public.current_staff_org_id()));

-- Org-internal tables: staff of the current organization only.
do $$
declare
  t text;
begin
  foreach t in array array['roles', 'role_permissions', 'definitions', 'definition_versions', 'definition_deployments',
                           'teams', 'team_members', 'invitations', 'invitation_teams', 'join_requests']
  loop
    execute format('drop policy staff_all on app_public.%I', t);
    execute format(
      'create policy staff_all on app_public.%I for all
         using (org_id = (select app_public.current_staff_org_id()))
         with check (org_id = (select app_public.current_staff_org_id()))', t);
  end loop;
end $$;

-- Memberships: staff see their organization's; everyone sees their own (the org switcher).
drop policy select_staff_or_self on app_public.memberships;
create policy select_staff_or_self on app_public.memberships for select using (
  org_id = (select app_public.current_staff_org_id())
  or user_id = (select app_public.current_user_id())
);
drop policy write_staff on app_public.memberships;
create policy write_staff on app_public.memberships for insert
  with check (org_id = (select app_public.current_staff_org_id()));
drop policy update_staff on app_public.memberships;
create policy update_staff on app_public.memberships for update
  using (org_id = (select app_public.current_staff_org_id()))
  with check (org_id = (select app_public.current_staff_org_id()));
drop policy delete_staff on app_public.memberships;
create policy delete_staff on app_public.memberships for delete
  using (org_id = (select app_public.current_staff_org_id()));

-- Customers: staff see every customer of the organization; a customer-confined request its own.
drop policy select_tenant on app_public.customers;
create policy select_tenant on app_public.customers for select
  using (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access() = 'staff') or id = (select app_public.current_tenant_id()))
  );
drop policy insert_staff on app_public.customers;
create policy insert_staff on app_public.customers for insert
  with check (org_id = (select app_public.current_staff_org_id()));
drop policy update_staff on app_public.customers;
create policy update_staff on app_public.customers for update
  using (org_id = (select app_public.current_staff_org_id()))
  with check (org_id = (select app_public.current_staff_org_id()));
drop policy delete_staff on app_public.customers;
create policy delete_staff on app_public.customers for delete
  using (org_id = (select app_public.current_staff_org_id()));

-- Executions: a customer reads and queues its own runs; only staff change a run.
drop policy select_tenant on app_public.executions;
create policy select_tenant on app_public.executions for select
  using (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access() = 'staff') or customer_id = (select app_public.current_tenant_id()))
  );
drop policy insert_tenant on app_public.executions;
create policy insert_tenant on app_public.executions for insert
  with check (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access() = 'staff') or customer_id = (select app_public.current_tenant_id()))
  );
drop policy update_staff on app_public.executions;
create policy update_staff on app_public.executions for update
  using (org_id = (select app_public.current_staff_org_id()))
  with check (org_id = (select app_public.current_staff_org_id()));

-- Audit: only staff read it (the insert policy has no staff clause and stays as it is).
drop policy select_staff on app_public.audit_events;
create policy select_staff on app_public.audit_events for select
  using (org_id = (select app_public.current_staff_org_id()));

-- Connections: staff see every connection of the organization; a customer-confined request its
-- customer's shared connections and its own per-user ones.
drop policy tenant_all on app_public.connections;
create policy tenant_all on app_public.connections for all
  using (
    org_id = (select app_public.current_org_id())
    and (
      (select app_public.current_access() = 'staff')
      or (customer_id = (select app_public.current_tenant_id())
          and (scope = 'shared' or owner_user_id = (select app_public.current_user_id())))
    )
  )
  with check (
    org_id = (select app_public.current_org_id())
    and (
      (select app_public.current_access() = 'staff')
      or (customer_id = (select app_public.current_tenant_id())
          and (scope = 'shared' or owner_user_id = (select app_public.current_user_id())))
    )
  );

-------------------------------------------------------------------------------
-- Indexes: one per order the API offers (and per indexed filter under the default order).
-------------------------------------------------------------------------------
-- Sort keys as stored columns: under RLS only leakproof comparisons may become index conditions
-- (a policy must filter first), and lower() or coalesce() are not; `(name_key, id) > ($1, $2)` is.
alter table app_public.definitions add column name_key text generated always as (lower(name)) stored;
-- Customers' key is a plain column set by a trigger rather than a generated one: column-checking
-- triggers that compare whole rows (to_jsonb(new) vs old) must see it unchanged in BEFORE UPDATE,
-- where a generated column is not yet computed.
alter table app_public.customers add column name_key text not null default '';
alter table app_public.customers no force row level security;
update app_public.customers set name_key = lower(name);
alter table app_public.customers force row level security;
create function app_private.set_customer_name_key() returns trigger
language plpgsql as $$
begin
  new.name_key := lower(new.name);
  return new;
end $$;
-- Named to fire after every other BEFORE trigger (they fire in name order).
create trigger zz_customers_name_key before insert or update on app_public.customers
  for each row execute function app_private.set_customer_name_key();
-- A run names a definition or a connection, never both: one column for "what ran".
alter table app_public.executions add column target_id uuid generated always as (coalesce(definition_id, connection_id)) stored;

-- Definitions: created_at and updated_at orders exist (001); by name, and "created by".
create index definitions_name_order on app_public.definitions (org_id, kind, name_key, id);
create index definitions_created_by on app_public.definitions (org_id, kind, created_by, created_at desc, id desc);

-- Executions: by customer (a customer-confined request always is), by status, by what ran.
drop index app_public.executions_customer;
create index executions_customer on app_public.executions (org_id, customer_id, created_at desc, id desc);
create index executions_status on app_public.executions (org_id, status, created_at desc, id desc);
create index executions_target on app_public.executions (org_id, target_id, created_at desc, id desc);

-- Customers by name.
create index customers_name_order on app_public.customers (org_id, name_key, id);

-- Connections: newest first (per customer exists, 003), per connector.
create index connections_created on app_public.connections (org_id, created_at desc, id desc);
drop index app_public.connections_connector;
create index connections_connector on app_public.connections (org_id, connector_id, created_at desc, id desc);

-- Audit log: newest first (001), per actor and per action with the id tie-breaker.
drop index app_public.audit_events_actor;
create index audit_events_actor on app_public.audit_events (org_id, actor_user_id, occurred_at desc, id desc);
drop index app_public.audit_events_action;
create index audit_events_action on app_public.audit_events (org_id, action, occurred_at desc, id desc);

-- Join requests, newest first per status (a plain list of at most 500).
create index join_requests_recent on app_public.join_requests (org_id, status, created_at desc, id desc);

-- Teams by name; custom roles by name (system roles, a handful, come first).
create index teams_name_order on app_public.teams (org_id, lower(name), id);
create index roles_custom_name_order on app_public.roles (org_id, lower(name), id) where system_key is null;

-------------------------------------------------------------------------------
-- People: members by their user's name (or email), pending invitations by email.
-------------------------------------------------------------------------------
alter table app_public.memberships add column sort_key text not null default '';
-- The owner is subject to forced RLS; a backfill inside this transaction needs it lifted.
alter table app_public.memberships no force row level security;
update app_public.memberships m set sort_key = lower(coalesce(u.name, u.email, ''))
from app_public.users u where u.id = m.user_id;
alter table app_public.memberships force row level security;
create index memberships_people_order on app_public.memberships (org_id, sort_key, id);
create index invitations_people_order on app_public.invitations (org_id, email, id) where status = 'pending';

-- SECURITY DEFINER: a membership's sort key comes from its user's row, which the inserting
-- request (an invitation being accepted, a domain join) may not be allowed to read.
create function app_private.set_membership_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  new.sort_key := coalesce((select lower(coalesce(u.name, u.email, '')) from app_public.users u where u.id = new.user_id), '');
  return new;
end $$;
create trigger memberships_sort_key before insert or update of user_id on app_public.memberships
  for each row execute function app_private.set_membership_sort_key();

-- SECURITY DEFINER: a user's new name re-sorts their memberships in every organization, which
-- the identity upsert (bound to none of them) cannot see. Binds each organization in turn, as
-- the other definer functions do, and restores the caller's settings.
create function app_private.resort_memberships_of_user() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  saved_user text := current_setting('app.user_id', true);
  v_org uuid;
begin
  perform set_config('app.user_id', new.id::text, true);
  for v_org in select m.org_id from app_public.memberships m where m.user_id = new.id loop
    perform set_config('app.org_id', v_org::text, true), set_config('app.role', 'staff', true);
    update app_public.memberships set sort_key = lower(coalesce(new.name, new.email, ''))
    where org_id = v_org and user_id = new.id;
  end loop;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true),
    set_config('app.user_id', coalesce(saved_user, ''), true);
  return null;
end $$;
create trigger users_resort_memberships after update of name, email on app_public.users
  for each row when ((old.name, old.email) is distinct from (new.name, new.email))
  execute function app_private.resort_memberships_of_user();

revoke execute on all functions in schema app_private from public;
