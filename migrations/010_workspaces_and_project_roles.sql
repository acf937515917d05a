-- 010 workspaces and project roles (DESIGN §3b, the Activepieces seeds). An organization's
-- definitions live in workspaces (a default one per organization, where existing definitions
-- go); members get more than their organization role allows in one workspace through a project
-- role (four system ones from the matrix module, plus custom ones). A request that names a
-- workspace (X-Workspace-Id → app.workspace_id, bound in the same settings statement as the
-- rest) sees only that workspace's definitions and the connections and executions that belong
-- to them: RESTRICTIVE policies below, which AND with every permissive policy, whoever wrote it.
-- Workflows also gain an enabled/disabled state ("Toggle Flows").

-------------------------------------------------------------------------------
-- The workspace a request acts in. Unset or empty: no workspace context (organization-wide, as
-- before). A malformed value restricts to nothing (fail closed): current_workspace_id() is NULL
-- and workspace_unrestricted() is false.
-------------------------------------------------------------------------------
create function app_public.current_workspace_id() returns uuid
language sql stable parallel safe as $$ select app_public.setting_uuid('app.workspace_id') $$;

create function app_public.workspace_unrestricted() returns boolean
language sql stable parallel safe as $$ select coalesce(current_setting('app.workspace_id', true), '') = '' $$;

-- The project permissions held in that workspace (app.project_permissions), read like
-- app.permissions (migration 008): strict '{project.a.b,…}' or nothing.
create function app_public.current_project_permissions() returns text[]
language sql stable parallel safe as $$
  select case when s ~ '^\{(project\.[a-z_]+\.[a-z_]+(,project\.[a-z_]+\.[a-z_]+)*)?\}$' then s::text[] end
  from (select nullif(current_setting('app.project_permissions', true), '') as s) as setting
$$;
create function app_private.has_project_permission(p_key text) returns boolean
language sql stable parallel safe as $$
  select coalesce(p_key = any (app_public.current_project_permissions()), false)
$$;

grant execute on function app_public.current_workspace_id(), app_public.workspace_unrestricted(),
  app_public.current_project_permissions(), app_private.has_project_permission(text) to gateway_app;

-------------------------------------------------------------------------------
-- Catalogue of project permissions and system project roles: global reference data written by
-- the migrate step from src/authz/permissions.ts (like app_public.permissions). No RLS.
-------------------------------------------------------------------------------
create table app_public.project_permissions (
  key text primary key check (key ~ '^project\.[a-z_]+\.[a-z_]+$'),
  grouping text not null,
  label text not null,
  position int not null
);
create table app_public.system_project_roles (
  key text primary key,
  name text not null,
  description text not null,
  position int not null
);
create table app_public.system_project_role_permissions (
  role_key text not null references app_public.system_project_roles (key) on delete cascade,
  permission_key text not null references app_public.project_permissions (key) on delete cascade,
  primary key (role_key, permission_key)
);
grant select on app_public.project_permissions, app_public.system_project_roles,
  app_public.system_project_role_permissions to gateway_app;

-------------------------------------------------------------------------------
-- Workspaces
-------------------------------------------------------------------------------
create table app_public.workspaces (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 80),
  is_default boolean not null default false,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, id)
);
create unique index workspaces_name_unique on app_public.workspaces (org_id, lower(btrim(name)));
create unique index workspaces_one_default on app_public.workspaces (org_id) where is_default;
create trigger workspaces_updated_at before update on app_public.workspaces
  for each row execute function app_private.touch_updated_at();

alter table app_public.workspaces enable row level security;
alter table app_public.workspaces force row level security;
-- Staff of the organization see all its workspaces (the switcher); what is inside one is
-- confined below. Planner-friendly form: one indexable equality on org_id.
create policy staff_all on app_public.workspaces for all
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
grant select, insert, update, delete on app_public.workspaces to gateway_app;

-- Every organization gets its default workspace in the transaction that creates it. SECURITY
-- DEFINER: creating an organization needs no permission, so the write policies for workspaces
-- (settings.manage) must not stop it; as the owner it is still under forced RLS, and the
-- creating request is bound to the new organization as staff, so only that one is written.
create function app_private.create_default_workspace() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into app_public.workspaces (org_id, name, is_default, created_by) values (new.id, 'Default', true, new.created_by);
  return null;
end $$;
create trigger organizations_default_workspace after insert on app_public.organizations
  for each row execute function app_private.create_default_workspace();

-------------------------------------------------------------------------------
-- Definitions belong to exactly one workspace; workflows can be switched off.
-------------------------------------------------------------------------------
alter table app_public.definitions
  add column workspace_id uuid,
  add column enabled boolean not null default true;

-- Backfill: existing organizations get their default workspace, existing definitions land in
-- it. The owner is subject to forced RLS and no request is bound here, so forcing is lifted for
-- the length of this transaction only (it is restored below, before anything can see it).
alter table app_public.organizations no force row level security;
alter table app_public.workspaces no force row level security;
alter table app_public.definitions no force row level security;
insert into app_public.workspaces (org_id, name, is_default, created_by)
  select id, 'Default', true, created_by from app_public.organizations;
alter table app_public.definitions disable trigger definitions_updated_at;
update app_public.definitions d set workspace_id = w.id
  from app_public.workspaces w where w.org_id = d.org_id and w.is_default;
alter table app_public.definitions enable trigger definitions_updated_at;
alter table app_public.organizations force row level security;
alter table app_public.workspaces force row level security;
alter table app_public.definitions force row level security;

alter table app_public.definitions
  alter column workspace_id set not null,
  -- NO ACTION: a workspace holding definitions cannot be deleted; deleting the organization
  -- cascades to both in any order.
  add foreign key (org_id, workspace_id) references app_public.workspaces (org_id, id) on delete no action,
  add constraint definitions_enabled_workflows_only check (enabled or kind = 'workflow');
create index definitions_workspace on app_public.definitions (org_id, workspace_id, kind, created_at desc, id desc);

-- Unless told otherwise, a new definition lands in the workspace the request acts in, else in
-- the organization's default one. Runs as the invoker: it sees what the request sees.
create function app_private.default_definition_workspace() returns trigger
language plpgsql as $$
begin
  if new.workspace_id is null then
    new.workspace_id := coalesce(
      app_public.current_workspace_id(),
      (select w.id from app_public.workspaces w where w.org_id = new.org_id and w.is_default));
  end if;
  return new;
end $$;
create trigger definitions_default_workspace before insert on app_public.definitions
  for each row execute function app_private.default_definition_workspace();

-------------------------------------------------------------------------------
-- Custom project roles (system ones live in the catalogue above) and project members: an
-- organization member or a team, in one workspace, with one project role.
-------------------------------------------------------------------------------
create table app_public.project_roles (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 60),
  description text not null default '' check (length(description) <= 500),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, id)
);
create unique index project_roles_name_unique on app_public.project_roles (org_id, lower(btrim(name)));
create trigger project_roles_updated_at before update on app_public.project_roles
  for each row execute function app_private.touch_updated_at();

create table app_public.project_role_permissions (
  org_id uuid not null,
  role_id uuid not null,
  permission_key text not null references app_public.project_permissions (key) on delete cascade,
  primary key (org_id, role_id, permission_key),
  foreign key (org_id, role_id) references app_public.project_roles (org_id, id) on delete cascade
);

create table app_public.project_members (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  workspace_id uuid not null,
  membership_id uuid,
  team_id uuid,
  system_role_key text references app_public.system_project_roles (key) on delete restrict,
  project_role_id uuid,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, id),
  foreign key (org_id, workspace_id) references app_public.workspaces (org_id, id) on delete cascade,
  foreign key (org_id, membership_id) references app_public.memberships (org_id, id) on delete cascade,
  foreign key (org_id, team_id) references app_public.teams (org_id, id) on delete cascade,
  -- NO ACTION: a custom project role in use cannot be deleted (the gateway says how many hold it).
  foreign key (org_id, project_role_id) references app_public.project_roles (org_id, id) on delete no action,
  check (num_nonnulls(membership_id, team_id) = 1),
  check (num_nonnulls(system_role_key, project_role_id) = 1)
);
create unique index project_members_member on app_public.project_members (org_id, workspace_id, membership_id)
  where membership_id is not null;
create unique index project_members_team on app_public.project_members (org_id, workspace_id, team_id)
  where team_id is not null;
create index project_members_role on app_public.project_members (org_id, project_role_id);
create index project_members_of_membership on app_public.project_members (org_id, membership_id);
create trigger project_members_updated_at before update on app_public.project_members
  for each row execute function app_private.touch_updated_at();

alter table app_public.project_roles enable row level security;
alter table app_public.project_roles force row level security;
alter table app_public.project_role_permissions enable row level security;
alter table app_public.project_role_permissions force row level security;
alter table app_public.project_members enable row level security;
alter table app_public.project_members force row level security;

create policy staff_all on app_public.project_roles for all
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
create policy staff_all on app_public.project_role_permissions for all
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
create policy staff_all on app_public.project_members for all
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
grant select, insert, update, delete on app_public.project_roles, app_public.project_role_permissions,
  app_public.project_members to gateway_app;

-------------------------------------------------------------------------------
-- Workspace confinement: RESTRICTIVE policies (they AND with the permissive ones). Without a
-- workspace context they admit everything the permissive policies admit; with one, only that
-- workspace's rows. Each setting is read once per statement (scalar sub-selects); the exists
-- lookups go through primary keys.
-------------------------------------------------------------------------------
create policy in_workspace on app_public.definitions as restrictive for all
  using ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()))
  with check ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()));

create policy in_workspace on app_public.definition_versions as restrictive for all
  using ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = definition_versions.org_id and d.id = definition_versions.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())))
  with check ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = definition_versions.org_id and d.id = definition_versions.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())));

create policy in_workspace on app_public.definition_deployments as restrictive for all
  using ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = definition_deployments.org_id and d.id = definition_deployments.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())))
  with check ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = definition_deployments.org_id and d.id = definition_deployments.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())));

-- A connection belongs to the workspace of its connector.
create policy in_workspace on app_public.connections as restrictive for all
  using ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = connections.org_id and d.id = connections.connector_id
      and d.workspace_id = (select app_public.current_workspace_id())))
  with check ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = connections.org_id and d.id = connections.connector_id
      and d.workspace_id = (select app_public.current_workspace_id())));

-- An execution belongs to the workspace of what it ran: a definition, or a connection's connector.
create policy in_workspace on app_public.executions as restrictive for all
  using ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = executions.org_id and d.id = executions.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())
  ) or exists (
    select 1 from app_public.connections c
    join app_public.definitions d on d.org_id = c.org_id and d.id = c.connector_id
    where c.org_id = executions.org_id and c.id = executions.connection_id
      and d.workspace_id = (select app_public.current_workspace_id())))
  with check ((select app_public.workspace_unrestricted()) or exists (
    select 1 from app_public.definitions d
    where d.org_id = executions.org_id and d.id = executions.definition_id
      and d.workspace_id = (select app_public.current_workspace_id())
  ) or exists (
    select 1 from app_public.connections c
    join app_public.definitions d on d.org_id = c.org_id and d.id = c.connector_id
    where c.org_id = executions.org_id and c.id = executions.connection_id
      and d.workspace_id = (select app_public.current_workspace_id())));

-- Project members of the workspace in use only.
create policy in_workspace on app_public.project_members as restrictive for all
  using ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()))
  with check ((select app_public.workspace_unrestricted()) or workspace_id = (select app_public.current_workspace_id()));

-------------------------------------------------------------------------------
-- Writes need their permission in the database too (as migration 008 does for the rest):
-- workspaces settings.manage, custom project roles roles.manage, project members
-- people.manage or project.members.manage in the workspace in use.
-------------------------------------------------------------------------------
create policy permission_insert on app_public.workspaces as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('settings.manage')));
create policy permission_update on app_public.workspaces as restrictive for update to gateway_app
  using ((select app_private.has_permission('settings.manage'))) with check ((select app_private.has_permission('settings.manage')));
create policy permission_delete on app_public.workspaces as restrictive for delete to gateway_app
  using ((select app_private.has_permission('settings.manage')));

create policy permission_insert on app_public.project_roles as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_update on app_public.project_roles as restrictive for update to gateway_app
  using ((select app_private.has_permission('roles.manage'))) with check ((select app_private.has_permission('roles.manage')));
create policy permission_delete on app_public.project_roles as restrictive for delete to gateway_app
  using ((select app_private.has_permission('roles.manage')));
create policy permission_insert on app_public.project_role_permissions as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('roles.manage')));
create policy permission_update on app_public.project_role_permissions as restrictive for update to gateway_app
  using ((select app_private.has_permission('roles.manage'))) with check ((select app_private.has_permission('roles.manage')));
create policy permission_delete on app_public.project_role_permissions as restrictive for delete to gateway_app
  using ((select app_private.has_permission('roles.manage')));

create policy permission_insert on app_public.project_members as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('people.manage')) or (select app_private.has_project_permission('project.members.manage')));
create policy permission_update on app_public.project_members as restrictive for update to gateway_app
  using ((select app_private.has_permission('people.manage')) or (select app_private.has_project_permission('project.members.manage')))
  with check ((select app_private.has_permission('people.manage')) or (select app_private.has_project_permission('project.members.manage')));
create policy permission_delete on app_public.project_members as restrictive for delete to gateway_app
  using ((select app_private.has_permission('people.manage')) or (select app_private.has_project_permission('project.members.manage')));

-------------------------------------------------------------------------------
-- "Toggle Flows": switching a workflow on or off is a deploy-level act (workflows.deploy_prod,
-- which project.flows.publish grants in a workspace), not an edit (workflows.update, which the
-- definitions' write policy asks for). SECURITY DEFINER so only this one column changes under
-- the deploy permission; as the owner it is still under forced RLS with the caller's settings
-- (organization, workspace), and the acting user is the bound one.
-------------------------------------------------------------------------------
create function app_private.set_workflow_enabled(p_id uuid, p_enabled boolean) returns boolean
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_count int;
begin
  if not app_private.has_permission('workflows.deploy_prod') then
    raise exception 'toggling a workflow needs workflows.deploy_prod' using errcode = '42501';
  end if;
  update app_public.definitions set enabled = p_enabled, updated_by = app_public.current_user_id()
  where org_id = app_public.current_org_id() and id = p_id and kind = 'workflow';
  get diagnostics v_count = row_count;
  return v_count > 0;
end $$;
grant execute on function app_private.set_workflow_enabled(uuid, boolean) to gateway_app;

-------------------------------------------------------------------------------
-- A customer's limits count everything it holds, whichever workspace a request acts in (a
-- workspace context must not undercount and so bypass a limit). Both run as the owner, bound to
-- the caller's organization and customer as before, with only the workspace confinement lifted
-- while they count, then restored.
-------------------------------------------------------------------------------
create or replace function app_private.customer_connection_count(p_customer_id uuid) returns int
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_access text := current_setting('app.role', true);
  saved_workspace text := current_setting('app.workspace_id', true);
  v_count int;
begin
  if app_public.current_org_id() is null
     or (app_public.current_access() is distinct from 'staff' and p_customer_id is distinct from app_public.current_tenant_id()) then
    return 0;
  end if;
  perform set_config('app.role', 'staff', true), set_config('app.workspace_id', '', true);
  select count(*)::int into v_count from app_public.connections c where c.customer_id = p_customer_id;
  perform set_config('app.role', coalesce(saved_access, ''), true), set_config('app.workspace_id', coalesce(saved_workspace, ''), true);
  return v_count;
end $$;

-- Runs this month per customer (migration 008's function), now across every workspace.
create or replace function app_private.executions_this_month(p_customer_ids uuid[])
returns table (customer_id uuid, executions_this_month int)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_workspace text := current_setting('app.workspace_id', true);
begin
  perform set_config('app.workspace_id', '', true);
  return query
    select c.id,
      (select count(*)::int from app_public.executions e
       where e.org_id = c.org_id and e.customer_id = c.id
         and e.created_at >= (date_trunc('month', now() at time zone o.timezone) at time zone o.timezone))
    from app_public.customers c join app_public.organizations o on o.id = c.org_id
    where c.id = any (p_customer_ids) and c.org_id = app_public.current_org_id();
  perform set_config('app.workspace_id', coalesce(saved_workspace, ''), true);
end $$;

revoke execute on all functions in schema app_private from public;
