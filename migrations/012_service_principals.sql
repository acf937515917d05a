-- 012 service principals: callers that are not people. API keys (TEST and LIVE), runner keys
-- (an execution engine's credential, see 013) and registered OIDC clients (Keycloak service
-- accounts) belong to one organization, carry a role (never more than their creator holds),
-- optionally one customer (then confined exactly like an End User), and act under the same
-- scope rules, RLS and audit as members.
--
-- Why this shape:
--  * Each principal acts as an identity of its own in app_public.users (issuer
--    'urn:gateway:service-principal', subject = the principal's id), so everything keyed by a
--    user — app.user_id, audit actors, created_by / requested_by, RLS on users — works for it
--    unchanged, and its rows name the key, not the person who created it.
--  * Only a SHA-256 of the key's secret is stored (the secret has 256 random bits, so a fast
--    hash is enough), with the key's public id as the lookup key. The public id is random, so
--    its global uniqueness is no existence oracle.
--  * A change that alters what a principal may do (its role, customer, revocation, expiry,
--    rotation) bumps the organization's authorization version, so every replica re-reads it on
--    the very next request. `last_used_at` is bookkeeping and bumps nothing.

create table app_public.service_principals (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  kind text not null check (kind in ('api_key', 'runner', 'oidc_client')),
  name text not null check (length(btrim(name)) between 1 and 80),
  -- The identity it acts as (see above). RESTRICT: a principal never loses its identity.
  user_id uuid not null unique references app_public.users (id) on delete restrict,
  -- Runners may hold no role (then only the runner operations); everyone else holds one.
  role_id uuid,
  customer_id uuid,
  environment text check (environment in ('test', 'live')),
  -- Keys: the visible, random part of the key and the hash of its secret.
  public_id text unique check (public_id ~ '^[a-z0-9]{16}$'),
  secret_hash bytea check (octet_length(secret_hash) = 32),
  -- OIDC clients: the issuer and client id (`client_id` / `azp`) of its tokens.
  oidc_issuer text,
  oidc_client_id text check (length(oidc_client_id) between 1 and 255),
  expires_at timestamptz,
  revoked_at timestamptz,
  revoked_by uuid references app_public.users (id) on delete set null,
  last_used_at timestamptz,
  rotated_at timestamptz,
  created_by uuid references app_public.users (id) on delete set null,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  -- NO ACTION: a role a key holds cannot be deleted (the gateway counts keys as a use).
  foreign key (org_id, role_id) references app_public.roles (org_id, id) on delete no action,
  foreign key (org_id, customer_id) references app_public.customers (org_id, id) on delete cascade,
  -- One OIDC client acts as one principal, across organizations: a token must not be ambiguous.
  unique (oidc_issuer, oidc_client_id),
  check (kind = 'runner' or role_id is not null),
  check (kind <> 'runner' or customer_id is null),
  check ((kind = 'oidc_client') = (oidc_client_id is not null and oidc_issuer is not null)),
  check ((kind = 'oidc_client') = (public_id is null and secret_hash is null and environment is null))
);
create index service_principals_recent on app_public.service_principals (org_id, created_at desc, id desc);
create index service_principals_role on app_public.service_principals (org_id, role_id);
create trigger service_principals_updated_at before update on app_public.service_principals
  for each row execute function app_private.touch_updated_at();

create trigger service_principals_authz
  after insert or delete or update of role_id, customer_id, environment, public_id, secret_hash, oidc_issuer,
    oidc_client_id, expires_at, revoked_at, name
  on app_public.service_principals
  for each row execute function app_private.bump_authz_version();

alter table app_public.service_principals enable row level security;
alter table app_public.service_principals force row level security;

-- Org-internal: staff of the organization (planner-friendly form: one comparison on org_id).
create policy staff_select on app_public.service_principals for select
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
create policy staff_insert on app_public.service_principals for insert
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
create policy staff_update on app_public.service_principals for update
  using (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end))
  with check (org_id = (select case when app_public.current_access() = 'staff' then app_public.current_org_id() end));
-- Authenticating a key must find it before anything says which organization it belongs to
-- (app_private.find_api_key, app_private.find_oidc_client): a read-only exception for the owner.
create policy owner_credential_lookup on app_public.service_principals for select to gateway_owner using (true);

-- Defense in depth behind the schema's scopes (as migration 008 does for every gated write):
-- creating, rotating and revoking keys needs settings.manage in the bound permissions too.
create policy permission_insert on app_public.service_principals as restrictive for insert to gateway_app
  with check ((select app_private.has_permission('settings.manage')));
create policy permission_update on app_public.service_principals as restrictive for update to gateway_app
  using ((select app_private.has_permission('settings.manage')))
  with check ((select app_private.has_permission('settings.manage')));

-- No escalation in the database either (as 014 does for members, invitations and teams): a key's
-- role holds only permissions the request holds — as the key would hold them, so a TEST key's
-- role is checked without its *.deploy_prod permissions (a TEST key never holds them).
create function app_private.key_role_within_binding(p_org_id uuid, p_role_id uuid, p_environment text) returns boolean
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
      and not coalesce(granted.key = any (app_public.current_permissions()), false))
$$;
grant execute on function app_private.key_role_within_binding(uuid, uuid, text) to gateway_app;
create policy no_escalation_insert on app_public.service_principals as restrictive for insert to gateway_app
  with check (role_id is null or app_private.key_role_within_binding(org_id, role_id, environment));

-- The secret's hash is never readable by the gateway's role, only writable; deletes happen only
-- with the organization (revocation is an update that keeps the row for the audit trail).
grant select (org_id, id, kind, name, user_id, role_id, customer_id, environment, public_id, oidc_issuer, oidc_client_id,
  expires_at, revoked_at, revoked_by, last_used_at, rotated_at, created_by, created_at, updated_at)
  on app_public.service_principals to gateway_app;
grant insert (org_id, id, kind, name, user_id, role_id, customer_id, environment, public_id, secret_hash, oidc_issuer,
  oidc_client_id, expires_at, created_by)
  on app_public.service_principals to gateway_app;
grant update (public_id, secret_hash, rotated_at, expires_at, revoked_at, revoked_by)
  on app_public.service_principals to gateway_app;

-- Staff see the identities of their organization's principals (createdBy, audit actors).
create policy select_service_identity on app_public.users for select using (
  exists (select 1 from app_public.service_principals sp where sp.user_id = users.id)
);

-------------------------------------------------------------------------------
-- The request's principal, bound in the same set_config statement as the other settings:
-- app.principal_kind (member | api_key | runner | oidc_client) and app.principal_id (the
-- membership or the service principal). Fail-closed like the others.
-------------------------------------------------------------------------------
create function app_public.current_principal_kind() returns text
language sql stable parallel safe as $$
  select case when s in ('member', 'api_key', 'runner', 'oidc_client') then s end
  from (select current_setting('app.principal_kind', true) as s) as setting
$$;
create function app_public.current_principal_id() returns uuid
language sql stable parallel safe as $$ select app_public.setting_uuid('app.principal_id') $$;
-- The service principal a request acts as, or NULL for people.
create function app_public.current_service_principal_id() returns uuid
language sql stable parallel safe as $$
  select case when app_public.current_principal_kind() in ('api_key', 'runner', 'oidc_client')
    then app_public.current_principal_id() end
$$;
grant execute on function app_public.current_principal_kind(), app_public.current_principal_id(),
  app_public.current_service_principal_id() to gateway_app;

-------------------------------------------------------------------------------
-- Audit: the actor may be a service principal (its identity in actor_user_id, the principal
-- in actor_principal_id: the log shows the key, its name and its creator, filterable by it).
-------------------------------------------------------------------------------
alter table app_public.audit_events add column actor_principal_id uuid;
alter table app_public.audit_events drop constraint audit_events_actor_type_check;
alter table app_public.audit_events drop constraint audit_events_check;
alter table app_public.audit_events add constraint audit_events_actor_type_check
  check (actor_type in ('user', 'system', 'service'));
alter table app_public.audit_events add constraint audit_events_actor_check
  check ((actor_type <> 'system') = (actor_user_id is not null)
     and (actor_type = 'service') = (actor_principal_id is not null));
create index audit_events_actor_principal on app_public.audit_events (org_id, actor_principal_id, occurred_at desc)
  where actor_principal_id is not null;
-- Events name the principal bound to the request, never another one.
create policy insert_as_bound_principal on app_public.audit_events as restrictive for insert
  with check (actor_principal_id is not distinct from (select app_public.current_service_principal_id()));

-------------------------------------------------------------------------------
-- SECURITY DEFINER functions.
-------------------------------------------------------------------------------

-- A key's row by its public id, before any organization is known: what authentication needs
-- (the hash is compared in constant time by the gateway). Nothing else about the key, and only
-- outside a request's bound transaction (authentication happens before one exists): a resolver
-- can never read a hash through it.
create function app_private.find_api_key(p_public_id text)
returns table (org_id uuid, id uuid, kind text, environment text, secret_hash bytea)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select sp.org_id, sp.id, sp.kind, sp.environment, sp.secret_hash
  from app_public.service_principals sp
  where sp.public_id = p_public_id and sp.kind in ('api_key', 'runner')
    and nullif(current_setting('app.org_id', true), '') is null
    and nullif(current_setting('app.user_id', true), '') is null
$$;
grant execute on function app_private.find_api_key(text) to gateway_app;

-- The principal registered for an OIDC client, if any (outside a bound transaction, likewise).
create function app_private.find_oidc_client(p_issuer text, p_client_id text)
returns table (org_id uuid, id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select sp.org_id, sp.id from app_public.service_principals sp
  where sp.oidc_issuer = p_issuer and sp.oidc_client_id = p_client_id and sp.kind = 'oidc_client'
    and nullif(current_setting('app.org_id', true), '') is null
    and nullif(current_setting('app.user_id', true), '') is null
$$;
grant execute on function app_private.find_oidc_client(text, text) to gateway_app;

-- Who is this service principal? Its role's permissions and its state, read as staff of its
-- organization (a customer-scoped key's own request cannot read org-internal rows), with the
-- authorization version read first (as resolve_principal does). Unbound (the principal cache,
-- before a request exists) for any principal; inside a bound transaction only for the bound
-- organization and the bound principal (as migration 014 does for members).
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
  authz_version bigint
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
      v_version
    from app_public.service_principals sp
    join app_public.organizations o on o.id = sp.org_id
    left join app_public.roles r on r.org_id = sp.org_id and r.id = sp.role_id
    where sp.org_id = p_org_id and sp.id = p_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.resolve_service_principal(uuid, uuid) to gateway_app;

-- "Last used", at most once a minute per principal, by the principal's own request (which may be
-- customer-confined and so cannot update the row itself). Bumps no authorization version.
create function app_private.touch_service_principal(p_id uuid) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_access text := current_setting('app.role', true);
begin
  if p_id is distinct from app_public.current_service_principal_id() then
    return;
  end if;
  perform set_config('app.role', 'staff', true);
  update app_public.service_principals set last_used_at = now()
  where org_id = app_public.current_org_id() and id = p_id and user_id = app_public.current_user_id()
    and (last_used_at is null or last_used_at < now() - interval '1 minute');
  perform set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.touch_service_principal(uuid) to gateway_app;

-- The identity a new principal acts as. Only for a principal being created in the bound
-- organization by its staff holding settings.manage (the insert that follows is checked by RLS
-- and the permission policy as well).
create function app_private.create_service_identity(p_principal_id uuid, p_name text) returns uuid
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
begin
  if app_public.current_org_id() is null or app_public.current_access() is distinct from 'staff'
     or not app_private.has_permission('settings.manage') then
    raise exception 'a service identity is created by staff holding settings.manage' using errcode = '42501';
  end if;
  insert into app_public.users (issuer, subject, name, email_verified)
  values ('urn:gateway:service-principal', p_principal_id::text, p_name, false)
  returning id into v_id;
  return v_id;
end $$;
grant execute on function app_private.create_service_identity(uuid, text) to gateway_app;

revoke execute on all functions in schema app_private from public;
