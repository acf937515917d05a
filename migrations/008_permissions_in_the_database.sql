-- 008 permissions in the database: defense in depth behind the schema's scopes. Until now any
-- staff binding could write every org-internal row in raw SQL (a member holding only
-- workflows.read could insert a workflow and delete a customer); only the GraphQL scopes
-- stopped it. Now:
--  * the request's effective permissions are bound with the other settings (`app.permissions`,
--    a text[] literal such as '{workflows.read,workflows.update}'), read fail-closed;
--  * RESTRICTIVE policies (they AND with the permissive tenancy policies, whatever form those
--    take) require, for every write of every table behind a gated operation, the permission
--    that operation needs; Owner-only capabilities require the bound user to be the Owner;
--  * some reads require their read permission (see CONVENTIONS.md for which, and why not all);
--  * cross-tenant bookkeeping in app_private (the token-refresh schedule, authorization
--    versions) is no longer readable by the app role except through definer functions that
--    answer only for the bound organization (or, for the refresher, only outside a request).
--
-- The permission policies are `to gateway_app`: they bound what a request may do. SECURITY
-- DEFINER functions run as the owner and are the declared exceptions (each checks the bound user
-- itself: touch_member, accept_invitation, request_to_join), as are the owner's maintenance jobs.

-------------------------------------------------------------------------------
-- Reading the bound permissions. Strict format or nothing: '{key,key,...}' with keys shaped like
-- the catalogue's (`^[a-z_]+\.[a-z_]+$`), no quotes, no spaces, no NULL. Unset, empty or
-- malformed reads as NULL, and NULL holds no permission.
-------------------------------------------------------------------------------
create function app_public.current_permissions() returns text[]
language sql stable parallel safe as $$
  select case when s ~ '^\{([a-z_]+\.[a-z_]+(,[a-z_]+\.[a-z_]+)*)?\}$' then s::text[] end
  from (select nullif(current_setting('app.permissions', true), '') as s) as setting
$$;

-- Does the request hold this permission? Wrap it in a scalar sub-select in policies,
-- `(select app_private.has_permission('workflows.update'))`, so it is an initplan evaluated
-- once per statement.
create function app_private.has_permission(p_key text) returns boolean
language sql stable parallel safe as $$
  select coalesce(p_key = any (app_public.current_permissions()), false)
$$;

-- Any permission of a category (`workflows` → workflows.*): who may see a definition at all.
create function app_private.has_category(p_category text) returns boolean
language sql stable parallel safe as $$
  select coalesce(exists (select 1 from unnest(app_public.current_permissions()) as p(key)
                          where split_part(p.key, '.', 1) = p_category), false)
$$;

-- The permission category of a definition kind. Unknown kinds have none (and so need what
-- nobody holds).
create function app_private.definition_category(p_kind text) returns text
language sql immutable parallel safe as $$
  select case p_kind when 'connector' then 'connectors' when 'workflow' then 'workflows'
                     when 'agent' then 'agents' when 'tool' then 'tools' end
$$;

-- May the request do `p_action` (create, update, delete, deploy_test…) to a definition of this
-- kind? NULL kind or category: no.
create function app_private.may_act_on_kind(p_kind text, p_action text) returns boolean
language sql stable parallel safe as $$
  select coalesce(app_private.has_permission(app_private.definition_category(p_kind) || '.' || p_action), false)
$$;

-- The same for a definition named by id, for rows that do not carry their kind
-- (definition_versions). VOLATILE on purpose: createDefinition inserts the definition and its
-- first version in one statement (a data-modifying CTE), and only a volatile function sees the
-- row inserted earlier in the same statement; a stable one (or a plain sub-select in the policy)
-- reads the statement's snapshot and would refuse every new definition. Runs as the caller, so
-- it sees only definitions the caller may see.
create function app_private.may_act_on_definition(p_org_id uuid, p_definition_id uuid, p_action text) returns boolean
language sql volatile as $$
  select coalesce((select app_private.may_act_on_kind(d.kind, p_action)
                   from app_public.definitions d where d.org_id = p_org_id and d.id = p_definition_id), false)
$$;

-- Is the bound user the Owner of the bound organization (an active member holding the Owner
-- system role, acting as staff, with a permission set bound: a binding whose permissions are
-- unset, empty or malformed gets no capability either)? SECURITY DEFINER because a policy on
-- memberships cannot read memberships itself (that is infinite recursion for PostgreSQL); it
-- reads as the owner, still under forced RLS with the caller's settings, so it sees no more than
-- the caller's organization.
create function app_private.bound_user_is_owner() returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select app_public.current_access() = 'staff'
    and coalesce(cardinality(app_public.current_permissions()), 0) > 0
    and exists (
    select 1 from app_public.memberships m
    join app_public.roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.org_id = app_public.current_org_id() and m.user_id = app_public.current_user_id()
      and m.status = 'active' and r.system_key = 'owner')
$$;

-- The bound organization's Owner role, to recognise rows that hold it.
create function app_private.owner_role_id() returns uuid
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select r.id from app_public.roles r
  where r.org_id = app_public.current_org_id() and r.system_key = 'owner'
$$;

-- Has the bound organization no member yet? True only while the transaction that creates it
-- has not added its first Owner: the one moment an Owner membership may be written by someone
-- who is not (yet) the Owner.
create function app_private.organization_without_members() returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select app_public.current_access() = 'staff' and app_public.current_org_id() is not null
    and not exists (select 1 from app_public.memberships m where m.org_id = app_public.current_org_id())
$$;

grant execute on function app_public.current_permissions(), app_private.has_permission(text),
  app_private.has_category(text), app_private.definition_category(text), app_private.may_act_on_kind(text, text),
  app_private.may_act_on_definition(uuid, uuid, text), app_private.bound_user_is_owner(), app_private.owner_role_id(),
  app_private.organization_without_members()
  to gateway_app;

-- What a binding that names a member but no permission set binds: that member's effective
-- permissions in that organization (narrowed to the End User role's in a customer's context),
-- as text for app.permissions; nothing for an inactive member or a non-member. The gateway passes
-- its own (the same set); this serves tools and fixtures, and can never claim more than the
-- member holds.
create function app_private.member_permissions(p_user_id uuid, p_org_id uuid, p_customer_context boolean) returns text
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_permissions text[];
begin
  select p.permissions into v_permissions
  from app_private.resolve_principal(p_user_id, p_org_id) p where p.status = 'active';
  if v_permissions is null then
    return '';
  end if;
  if p_customer_context then
    v_permissions := array(select unnest(v_permissions) intersect
                           select permission_key from app_public.system_role_permissions where role_key = 'end_user'
                           order by 1);
  end if;
  return '{' || array_to_string(v_permissions, ',') || '}';
end $$;
grant execute on function app_private.member_permissions(uuid, uuid, boolean) to gateway_app;

-------------------------------------------------------------------------------
-- Definitions: each kind's own permissions.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.definitions as restrictive for insert to gateway_app
  with check (case kind
    when 'connector' then (select app_private.has_permission('connectors.create'))
    when 'workflow' then (select app_private.has_permission('workflows.create'))
    when 'agent' then (select app_private.has_permission('agents.create'))
    when 'tool' then (select app_private.has_permission('tools.create'))
    else false end);
create policy permission_update on app_public.definitions as restrictive for update to gateway_app
  using (case kind
    when 'connector' then (select app_private.has_permission('connectors.update'))
    when 'workflow' then (select app_private.has_permission('workflows.update'))
    when 'agent' then (select app_private.has_permission('agents.update'))
    when 'tool' then (select app_private.has_permission('tools.update'))
    else false end)
  with check (case kind
    when 'connector' then (select app_private.has_permission('connectors.update'))
    when 'workflow' then (select app_private.has_permission('workflows.update'))
    when 'agent' then (select app_private.has_permission('agents.update'))
    when 'tool' then (select app_private.has_permission('tools.update'))
    else false end);
create policy permission_delete on app_public.definitions as restrictive for delete to gateway_app
  using (case kind
    when 'connector' then (select app_private.has_permission('connectors.delete'))
    when 'workflow' then (select app_private.has_permission('workflows.delete'))
    when 'agent' then (select app_private.has_permission('agents.delete'))
    when 'tool' then (select app_private.has_permission('tools.delete'))
    else false end);
-- Reading: any permission of the kind's category. Not the read permission alone: a role may hold
-- workflows.create or workflows.execute without workflows.read, and its mutations read (and
-- return) the definition they act on.
create policy permission_select on app_public.definitions as restrictive for select to gateway_app
  using (case kind
    when 'connector' then (select app_private.has_category('connectors'))
    when 'workflow' then (select app_private.has_category('workflows'))
    when 'agent' then (select app_private.has_category('agents'))
    when 'tool' then (select app_private.has_category('tools'))
    else false end);

-- Versions carry no kind: their definition's. Version 1 is written by a create, later ones by an
-- update. Nothing rewrites or deletes a version (deleting a definition cascades, as the owner).
create policy permission_insert on app_public.definition_versions as restrictive for insert to gateway_app
  with check (app_private.may_act_on_definition(org_id, definition_id, case when version = 1 then 'create' else 'update' end));
create policy permission_update on app_public.definition_versions as restrictive for update to gateway_app
  using (app_private.may_act_on_definition(org_id, definition_id, 'update'))
  with check (app_private.may_act_on_definition(org_id, definition_id, 'update'));
create policy permission_delete on app_public.definition_versions as restrictive for delete to gateway_app
  using (app_private.may_act_on_definition(org_id, definition_id, 'delete'));

-- Deployments: deploy_test / deploy_prod of the deployment's kind (a production deployment of a
-- connector needs connectors.deploy_prod). Redeploying is an upsert: insert and update alike.
create policy permission_insert on app_public.definition_deployments as restrictive for insert to gateway_app
  with check (app_private.may_act_on_kind(kind, case environment when 'test' then 'deploy_test' when 'production' then 'deploy_prod' end));
create policy permission_update on app_public.definition_deployments as restrictive for update to gateway_app
  using (app_private.may_act_on_kind(kind, case environment when 'test' then 'deploy_test' when 'production' then 'deploy_prod' end))
  with check (app_private.may_act_on_kind(kind, case environment when 'test' then 'deploy_test' when 'production' then 'deploy_prod' end));
create policy permission_delete on app_public.definition_deployments as restrictive for delete to gateway_app
  using (app_private.may_act_on_kind(kind, case environment when 'test' then 'deploy_test' when 'production' then 'deploy_prod' end));

-------------------------------------------------------------------------------
-- Connections. Creating, deleting: their permissions. Updating is three operations on one row
-- (edit: connections.update; test and run actions record the outcome: connections.execute;
-- share/unshare: connections.share): the policy admits any of them, a trigger checks the
-- columns each may change.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.connections as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('connections.create')));
create policy permission_update on app_public.connections as restrictive for update to gateway_app
  using ((select app_private.has_permission('connections.update')) or (select app_private.has_permission('connections.execute'))
         or (select app_private.has_permission('connections.share')))
  with check ((select app_private.has_permission('connections.update')) or (select app_private.has_permission('connections.execute'))
         or (select app_private.has_permission('connections.share')));
create policy permission_delete on app_public.connections as restrictive for delete to gateway_app
  using ((select app_private.has_permission('connections.delete')));

-- Reading: any connections permission, or executions.retry (retrying a connection action checks
-- its connection). Deleting a connector counts its connections through
-- connector_connection_count below, not a read.
create policy permission_select on app_public.connections as restrictive for select to gateway_app
  using ((select app_private.has_category('connections')) or (select app_private.has_permission('executions.retry')));

-- How many connections use a connector (a connector in use cannot be deleted), whatever the
-- caller may read of them. As the owner under forced RLS with the caller's settings: the bound
-- organization only.
create function app_private.connector_connection_count(p_connector_id uuid) returns int
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select count(*)::int from app_public.connections c
  where c.org_id = app_public.current_org_id() and c.connector_id = p_connector_id
$$;
grant execute on function app_private.connector_connection_count(uuid) to gateway_app;

create function app_private.check_connection_update() returns trigger
language plpgsql as $$
begin
  -- The owner (definer functions, maintenance) is not bound by request permissions.
  if current_user <> 'gateway_app' then return new; end if;
  if (new.scope, new.owner_user_id) is distinct from (old.scope, old.owner_user_id)
     and not app_private.has_permission('connections.share') then
    raise exception 'changing who a connection belongs to needs connections.share' using errcode = '42501';
  end if;
  if (new.name, new.credentials, new.credentials_key_id, new.token_expires_at, new.customer_id, new.connector_id)
       is distinct from (old.name, old.credentials, old.credentials_key_id, old.token_expires_at, old.customer_id, old.connector_id)
     and not app_private.has_permission('connections.update') then
    raise exception 'editing a connection needs connections.update' using errcode = '42501';
  end if;
  if (new.status, new.last_error, new.sync_status, new.last_synced_at)
       is distinct from (old.status, old.last_error, old.sync_status, old.last_synced_at)
     and not (app_private.has_permission('connections.update') or app_private.has_permission('connections.execute')) then
    raise exception 'recording a connection''s state needs connections.update or connections.execute' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger connections_permission_columns before update on app_public.connections
  for each row execute function app_private.check_connection_update();

-------------------------------------------------------------------------------
-- Executions: queuing a run needs the target's execute permission; a retry (retry_of set) needs
-- executions.retry. Changing a run (a runner's job, not the gateway's) needs what queuing it
-- needs. There is no delete grant.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.executions as restrictive for insert to gateway_app
  with check (case
    when retry_of is not null then (select app_private.has_permission('executions.retry'))
    when target_kind = 'workflow' then (select app_private.has_permission('workflows.execute'))
    when target_kind = 'agent' then (select app_private.has_permission('agents.execute'))
    when target_kind = 'tool' then (select app_private.has_permission('tools.execute'))
    when target_kind = 'connection' then (select app_private.has_permission('connections.execute'))
    else false end);
create policy permission_update on app_public.executions as restrictive for update to gateway_app
  using (case target_kind
    when 'workflow' then (select app_private.has_permission('workflows.execute'))
    when 'agent' then (select app_private.has_permission('agents.execute'))
    when 'tool' then (select app_private.has_permission('tools.execute'))
    when 'connection' then (select app_private.has_permission('connections.execute'))
    else false end)
  with check (case target_kind
    when 'workflow' then (select app_private.has_permission('workflows.execute'))
    when 'agent' then (select app_private.has_permission('agents.execute'))
    when 'tool' then (select app_private.has_permission('tools.execute'))
    when 'connection' then (select app_private.has_permission('connections.execute'))
    else false end);

-- Reading runs: executions.read, or what queues one (a retry, an execute permission), because
-- those mutations return the run they queued. Counting runs against a customer's monthly limit
-- or showing its usage (customers.read) goes through executions_this_month below, not a read.
create policy permission_select on app_public.executions as restrictive for select to gateway_app
  using ((select app_private.has_permission('executions.read')) or (select app_private.has_permission('executions.retry'))
         or (select app_private.has_permission('workflows.execute')) or (select app_private.has_permission('agents.execute'))
         or (select app_private.has_permission('tools.execute')) or (select app_private.has_permission('connections.execute')));

-- Runs this month (the organization's time zone) per customer, for usage and limits, whatever the
-- caller may read of the runs themselves. SECURITY DEFINER: as the owner, still under forced
-- RLS with the caller's settings, so only customers (and their runs) the caller's binding shows
-- are counted; no permission policy narrows the owner.
create function app_private.executions_this_month(p_customer_ids uuid[])
returns table (customer_id uuid, executions_this_month int)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select c.id,
    (select count(*)::int from app_public.executions e
     where e.org_id = c.org_id and e.customer_id = c.id
       and e.created_at >= (date_trunc('month', now() at time zone o.timezone) at time zone o.timezone))
  from app_public.customers c join app_public.organizations o on o.id = c.org_id
  where c.id = any (p_customer_ids) and c.org_id = app_public.current_org_id()
$$;
grant execute on function app_private.executions_this_month(uuid[]) to gateway_app;

-------------------------------------------------------------------------------
-- Customers: customers.manage; their limits (setCustomerLimits) are billing.manage's. The policy
-- admits either for an update, a trigger checks the columns.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.customers as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('customers.manage')));
create policy permission_update on app_public.customers as restrictive for update to gateway_app
  using ((select app_private.has_permission('customers.manage')) or (select app_private.has_permission('billing.manage')))
  with check ((select app_private.has_permission('customers.manage')) or (select app_private.has_permission('billing.manage')));
create policy permission_delete on app_public.customers as restrictive for delete to gateway_app
  using ((select app_private.has_permission('customers.manage')));

create function app_private.check_customer_update() returns trigger
language plpgsql as $$
begin
  if current_user <> 'gateway_app' then return new; end if;
  if (new.max_connections, new.max_executions_per_month) is distinct from (old.max_connections, old.max_executions_per_month)
     and not app_private.has_permission('billing.manage') then
    raise exception 'changing a customer''s limits needs billing.manage' using errcode = '42501';
  end if;
  if (new.name, new.slug, new.region, new.plan, new.status) is distinct from (old.name, old.slug, old.region, old.plan, old.status)
     and not app_private.has_permission('customers.manage') then
    raise exception 'changing a customer needs customers.manage' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger customers_permission_columns before update on app_public.customers
  for each row execute function app_private.check_customer_update();

-------------------------------------------------------------------------------
-- People: memberships, invitations, join requests, teams and team members need people.manage.
-- A row holding the Owner role is the Owner's alone to change (transfer ownership); the
-- single-Owner constraint trigger still checks the end result at commit.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.memberships as restrictive for insert to gateway_app
  with check (
    (select app_private.has_permission('people.manage'))
    and (role_id <> (select app_private.owner_role_id())
         or (select app_private.bound_user_is_owner())
         -- the organization's first Owner, in the transaction that creates it
         or (user_id = (select app_public.current_user_id()) and (select app_private.organization_without_members())))
  );
create policy permission_update on app_public.memberships as restrictive for update to gateway_app
  using (
    (select app_private.has_permission('people.manage'))
    and (role_id <> (select app_private.owner_role_id()) or (select app_private.bound_user_is_owner()))
  )
  with check (
    (select app_private.has_permission('people.manage'))
    and (role_id <> (select app_private.owner_role_id()) or (select app_private.bound_user_is_owner()))
  );
create policy permission_delete on app_public.memberships as restrictive for delete to gateway_app
  using (
    (select app_private.has_permission('people.manage'))
    and (role_id <> (select app_private.owner_role_id()) or (select app_private.bound_user_is_owner()))
  );

-- Invitations: people.manage; an End User invitation for a customer (inviteCustomerAdmin) also
-- customers.manage.
create policy permission_insert on app_public.invitations as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage'))
              or (customer_id is not null and (select app_private.has_permission('customers.manage'))));
create policy permission_update on app_public.invitations as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')))
  with check ((select app_private.has_permission('people.manage')));
create policy permission_delete on app_public.invitations as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')));

create policy permission_insert on app_public.invitation_teams as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage')));
create policy permission_update on app_public.invitation_teams as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')))
  with check ((select app_private.has_permission('people.manage')));
create policy permission_delete on app_public.invitation_teams as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')));

-- Join requests are filed by app_private.request_to_join (as the owner, for a non-member) and
-- decided by people.manage.
create policy permission_insert on app_public.join_requests as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage')));
create policy permission_update on app_public.join_requests as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')))
  with check ((select app_private.has_permission('people.manage')));
create policy permission_delete on app_public.join_requests as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')));
-- Reading: people.read (the joinRequests list) or people.manage (deciding one re-reads it).
create policy permission_select on app_public.join_requests as restrictive for select to gateway_app
  using ((select app_private.has_permission('people.read')) or (select app_private.has_permission('people.manage')));

create policy permission_insert on app_public.teams as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage')));
create policy permission_update on app_public.teams as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')))
  with check ((select app_private.has_permission('people.manage')));
create policy permission_delete on app_public.teams as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')));

create policy permission_insert on app_public.team_members as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage')));
create policy permission_update on app_public.team_members as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')))
  with check ((select app_private.has_permission('people.manage')));
create policy permission_delete on app_public.team_members as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')));

-------------------------------------------------------------------------------
-- Roles and their grants: roles.manage (creating an organization writes its system roles bound
-- as the new Owner, who holds it).
-------------------------------------------------------------------------------
create policy permission_insert on app_public.roles as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_update on app_public.roles as restrictive for update to gateway_app
  using ((select app_private.has_permission('roles.manage')))
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_delete on app_public.roles as restrictive for delete to gateway_app
  using ((select app_private.has_permission('roles.manage')));

create policy permission_insert on app_public.role_permissions as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_update on app_public.role_permissions as restrictive for update to gateway_app
  using ((select app_private.has_permission('roles.manage')))
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_delete on app_public.role_permissions as restrictive for delete to gateway_app
  using ((select app_private.has_permission('roles.manage')));

-------------------------------------------------------------------------------
-- The organization: its settings need settings.manage; deleting it is the Owner's alone.
-- Creating one is open to any signed-in user (the creator becomes its Owner).
-------------------------------------------------------------------------------
create policy permission_update on app_public.organizations as restrictive for update to gateway_app
  using ((select app_private.has_permission('settings.manage')))
  with check ((select app_private.has_permission('settings.manage')));
create policy owner_delete on app_public.organizations as restrictive for delete to gateway_app
  using ((select app_private.bound_user_is_owner()));

-------------------------------------------------------------------------------
-- The audit trail is read with audit_log.read. (A trigger that must read earlier events while
-- any member's request records one belongs in a SECURITY DEFINER function: this policy binds
-- the app role only.)
-------------------------------------------------------------------------------
create policy permission_select on app_public.audit_events as restrictive for select to gateway_app
  using ((select app_private.has_permission('audit_log.read')));

-------------------------------------------------------------------------------
-- No cross-tenant metadata outside RLS.
-------------------------------------------------------------------------------

-- The token-refresh schedule holds every organization's connection ids and expiry times. The
-- app role loses its read grant; the refresher asks this function, which answers only a
-- transaction bound to no organization and no user (never a request's), and only with the ids
-- of what is due now, for the refresher to work on inside each organization's RLS.
revoke all on app_private.connection_refresh_schedule from gateway_app;

create function app_private.due_connection_refreshes(p_limit int)
returns table (org_id uuid, connection_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select s.org_id, s.connection_id from app_private.connection_refresh_schedule s
  where nullif(current_setting('app.org_id', true), '') is null and nullif(current_setting('app.user_id', true), '') is null
    and s.due_at <= now()
  order by s.due_at
  limit least(greatest(p_limit, 0), 500)
$$;
grant execute on function app_private.due_connection_refreshes(int) to gateway_app;

-- Authorization versions: the app role never had a grant on the table, but authz_version(org)
-- answered for any organization. Now it answers only for the organization the transaction is
-- bound to (the request's opening round trip binds first, then reads), NULL otherwise.
create or replace function app_private.authz_version(p_org_id uuid) returns bigint
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select case when p_org_id = app_public.current_org_id() then
    coalesce((select version from app_private.authz_versions where org_id = p_org_id), 0)
    + coalesce((select version from app_private.authz_versions where org_id = '00000000-0000-0000-0000-000000000000'), 0)
  end
$$;

-- resolve_principal read the version before binding the organization; it now binds first (still
-- before reading the membership, which is what keeps a cached principal never older than its
-- version). Otherwise unchanged from 002.
create or replace function app_private.resolve_principal(p_user_id uuid, p_org_id uuid)
returns table (
  membership_id uuid,
  org_id uuid,
  org_name text,
  role_id uuid,
  role_key text,
  role_name text,
  customer_id uuid,
  status text,
  permissions text[],
  authz_version bigint
)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_version bigint;
begin
  perform set_config('app.org_id', p_org_id::text, true), set_config('app.role', 'staff', true);
  -- Read before the membership: a change committed in between makes the principal newer than
  -- its version (one extra re-resolve later), never older (a stale cache entry).
  v_version := app_private.authz_version(p_org_id);
  return query
    with granted_roles as (
      select m.role_id from app_public.memberships m where m.user_id = p_user_id and m.org_id = p_org_id
      union
      select t.role_id
      from app_public.memberships m
      join app_public.team_members tm on tm.org_id = m.org_id and tm.membership_id = m.id
      join app_public.teams t on t.org_id = tm.org_id and t.id = tm.team_id
      where m.user_id = p_user_id and m.org_id = p_org_id and t.role_id is not null
    )
    select m.id, o.id, o.name, r.id, r.system_key, r.name, m.customer_id, m.status,
      array(
        select srp.permission_key
        from granted_roles g
        join app_public.roles gr on gr.org_id = p_org_id and gr.id = g.role_id
        join app_public.system_role_permissions srp on srp.role_key = gr.system_key
        union
        select rp.permission_key
        from granted_roles g
        join app_public.role_permissions rp on rp.org_id = p_org_id and rp.role_id = g.role_id
        order by 1
      ),
      v_version
    from app_public.memberships m
    join app_public.organizations o on o.id = m.org_id
    join app_public.roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.user_id = p_user_id and m.org_id = p_org_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;

revoke execute on all functions in schema app_private from public;
