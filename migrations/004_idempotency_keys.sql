-- 004 idempotency keys: a client that retries a mutation (its answer was lost, the commit's
-- outcome was unknown) sends the same Idempotency-Key and gets the first result back instead
-- of a second change. The key row is inserted in the request's own transaction before the
-- mutation runs, and its result written just before COMMIT: the change, its audit event and
-- the stored result commit together or not at all. The primary key makes concurrent
-- duplicates queue behind the first (a unique-index wait), then replay what it committed.

create table app_public.idempotency_keys (
  -- The organization the client named (X-Organization-Id); requests that name none (acting in
  -- their only organization, or in none, like createOrganization) file their keys under the nil
  -- uuid, so a retry finds its key even when the first attempt changed the caller's default
  -- organization. No foreign key: a deleted organization's keys simply expire.
  org_id uuid not null,
  user_id uuid not null,
  idempotency_key text not null check (length(idempotency_key) between 1 and 255),
  -- sha256 of the operation (printed document + operation name) and its variables.
  fingerprint text not null check (length(fingerprint) = 64),
  -- The GraphQL result the first request answered; null only inside that request's transaction.
  result jsonb,
  created_at timestamptz not null default clock_timestamp(),
  expires_at timestamptz not null,
  primary key (org_id, user_id, idempotency_key)
);
create index idempotency_keys_expiry on app_public.idempotency_keys (expires_at);

alter table app_public.idempotency_keys enable row level security;
alter table app_public.idempotency_keys force row level security;

-- A caller sees and writes only their own keys: those of the organization the request acts in,
-- and those filed under no organization (End Users included: keys are per principal).
create policy own_keys on app_public.idempotency_keys for all
  using (
    user_id = (select app_public.current_user_id())
    and org_id in ('00000000-0000-0000-0000-000000000000'::uuid, (select app_public.current_org_id())))
  with check (
    user_id = (select app_public.current_user_id())
    and org_id in ('00000000-0000-0000-0000-000000000000'::uuid, (select app_public.current_org_id())));
-- Maintenance only: the purge (below) deletes expired keys of every organization, as the owner.
create policy purge_expired_by_owner on app_public.idempotency_keys for delete to gateway_owner using (expires_at <= now());
create policy purge_read_by_owner on app_public.idempotency_keys for select to gateway_owner using (expires_at <= now());

-- delete: a claim whose request changed nothing (denied, invalid) is freed before COMMIT.
grant select, insert, update, delete on app_public.idempotency_keys to gateway_app;

-- Deletes expired keys across organizations; every replica may call it (IDEMPOTENCY_PURGE_INTERVAL).
-- SECURITY DEFINER because the request role sees only its own keys; it deletes only expired
-- rows and returns only a count.
create function app_private.purge_expired_idempotency_keys() returns bigint
language sql security definer set search_path = pg_catalog, pg_temp as $$
  with gone as (delete from app_public.idempotency_keys where expires_at <= now() returning 1)
  select count(*) from gone
$$;
revoke execute on all functions in schema app_private from public;
grant execute on function app_private.purge_expired_idempotency_keys() to gateway_app;
