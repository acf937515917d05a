-- 001 foundation: identities, organizations, roles, memberships, customers, definitions,
-- executions and the audit trail, each tenant table behind forced row-level security.
--
-- Why this shape (see migrations/CONVENTIONS.md for the rules):
--  * Every tenant table carries org_id NOT NULL and keys on (org_id, id); foreign keys between
--    tenant tables include org_id, so a key can never point into another organization and a
--    distributed Postgres can shard on org_id.
--  * Row visibility is decided by the database from transaction-local settings the gateway
--    writes once per request (app.user_id, app.org_id, app.role, app.tenant_id). An unset,
--    empty or malformed setting reads as NULL, and NULL matches nothing: fail closed.
--  * The gateway's role (gateway_app) is granted exactly what it needs; the owner
--    (gateway_owner) runs migrations and owns the few SECURITY DEFINER functions.

create schema app_public;
create schema app_private;
grant usage on schema app_public to gateway_app;
grant usage on schema app_private to gateway_app;
-- PUBLIC's default EXECUTE on app_private functions is revoked at the end of each migration.

-------------------------------------------------------------------------------
-- Request settings, read fail-closed. STABLE so a policy that wraps them in a
-- scalar sub-select evaluates them once per statement.
-------------------------------------------------------------------------------
create function app_public.setting_uuid(name text) returns uuid
language sql stable parallel safe as $$
  select case
    when s ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then s::uuid
  end
  from (select current_setting(name, true) as s) as setting
$$;

create function app_public.current_user_id() returns uuid
language sql stable parallel safe as $$ select app_public.setting_uuid('app.user_id') $$;

create function app_public.current_org_id() returns uuid
language sql stable parallel safe as $$ select app_public.setting_uuid('app.org_id') $$;

-- The customer a request is confined to (customers are the platform's tenants).
create function app_public.current_tenant_id() returns uuid
language sql stable parallel safe as $$ select app_public.setting_uuid('app.tenant_id') $$;

-- The database role of the request, not the RBAC role: 'staff' sees the whole organization,
-- 'customer' sees only rows of app.tenant_id and nothing org-internal. Anything else: nothing.
create function app_public.current_access() returns text
language sql stable parallel safe as $$
  select case when s in ('staff', 'customer') then s end
  from (select current_setting('app.role', true) as s) as setting
$$;

grant execute on function app_public.setting_uuid(text), app_public.current_user_id(),
  app_public.current_org_id(), app_public.current_tenant_id(), app_public.current_access()
  to gateway_app;

create function app_private.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := clock_timestamp();
  return new;
end $$;

-------------------------------------------------------------------------------
-- Catalogue: global reference data, written only by the migrate step from
-- src/authz/permissions.ts. Not tenant data, so no RLS; the gateway may only read it.
-------------------------------------------------------------------------------
create table app_public.permission_categories (
  key text primary key,
  name text not null,
  grouping text not null check (grouping in ('resource', 'platform')),
  description text not null,
  position int not null
);

create table app_public.permissions (
  key text primary key check (key ~ '^[a-z_]+\.[a-z_]+$'),
  category text not null references app_public.permission_categories (key) on delete cascade,
  action text not null,
  description text not null,
  position int not null
);

create table app_public.system_roles (
  key text primary key,
  name text not null,
  description text not null,
  customer_confined boolean not null,
  position int not null
);

create table app_public.system_role_permissions (
  role_key text not null references app_public.system_roles (key) on delete cascade,
  permission_key text not null references app_public.permissions (key) on delete cascade,
  primary key (role_key, permission_key)
);

grant select on app_public.permission_categories, app_public.permissions,
  app_public.system_roles, app_public.system_role_permissions to gateway_app;

-------------------------------------------------------------------------------
-- Users: global identities (OIDC iss + sub). Not owned by one organization, but personal
-- data, so RLS still applies: you see yourself and the members of your current organization.
-------------------------------------------------------------------------------
create table app_public.users (
  id uuid primary key default gen_random_uuid(),
  issuer text not null,
  subject text not null,
  email text,
  email_verified boolean not null default false,
  name text,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  unique (issuer, subject)
);
create trigger users_updated_at before update on app_public.users
  for each row execute function app_private.touch_updated_at();

-------------------------------------------------------------------------------
-- Organizations and their roles.
-------------------------------------------------------------------------------
create table app_public.organizations (
  id uuid primary key,
  name text not null check (length(btrim(name)) between 1 and 120),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null
);
create trigger organizations_updated_at before update on app_public.organizations
  for each row execute function app_private.touch_updated_at();

-- Every organization has a row per system role (system_key set; permissions come from the
-- catalogue, so a matrix change needs no per-organization rewrite) plus its custom roles
-- (system_key null; permissions in role_permissions).
create table app_public.roles (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  system_key text references app_public.system_roles (key) on delete restrict,
  name text not null check (length(btrim(name)) between 1 and 60),
  description text not null default '' check (length(description) <= 500),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, id),
  unique (org_id, system_key)
);
-- Case-insensitive names per organization; system roles hold their names, so a custom role
-- can never be called "admin".
create unique index roles_name_unique on app_public.roles (org_id, lower(btrim(name)));
create trigger roles_updated_at before update on app_public.roles
  for each row execute function app_private.touch_updated_at();

create table app_public.role_permissions (
  org_id uuid not null,
  role_id uuid not null,
  permission_key text not null references app_public.permissions (key) on delete cascade,
  primary key (org_id, role_id, permission_key),
  foreign key (org_id, role_id) references app_public.roles (org_id, id) on delete cascade
);

create table app_public.customers (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 120),
  slug text not null check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  region text not null default 'US' check (region in ('US', 'EU', 'APAC')),
  plan text not null default 'starter',
  status text not null default 'active' check (status in ('active', 'suspended')),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  unique (org_id, slug)
);
create trigger customers_updated_at before update on app_public.customers
  for each row execute function app_private.touch_updated_at();

create table app_public.memberships (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  user_id uuid not null references app_public.users (id) on delete cascade,
  role_id uuid not null,
  -- End Users belong to exactly one customer; staff to none.
  customer_id uuid,
  status text not null default 'active' check (status in ('active', 'inactive')),
  last_active_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  unique (org_id, user_id),
  -- NO ACTION, not RESTRICT: checked at the end of the statement, so deleting an organization
  -- can cascade to roles and memberships in any order. Deleting a role in use still fails.
  foreign key (org_id, role_id) references app_public.roles (org_id, id) on delete no action,
  foreign key (org_id, customer_id) references app_public.customers (org_id, id) on delete cascade
);
create index memberships_user on app_public.memberships (user_id);
create index memberships_role on app_public.memberships (org_id, role_id);
create trigger memberships_updated_at before update on app_public.memberships
  for each row execute function app_private.touch_updated_at();

-------------------------------------------------------------------------------
-- Definitions built by staff: connectors, workflows, agents and tools. One shape (a name and a
-- versioned JSON definition), one table, one set of rules and policies; `kind` tells them apart
-- and the GraphQL schema exposes each kind with its own permissions. Connectors and workflows
-- are deployed: a deployment says which version is live in which environment.
-------------------------------------------------------------------------------
create table app_public.definitions (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  kind text not null check (kind in ('connector', 'workflow', 'agent', 'tool')),
  name text not null check (length(btrim(name)) between 1 and 200),
  description text not null default '' check (length(description) <= 2000),
  current_version int not null default 1 check (current_version >= 1),
  -- Connectors: how a customer authenticates to the app, and the logo the widget shows.
  auth_kind text check (auth_kind in ('oauth2', 'api_key', 'basic', 'none')),
  logo_url text check (length(logo_url) <= 2048),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  updated_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, id),
  -- Lets other tables' foreign keys pin the kind they point at.
  unique (org_id, id, kind),
  check ((kind = 'connector') = (auth_kind is not null))
);
create unique index definitions_name_unique on app_public.definitions (org_id, kind, lower(btrim(name)));
create index definitions_created on app_public.definitions (org_id, kind, created_at desc, id desc);
create index definitions_updated on app_public.definitions (org_id, kind, updated_at desc, id desc);
create trigger definitions_updated_at before update on app_public.definitions
  for each row execute function app_private.touch_updated_at();

create table app_public.definition_versions (
  org_id uuid not null,
  definition_id uuid not null,
  version int not null check (version >= 1),
  definition jsonb not null default '{}',
  created_at timestamptz not null default clock_timestamp(),
  created_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, definition_id, version),
  foreign key (org_id, definition_id) references app_public.definitions (org_id, id) on delete cascade
);

create table app_public.definition_deployments (
  org_id uuid not null,
  definition_id uuid not null,
  kind text not null check (kind in ('connector', 'workflow')),
  environment text not null check (environment in ('test', 'production')),
  version int not null,
  deployed_at timestamptz not null default clock_timestamp(),
  deployed_by uuid references app_public.users (id) on delete set null,
  primary key (org_id, definition_id, environment),
  foreign key (org_id, definition_id, kind) references app_public.definitions (org_id, id, kind) on delete cascade,
  foreign key (org_id, definition_id, version)
    references app_public.definition_versions (org_id, definition_id, version) on delete cascade
);

-------------------------------------------------------------------------------
-- Executions: queued runs of a workflow, agent or tool for one customer. There is no engine
-- here; a runner picks queued rows up.
-------------------------------------------------------------------------------
create table app_public.executions (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  customer_id uuid not null,
  target_kind text not null check (target_kind in ('workflow', 'agent', 'tool')),
  -- What ran; null once it is deleted (the name below keeps the history readable).
  definition_id uuid,
  -- Denormalized so a customer-confined reader sees what ran without reading the
  -- org-internal definition, and so history survives the definition's deletion.
  target_name text not null,
  target_version int,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input jsonb not null default '{}',
  output jsonb,
  error text,
  retry_of uuid,
  requested_by uuid references app_public.users (id) on delete set null,
  created_at timestamptz not null default clock_timestamp(),
  started_at timestamptz,
  finished_at timestamptz,
  primary key (org_id, id),
  foreign key (org_id, customer_id) references app_public.customers (org_id, id) on delete cascade,
  foreign key (org_id, definition_id, target_kind)
    references app_public.definitions (org_id, id, kind) on delete set null (definition_id),
  -- A retry stays within its customer: the key includes customer_id.
  unique (org_id, customer_id, id),
  foreign key (org_id, customer_id, retry_of) references app_public.executions (org_id, customer_id, id) on delete set null (retry_of)
);
create index executions_created on app_public.executions (org_id, created_at desc, id desc);
create index executions_customer on app_public.executions (org_id, customer_id, created_at desc);
create index executions_definition on app_public.executions (org_id, definition_id, created_at desc);

-------------------------------------------------------------------------------
-- Audit trail. No foreign key to organizations: the trail outlives what it describes.
-- The gateway may insert and read, never update or delete (no grant, no policy).
-------------------------------------------------------------------------------
create table app_public.audit_events (
  org_id uuid not null,
  id uuid not null default gen_random_uuid(),
  -- clock_timestamp, not now(): events of one transaction keep their order.
  occurred_at timestamptz not null default clock_timestamp(),
  actor_type text not null check (actor_type in ('user', 'system')),
  actor_user_id uuid,
  actor_name text,
  action text not null check (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
  resource_type text not null,
  resource_id text,
  outcome text not null check (outcome in ('success', 'failure', 'denied')),
  customer_id uuid,
  request_id text,
  client_ip inet,
  user_agent text,
  details jsonb not null default '{}',
  primary key (org_id, id),
  check ((actor_type = 'user') = (actor_user_id is not null))
);
create index audit_events_recent on app_public.audit_events (org_id, occurred_at desc, id desc);
create index audit_events_actor on app_public.audit_events (org_id, actor_user_id, occurred_at desc);
create index audit_events_action on app_public.audit_events (org_id, action, occurred_at desc);

-------------------------------------------------------------------------------
-- Row-level security: enabled and forced on every table with tenant or personal data.
-------------------------------------------------------------------------------
alter table app_public.users enable row level security;
alter table app_public.users force row level security;
alter table app_public.organizations enable row level security;
alter table app_public.organizations force row level security;
alter table app_public.roles enable row level security;
alter table app_public.roles force row level security;
alter table app_public.role_permissions enable row level security;
alter table app_public.role_permissions force row level security;
alter table app_public.customers enable row level security;
alter table app_public.customers force row level security;
alter table app_public.memberships enable row level security;
alter table app_public.memberships force row level security;
alter table app_public.definitions enable row level security;
alter table app_public.definitions force row level security;
alter table app_public.definition_versions enable row level security;
alter table app_public.definition_versions force row level security;
alter table app_public.definition_deployments enable row level security;
alter table app_public.definition_deployments force row level security;
alter table app_public.executions enable row level security;
alter table app_public.executions force row level security;
alter table app_public.audit_events enable row level security;
alter table app_public.audit_events force row level security;

-- Users: yourself, and members of the organization you are acting in (staff only).
create policy select_self_or_colleague on app_public.users for select using (
  id = (select app_public.current_user_id())
  or (
    (select app_public.current_access()) = 'staff'
    and exists (
      select 1 from app_public.memberships m
      where m.user_id = users.id and m.org_id = (select app_public.current_org_id())
    )
  )
);
-- The identity upsert (app_private.upsert_user) runs as the owner and needs to see and write
-- any user row; no other owner-run code touches this table.
create policy owner_identity_upsert on app_public.users for all to gateway_owner using (true) with check (true);

-- Organizations: the one you act in, and those you are an active member of (your org list).
create policy select_member on app_public.organizations for select using (
  (
    id = (select app_public.current_org_id())
    and (
      (select app_public.current_access()) = 'staff'
      or ((select app_public.current_access()) = 'customer' and (select app_public.current_tenant_id()) is not null)
    )
  )
  or exists (
    select 1 from app_public.memberships m
    where m.org_id = organizations.id and m.user_id = (select app_public.current_user_id()) and m.status = 'active'
  )
);
-- Creating an organization: the gateway binds the new id as app.org_id first.
create policy insert_current on app_public.organizations for insert
  with check (id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy update_current on app_public.organizations for update
  using (id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy delete_current on app_public.organizations for delete
  using (id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');

-- Org-internal tables: staff of the current organization only.
create policy staff_all on app_public.roles for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.role_permissions for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.definitions for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.definition_versions for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.definition_deployments for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');

-- Memberships: staff see their organization's; everyone sees their own (the org switcher).
create policy select_staff_or_self on app_public.memberships for select using (
  (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  or user_id = (select app_public.current_user_id())
);
create policy write_staff on app_public.memberships for insert
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy update_staff on app_public.memberships for update
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy delete_staff on app_public.memberships for delete
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');

-- Customer-scoped tables: staff see every customer of the organization; a customer-confined
-- request sees its own customer's rows only.
-- One policy per command: WITH CHECK never applies to DELETE, so a FOR ALL policy whose USING
-- admits a customer would let that customer delete itself.
create policy select_tenant on app_public.customers for select
  using (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access()) = 'staff' or id = (select app_public.current_tenant_id()))
  );
create policy insert_staff on app_public.customers for insert
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy update_staff on app_public.customers for update
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy delete_staff on app_public.customers for delete
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
-- A customer reads and queues its own runs; only staff (and the runner) change a run.
create policy select_tenant on app_public.executions for select
  using (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access()) = 'staff' or customer_id = (select app_public.current_tenant_id()))
  );
create policy insert_tenant on app_public.executions for insert
  with check (
    org_id = (select app_public.current_org_id())
    and ((select app_public.current_access()) = 'staff' or customer_id = (select app_public.current_tenant_id()))
  );
create policy update_staff on app_public.executions for update
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');

-- Audit: anyone acting in an organization may record into it; only staff read it.
create policy insert_current_org on app_public.audit_events for insert
  with check (
    org_id = (select app_public.current_org_id())
    -- Events are recorded as the bound user (or as the system, by a request bound to none)…
    and actor_user_id is not distinct from (select app_public.current_user_id())
    -- …and a customer-confined request records only for its own customer.
    and ((select app_public.current_access()) is distinct from 'customer' or customer_id = (select app_public.current_tenant_id()))
  );
create policy select_staff on app_public.audit_events for select
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');

-- Policies above, grants below: a grant without a policy shows nothing, never everything.
grant select on app_public.users to gateway_app;
grant select, insert, update, delete on app_public.organizations to gateway_app;
grant select, insert, update, delete on app_public.roles, app_public.role_permissions to gateway_app;
grant select, insert, update, delete on app_public.customers, app_public.memberships to gateway_app;
grant select, insert, update, delete on app_public.definitions, app_public.definition_versions,
  app_public.definition_deployments to gateway_app;
grant select, insert, update on app_public.executions to gateway_app;
grant select, insert on app_public.audit_events to gateway_app;

-------------------------------------------------------------------------------
-- SECURITY DEFINER functions: the only two ways around the request's own visibility,
-- each narrow, with a fixed search_path.
-------------------------------------------------------------------------------

-- First sight of a verified token creates its user; later sights refresh email and name.
create function app_private.upsert_user(p_issuer text, p_subject text, p_email text, p_email_verified boolean, p_name text)
returns uuid
language sql volatile security definer set search_path = pg_catalog, pg_temp as $$
  insert into app_public.users as u (issuer, subject, email, email_verified, name)
  values (p_issuer, p_subject, p_email, coalesce(p_email_verified, false), p_name)
  on conflict (issuer, subject) do update
    set email = excluded.email, email_verified = excluded.email_verified, name = excluded.name
    where (u.email, u.email_verified, u.name) is distinct from (excluded.email, excluded.email_verified, excluded.name)
  returning id
$$;
-- "do update ... where" returns nothing when unchanged; fall back to a plain lookup.
create function app_private.ensure_user(p_issuer text, p_subject text, p_email text, p_email_verified boolean, p_name text)
returns uuid
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
begin
  v_id := app_private.upsert_user(p_issuer, p_subject, p_email, p_email_verified, p_name);
  if v_id is null then
    select id into v_id from app_public.users where issuer = p_issuer and subject = p_subject;
  end if;
  return v_id;
end $$;
revoke execute on function app_private.upsert_user(text, text, text, boolean, text) from public;
grant execute on function app_private.ensure_user(text, text, text, boolean, text) to gateway_app;

-- Who is this user in this organization? Returns the membership, its role and the effective
-- permission set, or no row. The owner is itself subject to forced RLS, so the function binds
-- the organization transaction-locally while it reads, then puts the caller's settings back.
create function app_private.resolve_principal(p_user_id uuid, p_org_id uuid)
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
  -- Read before the membership: a change committed in between makes the principal newer than
  -- its version (one extra re-resolve later), never older (a stale cache entry).
  v_version bigint := app_private.authz_version(p_org_id);
begin
  perform set_config('app.org_id', p_org_id::text, true), set_config('app.role', 'staff', true);
  return query
    select m.id, o.id, o.name, r.id, r.system_key, r.name, m.customer_id, m.status,
      array(
        select srp.permission_key from app_public.system_role_permissions srp where srp.role_key = r.system_key
        union
        select rp.permission_key from app_public.role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id
        order by 1
      ),
      v_version
    from app_public.memberships m
    join app_public.organizations o on o.id = m.org_id
    join app_public.roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.user_id = p_user_id and m.org_id = p_org_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.resolve_principal(uuid, uuid) to gateway_app;

-- The organizations a user may act in, oldest membership first (picks the default one).
create function app_private.active_organizations(p_user_id uuid)
returns setof uuid
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_user text := current_setting('app.user_id', true);
begin
  perform set_config('app.user_id', p_user_id::text, true);
  return query
    select m.org_id from app_public.memberships m
    where m.user_id = p_user_id and m.status = 'active'
    order by m.created_at, m.org_id;
  perform set_config('app.user_id', coalesce(saved_user, ''), true);
end $$;
grant execute on function app_private.active_organizations(uuid) to gateway_app;

-------------------------------------------------------------------------------
-- Authorization versions. Gateways cache who-holds-what per (user, organization); every change
-- that can alter someone's effective permissions bumps its organization's version in the same
-- transaction. Each request reads the version in the round trip that opens its transaction and
-- re-resolves a cached principal whose version differs, so a change applies on the very next
-- request on every replica, with no timing involved. Not tenant data (a counter), so no RLS.
-------------------------------------------------------------------------------
create table app_private.authz_versions (
  org_id uuid primary key,
  version bigint not null
);

-- The row with the nil uuid is the catalogue's: the migrate step bumps it when it rewrites the
-- system roles, which changes every organization's permissions at once.
create function app_private.authz_version(p_org_id uuid) returns bigint
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce((select version from app_private.authz_versions where org_id = p_org_id), 0)
       + coalesce((select version from app_private.authz_versions where org_id = '00000000-0000-0000-0000-000000000000'), 0)
$$;
grant execute on function app_private.authz_version(uuid) to gateway_app;

-- SECURITY DEFINER: the counter is written only here, whatever the invoking request may do.
create function app_private.bump_authz_version() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  r record;
begin
  if tg_op = 'DELETE' then r := old; else r := new; end if;
  insert into app_private.authz_versions as v (org_id, version) values (r.org_id, 1)
  on conflict (org_id) do update set version = v.version + 1;
  return null;
end $$;
create trigger memberships_authz after insert or delete or update of user_id, role_id, status, customer_id on app_public.memberships
  for each row execute function app_private.bump_authz_version();
create trigger roles_authz after update or delete on app_public.roles
  for each row execute function app_private.bump_authz_version();
create trigger role_permissions_authz after insert or update or delete on app_public.role_permissions
  for each row execute function app_private.bump_authz_version();

-- Functions default to EXECUTE for PUBLIC; ALTER DEFAULT PRIVILEGES in a schema cannot take that
-- back. Revoke explicitly; the gateway's grants above are its own and stay.
revoke execute on all functions in schema app_private from public;
