-- 016 workspace-scoped service principals, and no raw updates of executions by the app role.
--
-- 1. A service principal (API key, OIDC client) may be scoped to one workspace (DESIGN §3c:
--    "optionally a workspace or one customer"). Every request it makes is bound to that
--    workspace (app.workspace_id), as a person's X-Workspace-Id request is, and cannot name
--    another. It holds only what a workspace confines (the definition categories, connections
--    and executions: see src/authz/permissions.ts, WORKSPACE_SCOPED_CATEGORIES); anything
--    organization-wide (people, roles, customers, audit log, billing, settings) is stripped from
--    its role, as a TEST key's *.deploy_prod permissions are. So the escalation guard compares a
--    workspace key's role without those permissions, here as in the gateway.
--    Never both a workspace and a customer: a customer's context acts in no workspace. Runners
--    serve the whole organization (they claim any queued execution), so they take neither.
--    Deleting a workspace (only an empty one can be) takes its keys with it, as deleting an
--    organization does: a key scoped to a workspace that no longer exists can do nothing. The
--    audit trail keeps the key's identity (app_public.users), which is not deleted.
--
-- 2. Review finding: any holder of a `*.execute` permission could set an execution's status
--    (e.g. `succeeded`, with forged output) in raw SQL as gateway_app, because migration 008
--    allowed updates to whoever may queue the run. The gateway itself never updates an execution:
--    queuing and retrying insert, and every transition of a run (claim, progress, outcome) is a
--    runner's, through the SECURITY DEFINER functions of migration 013 (which run as the owner).
--    So the app role loses its UPDATE grant on executions entirely; the permissive update_staff
--    policy stays for those functions.

alter table app_public.service_principals
  add column workspace_id uuid,
  add foreign key (org_id, workspace_id) references app_public.workspaces (org_id, id) on delete cascade,
  add constraint service_principals_one_scope check (customer_id is null or workspace_id is null),
  add constraint service_principals_runner_unscoped check (kind <> 'runner' or workspace_id is null);
create index service_principals_workspace on app_public.service_principals (org_id, workspace_id)
  where workspace_id is not null;

grant select (workspace_id), insert (workspace_id) on app_public.service_principals to gateway_app;

-- The categories a workspace confines. The gateway's list (WORKSPACE_SCOPED_CATEGORIES) is the
-- same; test/graphql/api-keys.test.ts compares the two.
create function app_private.workspace_scoped_permission(p_key text) returns boolean
language sql immutable parallel safe as $$
  select split_part(p_key, '.', 1) in ('connectors', 'connections', 'workflows', 'agents', 'tools', 'executions')
$$;
grant execute on function app_private.workspace_scoped_permission(text) to gateway_app;

-- 012's guard, with the workspace: a key's role holds only bound permissions, as the key would
-- hold them (a TEST key without *.deploy_prod; a workspace key without organization-wide ones).
create function app_private.key_role_within_binding(p_org_id uuid, p_role_id uuid, p_environment text, p_workspace_scoped boolean)
returns boolean
language sql stable parallel safe as $$
  select exists (select 1 from app_public.roles r where r.org_id = p_org_id and r.id = p_role_id)
  and not exists (
    select 1 from (
      select srp.permission_key as key
      from app_public.roles r join app_public.system_role_permissions srp on srp.role_key = r.system_key
      where r.org_id = p_org_id and r.id = p_role_id
      union all
      select rp.permission_key from app_public.role_permissions rp where rp.org_id = p_org_id and rp.role_id = p_role_id
    ) as granted
    where not (p_environment = 'test' and granted.key like '%.deploy\_prod')
      and not (p_workspace_scoped and not app_private.workspace_scoped_permission(granted.key))
      and not coalesce(granted.key = any (app_public.current_permissions()), false))
$$;
grant execute on function app_private.key_role_within_binding(uuid, uuid, text, boolean) to gateway_app;
drop policy no_escalation_insert on app_public.service_principals;
drop function app_private.key_role_within_binding(uuid, uuid, text);
create policy no_escalation_insert on app_public.service_principals as restrictive for insert to gateway_app
  with check (role_id is null or app_private.key_role_within_binding(org_id, role_id, environment, workspace_id is not null));

-- 012's resolve_service_principal, returning the workspace too (a new result column needs a
-- new function; the body is 012's otherwise).
drop function app_private.resolve_service_principal(uuid, uuid);
create function app_private.resolve_service_principal(p_org_id uuid, p_id uuid)
returns table (
  id uuid,
  org_id uuid,
  org_name text,
  kind text,
  name text,
  user_id uuid,
  role_id uuid,
  role_key text,
  role_name text,
  customer_id uuid,
  environment text,
  public_id text,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_by uuid,
  permissions text[],
  authz_version bigint,
  workspace_id uuid
)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_version bigint;
begin
  if (nullif(saved_org, '') is not null and p_org_id is distinct from app_public.current_org_id())
     or (nullif(current_setting('app.user_id', true), '') is not null
         and p_id is distinct from app_public.current_service_principal_id()) then
    return;
  end if;
  v_version := app_private.authz_version(p_org_id);
  perform set_config('app.org_id', p_org_id::text, true), set_config('app.role', 'staff', true);
  return query
    select sp.id, o.id, o.name, sp.kind, sp.name, sp.user_id, r.id, r.system_key, r.name, sp.customer_id,
      sp.environment, sp.public_id, sp.expires_at, sp.revoked_at, sp.created_by,
      array(
        select srp.permission_key from app_public.system_role_permissions srp where srp.role_key = r.system_key
        union
        select rp.permission_key from app_public.role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id
        order by 1
      ),
      v_version,
      sp.workspace_id
    from app_public.service_principals sp
    join app_public.organizations o on o.id = sp.org_id
    left join app_public.roles r on r.org_id = sp.org_id and r.id = sp.role_id
    where sp.org_id = p_org_id and sp.id = p_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.resolve_service_principal(uuid, uuid) to gateway_app;

-------------------------------------------------------------------------------
-- Executions: no raw updates by the app role (see 2. above).
-------------------------------------------------------------------------------
revoke update on app_public.executions from gateway_app;
-- 008's permission_update bound only the app role's updates; with no grant it is dead weight.
drop policy permission_update on app_public.executions;

revoke execute on all functions in schema app_private from public;
