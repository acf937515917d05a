-- 014 fixes from the review of 008 (permissions in the database), each with a regression test in
-- test/db/permission-policies-review.test.ts:
--  * a retry was allowed by executions.retry alone whatever the new row said: an End User (who
--    may retry but not run workflows) could insert a "retry" of one of its own tool runs that
--    runs any workflow with any input. A retry must now repeat its original exactly;
--  * member_permissions, resolve_principal and active_organizations answered for any user and
--    organization, even inside a request bound to another: a resolver passing the wrong ids (or
--    a forged one) read who belongs to which organization, with which role and permissions.
--    Inside a bound transaction they now answer only for the bound user (and organization);
--    unbound (the principal cache's own lookups before a request exists) as before;
--  * the column checks on connections and customers listed the columns each permission may
--    change, so a column the lists forgot (created_by, created_at, id …) could be changed with
--    the lesser permission. They now list what the lesser permission MAY change; everything
--    else needs connections.update / customers.manage;
--  * no privilege escalation, in the database too: the gateway refuses to give anyone (a member, an
--    invitee, a team, the auto-approve setting, a role's grants) permissions the caller does not
--    hold, but the policies asked only for people.manage / roles.manage / settings.manage, so a
--    custom role holding just people.manage could make its holder an Admin in raw SQL.

-------------------------------------------------------------------------------
-- A retry repeats its original: same customer, same target (kind, definition, connection,
-- version, name) and the same input. SECURITY DEFINER so that a policy on executions may read
-- executions (a policy reading its own table recurses); as the owner it still sees only what the
-- caller's bound organization and customer show (the tenancy policies bind every role), and no
-- permission policy narrows it. Called per inserted row, which is one row per retry.
-------------------------------------------------------------------------------
create function app_private.retry_repeats_original(
  p_org_id uuid, p_customer_id uuid, p_retry_of uuid, p_target_kind text, p_definition_id uuid,
  p_connection_id uuid, p_target_name text, p_target_version int, p_input jsonb
) returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce((
    select o.target_kind = p_target_kind
       and o.definition_id is not distinct from p_definition_id
       and o.connection_id is not distinct from p_connection_id
       and o.target_name = p_target_name
       and o.target_version is not distinct from p_target_version
       and o.input = p_input
    from app_public.executions o
    where o.org_id = p_org_id and o.customer_id = p_customer_id and o.id = p_retry_of
      and o.org_id = app_public.current_org_id()), false)
$$;
revoke execute on function app_private.retry_repeats_original(uuid, uuid, uuid, text, uuid, uuid, text, int, jsonb) from public;
grant execute on function app_private.retry_repeats_original(uuid, uuid, uuid, text, uuid, uuid, text, int, jsonb) to gateway_app;

create policy retry_repeats_original on app_public.executions as restrictive for insert to gateway_app
  with check (retry_of is null
              or app_private.retry_repeats_original(org_id, customer_id, retry_of, target_kind, definition_id,
                                                    connection_id, target_name, target_version, input));

-------------------------------------------------------------------------------
-- Principal lookups answer for the binding only. Unbound (no app.user_id / app.org_id) they
-- answer as before: the gateway resolves a principal from a verified token before any request
-- transaction exists. Bound, only for the bound user and organization: a request never needs
-- anyone else's.
-------------------------------------------------------------------------------
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
  -- Bound to someone (or somewhere) else: nothing, like a non-member.
  if (nullif(current_setting('app.user_id', true), '') is not null and p_user_id is distinct from app_public.current_user_id())
     or (nullif(saved_org, '') is not null and p_org_id is distinct from app_public.current_org_id()) then
    return;
  end if;
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

create or replace function app_private.active_organizations(p_user_id uuid)
returns setof uuid
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_user text := current_setting('app.user_id', true);
begin
  if nullif(saved_user, '') is not null and p_user_id is distinct from app_public.current_user_id() then
    return;
  end if;
  perform set_config('app.user_id', p_user_id::text, true);
  return query
    select m.org_id from app_public.memberships m
    where m.user_id = p_user_id and m.status = 'active'
    order by m.created_at, m.org_id;
  perform set_config('app.user_id', coalesce(saved_user, ''), true);
end $$;

-- member_permissions is only ever called by the binding statement, after its set_config calls
-- in the same target list (evaluated in order): the bound user and organization are its
-- arguments. Anything else answers nothing.
create or replace function app_private.member_permissions(p_user_id uuid, p_org_id uuid, p_customer_context boolean) returns text
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_permissions text[];
begin
  if p_user_id is distinct from app_public.current_user_id() or p_org_id is distinct from app_public.current_org_id() then
    return '';
  end if;
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

-------------------------------------------------------------------------------
-- Column checks by allow-list: the lesser permission names what it may change; any other
-- column (including ones added later) needs the full edit permission.
-------------------------------------------------------------------------------
create or replace function app_private.check_connection_update() returns trigger
language plpgsql as $$
declare
  -- what sharing changes, and what recording a test's or an action's outcome changes
  shared_columns constant text[] := array['scope', 'owner_user_id'];
  outcome_columns constant text[] := array['status', 'last_error', 'sync_status', 'last_synced_at'];
begin
  -- The owner (definer functions, maintenance) is not bound by request permissions.
  if current_user <> 'gateway_app' then return new; end if;
  if (new.scope, new.owner_user_id) is distinct from (old.scope, old.owner_user_id)
     and not app_private.has_permission('connections.share') then
    raise exception 'changing who a connection belongs to needs connections.share' using errcode = '42501';
  end if;
  if (to_jsonb(new) - shared_columns - outcome_columns - 'updated_at')
       is distinct from (to_jsonb(old) - shared_columns - outcome_columns - 'updated_at')
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

create or replace function app_private.check_customer_update() returns trigger
language plpgsql as $$
declare
  limit_columns constant text[] := array['max_connections', 'max_executions_per_month'];
begin
  if current_user <> 'gateway_app' then return new; end if;
  if (new.max_connections, new.max_executions_per_month) is distinct from (old.max_connections, old.max_executions_per_month)
     and not app_private.has_permission('billing.manage') then
    raise exception 'changing a customer''s limits needs billing.manage' using errcode = '42501';
  end if;
  if (to_jsonb(new) - limit_columns - 'updated_at') is distinct from (to_jsonb(old) - limit_columns - 'updated_at')
     and not app_private.has_permission('customers.manage') then
    raise exception 'changing a customer needs customers.manage' using errcode = '42501';
  end if;
  return new;
end $$;


-------------------------------------------------------------------------------
-- No privilege escalation: a role given to someone (membership, invitation, team, auto-approve)
-- or a grant added to or taken from a role must hold only permissions the request holds. The
-- same rule as the gateway's assertHolds (src/domain/roles.ts), on the role itself; the
-- gateway also counts a member's team roles before managing them.
-------------------------------------------------------------------------------

-- Every permission of this role (system roles: the catalogue's; custom: their grants) is bound.
-- As the caller (roles and grants are readable by staff); a role the caller cannot see is not
-- within (fail closed).
create function app_private.role_within_binding(p_org_id uuid, p_role_id uuid) returns boolean
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
    where not coalesce(granted.key = any (app_public.current_permissions()), false))
$$;

-- The role a team gives its members (null: none).
create function app_private.team_role_within_binding(p_org_id uuid, p_team_id uuid) returns boolean
language sql stable parallel safe as $$
  select coalesce((select t.role_id is null or app_private.role_within_binding(t.org_id, t.role_id)
                   from app_public.teams t where t.org_id = p_org_id and t.id = p_team_id), true)
$$;
grant execute on function app_private.role_within_binding(uuid, uuid), app_private.team_role_within_binding(uuid, uuid)
  to gateway_app;

create policy no_escalation_insert on app_public.memberships as restrictive for insert to gateway_app
  with check (app_private.role_within_binding(org_id, role_id));
create policy no_escalation_update on app_public.memberships as restrictive for update to gateway_app
  using (app_private.role_within_binding(org_id, role_id))
  with check (app_private.role_within_binding(org_id, role_id));
create policy no_escalation_delete on app_public.memberships as restrictive for delete to gateway_app
  using (app_private.role_within_binding(org_id, role_id));

create policy no_escalation_insert on app_public.invitations as restrictive for insert to gateway_app
  with check (app_private.role_within_binding(org_id, role_id));

create policy no_escalation_insert on app_public.teams as restrictive for insert to gateway_app
  with check (role_id is null or app_private.role_within_binding(org_id, role_id));

create policy no_escalation_insert on app_public.team_members as restrictive for insert to gateway_app
  with check (app_private.team_role_within_binding(org_id, team_id));

create policy no_escalation_insert on app_public.role_permissions as restrictive for insert to gateway_app
  with check (coalesce(permission_key = any ((select app_public.current_permissions())::text[]), false));
create policy no_escalation_update on app_public.role_permissions as restrictive for update to gateway_app
  using (coalesce(permission_key = any ((select app_public.current_permissions())::text[]), false))
  with check (coalesce(permission_key = any ((select app_public.current_permissions())::text[]), false));
create policy no_escalation_delete on app_public.role_permissions as restrictive for delete to gateway_app
  using (coalesce(permission_key = any ((select app_public.current_permissions())::text[]), false));
-- Deleting a role takes its grants from its holders (its grants cascade as the owner, unchecked).
create policy no_escalation_delete on app_public.roles as restrictive for delete to gateway_app
  using (app_private.role_within_binding(org_id, id));

-- Changing a team's role or the auto-approve role: checked when it changes (a policy would also
-- refuse renaming a team, or editing other settings, that someone more privileged set up).
create function app_private.check_role_given() returns trigger
language plpgsql as $$
declare
  v_role uuid;
  v_org uuid;
begin
  if current_user <> 'gateway_app' then return new; end if;
  if tg_table_name = 'organizations' then
    v_role := new.auto_approve_role_id; v_org := new.id;
  else
    v_role := new.role_id; v_org := new.org_id;
  end if;
  if v_role is null then return new; end if;
  if not app_private.role_within_binding(v_org, v_role) then
    raise exception 'giving this role needs every permission it holds' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger teams_no_escalation before update of role_id on app_public.teams
  for each row when (new.role_id is distinct from old.role_id) execute function app_private.check_role_given();
create trigger organizations_no_escalation before update of auto_approve_role_id on app_public.organizations
  for each row when (new.auto_approve_role_id is distinct from old.auto_approve_role_id)
  execute function app_private.check_role_given();

revoke execute on all functions in schema app_private from public;
