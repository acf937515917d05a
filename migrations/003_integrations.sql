-- 003 integrations: customers' connections to apps. Credentials are encrypted by the gateway
-- (AES-256-GCM, bound to the row) before they reach the database, which never sees them in
-- the clear. A connection is per user (one person of the customer) or shared (the whole
-- customer), and RLS enforces that too. Connection actions run as executions; End Users see a
-- narrow catalogue of connectors (never their definitions); expiring OAuth tokens are
-- scheduled for refresh.

create table app_public.connections (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  customer_id uuid not null,
  connector_id uuid not null,
  connector_kind text not null default 'connector' check (connector_kind = 'connector'),
  name text not null check (length(btrim(name)) between 1 and 120),
  scope text not null default 'user' check (scope in ('user', 'shared')),
  owner_user_id uuid references app_public.users (id) on delete set null,
  status text not null default 'active' check (status in ('active', 'error', 'disconnected')),
  sync_status text not null default 'never' check (sync_status in ('never', 'syncing', 'succeeded', 'failed')),
  last_synced_at timestamptz,
  last_error text check (length(last_error) <= 2000),
  -- iv ‖ tag ‖ ciphertext, and which key made it. Never selected into a response or a log.
  credentials bytea,
  credentials_key_id text,
  token_expires_at timestamptz,
  created_by uuid references app_public.users (id) on delete set null,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  foreign key (org_id, customer_id) references app_public.customers (org_id, id) on delete cascade,
  -- The composite key pins the kind: a connection's connector is a connector. NO ACTION: a
  -- connector customers are connected to cannot be deleted (the gateway says how many).
  foreign key (org_id, connector_id, connector_kind) references app_public.definitions (org_id, id, kind) on delete no action,
  -- Executions point at a connection of their own customer: the key includes customer_id.
  unique (org_id, customer_id, id)
  -- A personal connection whose owner's user is deleted keeps no owner: only staff see it then.
);
create index connections_customer on app_public.connections (org_id, customer_id, created_at desc, id desc);
create index connections_connector on app_public.connections (org_id, connector_id);
create trigger connections_updated_at before update on app_public.connections
  for each row execute function app_private.touch_updated_at();

alter table app_public.connections enable row level security;
alter table app_public.connections force row level security;

-- Staff see every connection of the organization. A customer-confined request sees its
-- customer's shared connections and its own per-user ones.
create policy tenant_all on app_public.connections for all
  using (
    org_id = (select app_public.current_org_id())
    and (
      (select app_public.current_access()) = 'staff'
      or (customer_id = (select app_public.current_tenant_id())
          and (scope = 'shared' or owner_user_id = (select app_public.current_user_id())))
    )
  )
  with check (
    org_id = (select app_public.current_org_id())
    and (
      (select app_public.current_access()) = 'staff'
      or (customer_id = (select app_public.current_tenant_id())
          and (scope = 'shared' or owner_user_id = (select app_public.current_user_id())))
    )
  );
grant select, insert, update, delete on app_public.connections to gateway_app;

-------------------------------------------------------------------------------
-- Connection actions are executions too.
-------------------------------------------------------------------------------
alter table app_public.executions add column connection_id uuid;
alter table app_public.executions
  add foreign key (org_id, customer_id, connection_id)
    references app_public.connections (org_id, customer_id, id) on delete set null (connection_id);
alter table app_public.executions drop constraint executions_target_kind_check;
alter table app_public.executions add constraint executions_target_kind_check
  check (target_kind in ('workflow', 'agent', 'tool', 'connection'));
create index executions_connection on app_public.executions (org_id, connection_id, created_at desc);

-------------------------------------------------------------------------------
-- The connector catalogue: what a request bound to an organization (End Users included) may
-- know of its connectors to offer "connect an app": name, logo, auth kind. Never the
-- definition. Runs as the owner, bound to the caller's organization, and restores settings.
-------------------------------------------------------------------------------
create function app_private.connector_listings(p_ids uuid[], p_live_only boolean)
returns table (id uuid, name text, logo_url text, auth_kind text)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_access text := current_setting('app.role', true);
begin
  if app_public.current_org_id() is null
     or not (app_public.current_access() = 'staff' or app_public.current_tenant_id() is not null) then
    return;
  end if;
  perform set_config('app.role', 'staff', true);
  return query
    select d.id, d.name, d.logo_url, d.auth_kind
    from app_public.definitions d
    where d.kind = 'connector'
      and (p_ids is null or d.id = any(p_ids))
      and (not p_live_only or exists (
        select 1 from app_public.definition_deployments dd
        where dd.org_id = d.org_id and dd.definition_id = d.id and dd.environment = 'production'))
    order by lower(d.name), d.id;
  perform set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.connector_listings(uuid[], boolean) to gateway_app;

-- All of a customer's connections, personal ones included (which a customer-confined caller
-- cannot see): what its connections limit counts. Within the bound organization only.
create function app_private.customer_connection_count(p_customer_id uuid) returns int
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_access text := current_setting('app.role', true);
  v_count int;
begin
  if app_public.current_org_id() is null
     or (app_public.current_access() is distinct from 'staff' and p_customer_id is distinct from app_public.current_tenant_id()) then
    return 0;
  end if;
  perform set_config('app.role', 'staff', true);
  select count(*)::int into v_count from app_public.connections c where c.customer_id = p_customer_id;
  perform set_config('app.role', coalesce(saved_access, ''), true);
  return v_count;
end $$;
grant execute on function app_private.customer_connection_count(uuid) to gateway_app;

-------------------------------------------------------------------------------
-- OAuth tokens due for refresh. Ids and times only (not tenant data, no RLS): the refresher
-- finds what is due across organizations here, then works inside each organization's RLS.
-------------------------------------------------------------------------------
create table app_private.connection_refresh_schedule (
  org_id uuid not null,
  connection_id uuid not null,
  due_at timestamptz not null,
  primary key (org_id, connection_id)
);
create index connection_refresh_due on app_private.connection_refresh_schedule (due_at);
grant select on app_private.connection_refresh_schedule to gateway_app;

create function app_private.schedule_connection_refresh() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if tg_op = 'DELETE' or new.token_expires_at is null or new.status = 'disconnected' then
    delete from app_private.connection_refresh_schedule
    where org_id = coalesce(old.org_id, new.org_id) and connection_id = coalesce(old.id, new.id);
  else
    insert into app_private.connection_refresh_schedule (org_id, connection_id, due_at)
    values (new.org_id, new.id, new.token_expires_at - interval '5 minutes')
    on conflict (org_id, connection_id) do update set due_at = excluded.due_at;
  end if;
  return null;
end $$;
create trigger connections_refresh_schedule
  after insert or delete or update of token_expires_at, status on app_public.connections
  for each row execute function app_private.schedule_connection_refresh();

revoke execute on all functions in schema app_private from public;
