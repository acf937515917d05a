-- 013 runners: the other half of executions. A runner key (a service principal of kind
-- 'runner', migration 012) claims queued executions under a lease, reports progress and the
-- outcome. The lease is what makes a dead runner harmless: once it expires, another runner may
-- claim the execution again (a new lease id), and the dead runner's late reports no longer match.
--
-- Claims use `for update skip locked` on the indexes below, so concurrent runners never claim
-- one execution twice and never wait for each other.

alter table app_public.executions
  -- The runner holding (or last holding) the execution. SET NULL (claimed_by) only: the
  -- execution outlives a deleted principal.
  add column claimed_by uuid,
  -- The current lease: reports must name it; a re-claim replaces it.
  add column lease_id uuid,
  add column lease_expires_at timestamptz,
  add column progress jsonb,
  add column attempts int not null default 0 check (attempts >= 0),
  add foreign key (org_id, claimed_by) references app_public.service_principals (org_id, id) on delete set null (claimed_by),
  -- A running execution always has its lease; a finished one none.
  add constraint executions_lease_check check ((status = 'running') = (lease_id is not null and lease_expires_at is not null));

-- What a claim scans: the oldest queued executions, and running ones whose lease ran out.
create index executions_claimable on app_public.executions (org_id, created_at, id) where status = 'queued';
create index executions_leased on app_public.executions (org_id, lease_expires_at) where status = 'running';

-------------------------------------------------------------------------------
-- What a runner does, as SECURITY DEFINER functions. Runners act through these and nothing
-- else: the permission policies of migration 008 bind the app role to what people's
-- permissions allow (changing a run needs its execute permission), and a runner holds a runner
-- key, not a role. Each function first checks that the bound principal is an active runner of
-- the bound organization, acting as itself (app.principal_kind = 'runner'), then works as the
-- owner under forced RLS with the caller's settings: the bound organization only.
-------------------------------------------------------------------------------
create function app_private.bound_runner() returns uuid
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_runner uuid := app_public.current_service_principal_id();
begin
  if app_public.current_principal_kind() is distinct from 'runner' or v_runner is null
     or app_public.current_access() is distinct from 'staff'
     or not exists (
       select 1 from app_public.service_principals sp
       where sp.org_id = app_public.current_org_id() and sp.id = v_runner and sp.kind = 'runner'
         and sp.user_id = app_public.current_user_id() and sp.revoked_at is null
         and (sp.expires_at is null or sp.expires_at > now())) then
    raise exception 'only an active runner of this organization may do this' using errcode = '42501';
  end if;
  return v_runner;
end $$;

-- The oldest claimable execution (queued, or running with an expired lease), now running under
-- a new lease held by the bound runner. No row: nothing to do.
create function app_private.claim_execution(p_lease_seconds int, p_kinds text[])
returns setof app_public.executions
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_runner uuid := app_private.bound_runner();
begin
  return query
    with next as (
      select e.org_id, e.id from app_public.executions e
      where e.org_id = app_public.current_org_id()
        and (e.status = 'queued' or (e.status = 'running' and e.lease_expires_at <= now()))
        and (p_kinds is null or e.target_kind = any (p_kinds))
      order by e.created_at, e.id
      limit 1
      for update skip locked
    )
    update app_public.executions e
    set status = 'running', claimed_by = v_runner, lease_id = gen_random_uuid(),
        lease_expires_at = now() + make_interval(secs => p_lease_seconds), started_at = now(),
        attempts = e.attempts + 1, progress = null
    from next where e.org_id = next.org_id and e.id = next.id
    returning e.*;
end $$;

-- A report changes the execution only while the bound runner holds its current, unexpired lease.
create function app_private.report_execution_progress(p_id uuid, p_lease_id uuid, p_progress jsonb, p_extend_seconds int)
returns setof app_public.executions
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_runner uuid := app_private.bound_runner();
begin
  return query
    update app_public.executions e
    set progress = coalesce(p_progress, e.progress),
        lease_expires_at = case when p_extend_seconds is null then e.lease_expires_at
                                else now() + make_interval(secs => p_extend_seconds) end
    where e.org_id = app_public.current_org_id() and e.id = p_id and e.status = 'running'
      and e.claimed_by = v_runner and e.lease_id = p_lease_id and e.lease_expires_at > now()
    returning e.*;
end $$;

create function app_private.finish_execution(p_id uuid, p_lease_id uuid, p_outcome text, p_output jsonb, p_error text)
returns setof app_public.executions
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_runner uuid := app_private.bound_runner();
begin
  if p_outcome not in ('succeeded', 'failed', 'cancelled') then
    raise exception 'unknown outcome %', p_outcome using errcode = '22023';
  end if;
  return query
    update app_public.executions e
    set status = p_outcome, output = p_output, error = p_error, finished_at = now(),
        lease_id = null, lease_expires_at = null
    where e.org_id = app_public.current_org_id() and e.id = p_id and e.status = 'running'
      and e.claimed_by = v_runner and e.lease_id = p_lease_id and e.lease_expires_at > now()
    returning e.*;
end $$;

-- Why a report matched nothing: not_found | queued | finished | not_yours | expired.
create function app_private.execution_lease_state(p_id uuid, p_lease_id uuid) returns text
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_runner uuid := app_private.bound_runner();
  v app_public.executions;
begin
  select * into v from app_public.executions e where e.org_id = app_public.current_org_id() and e.id = p_id;
  if v.id is null then return 'not_found'; end if;
  if v.status = 'queued' then return 'queued'; end if;
  if v.status <> 'running' then return 'finished'; end if;
  if v.claimed_by is distinct from v_runner or v.lease_id is distinct from p_lease_id then return 'not_yours'; end if;
  return 'expired';
end $$;

-- A connection's sync status as the runner saw it; last_synced_at moves on success only.
create function app_private.set_connection_sync_status(p_id uuid, p_status text, p_error text)
returns table (id uuid, customer_id uuid, sync_status text, last_synced_at timestamptz, last_error text)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform app_private.bound_runner();
  if p_status not in ('syncing', 'succeeded', 'failed') then
    raise exception 'unknown sync status %', p_status using errcode = '22023';
  end if;
  return query
    update app_public.connections c
    set sync_status = p_status,
        last_synced_at = case when p_status = 'succeeded' then now() else c.last_synced_at end,
        last_error = case when p_status = 'failed' then p_error when p_status = 'succeeded' then null else c.last_error end
    where c.org_id = app_public.current_org_id() and c.id = p_id
    returning c.id, c.customer_id, c.sync_status, c.last_synced_at, c.last_error;
end $$;

grant execute on function app_private.claim_execution(int, text[]),
  app_private.report_execution_progress(uuid, uuid, jsonb, int),
  app_private.finish_execution(uuid, uuid, text, jsonb, text),
  app_private.execution_lease_state(uuid, uuid),
  app_private.set_connection_sync_status(uuid, text, text)
  to gateway_app;

revoke execute on all functions in schema app_private from public;
