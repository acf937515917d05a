-- 015: tamper evidence for the audit trail (issue 11, point 4).
-- Anyone with database rights (the owner, a superuser) could edit, delete or insert audit events
-- undetected. The gateway now seals them: a background sealer (one replica at a time, elected by
-- an advisory lock) reads each organization's new events, chains them with HMACs made by a key
-- the database never sees (AUDIT_SIGNING_KEY), and stores the result here as seals. Verification
-- (`npm run audit:verify`, `auditLogVerification`) recomputes everything and names the first
-- event that no longer matches. The request path pays nothing but a sequence value and its own
-- transaction id per event: no counter row, no lock, nothing concurrent mutations wait on.
--
-- Which events a seal covers is decided by transaction ids, not by time or sequence order: a
-- seal covers the organization's events inserted by transactions with ids in [xact_from,
-- xact_to), and xact_to is at most the sealer snapshot's xmin, below which every transaction has
-- ended. So no event can ever commit into a range already sealed (a sequence value alone could:
-- a transaction holding seq 10 may commit after seq 11 was sealed).

-------------------------------------------------------------------------------
-- Events: a sequence number (cheap, monotonic, never reused; gaps from rollbacks are fine) and
-- the inserting transaction's id. Existing rows get values here (the rewrite of ADD COLUMN does
-- not go through RLS); the first seal of each organization covers them.
-------------------------------------------------------------------------------
alter table app_public.audit_events add column seq bigint generated always as identity;
alter table app_public.audit_events add column xact bigint not null default (pg_current_xact_id()::text::bigint);

-- The database, not the caller, says which transaction wrote an event (as it does for the time).
create function app_private.stamp_audit_event_xact() returns trigger
language plpgsql as $$
begin
  new.xact := pg_current_xact_id()::text::bigint;
  return new;
end $$;
create trigger audit_events_stamp_xact before insert on app_public.audit_events
  for each row execute function app_private.stamp_audit_event_xact();
-- A trigger function needs no EXECUTE to fire; nobody calls it directly.
revoke all on function app_private.stamp_audit_event_xact() from public;

-- The sealer and verification read one organization's events by transaction range, in order.
create index audit_events_sealing on app_public.audit_events (org_id, xact, seq);
-- Which organizations have events newer than a transaction id (the sealer's round).
create index audit_events_xact on app_public.audit_events (xact);

-------------------------------------------------------------------------------
-- Seals. Append-only for the gateway (insert and select; no update, no delete, no truncate).
-- `manifest` lists the sealed events in order, 40 bytes each: seq (8), id (16) and the chain
-- value (16) = HMAC(key, previous chain value || SHA-256 of the event's canonical encoding),
-- truncated; `head` is the last chain value, `prev_head` the previous seal's. `mac` covers every
-- other column (and the manifest's SHA-256). Without the key none of them can be recomputed.
-------------------------------------------------------------------------------
create table app_public.audit_seals (
  org_id uuid not null,
  seal_no bigint not null check (seal_no > 0),
  xact_from bigint not null,
  xact_to bigint not null check (xact_to > xact_from),
  event_count int not null check (event_count > 0),
  first_seq bigint not null,
  last_seq bigint not null,
  first_at timestamptz not null,
  last_at timestamptz not null,
  prev_head bytea not null,
  head bytea not null,
  manifest bytea not null,
  key_id text not null,
  sealed_at timestamptz not null,
  mac bytea not null,
  primary key (org_id, seal_no)
);
create index audit_seals_time on app_public.audit_seals (org_id, last_at);

-------------------------------------------------------------------------------
-- Purge checkpoints: `npm run audit:purge` (the owner, holding the key) deletes whole seals'
-- worth of events and leaves one of these, MAC'd, so verification starts from it: "seals up to
-- seal_no were purged; the chain continues from head". Written by the owner only.
-------------------------------------------------------------------------------
create table app_public.audit_checkpoints (
  org_id uuid not null,
  seal_no bigint not null check (seal_no > 0),
  xact_to bigint not null,
  head bytea not null,
  last_seq bigint not null,
  purged_events bigint not null,
  purged_before timestamptz not null,
  created_at timestamptz not null,
  key_id text not null,
  mac bytea not null,
  primary key (org_id, seal_no)
);

alter table app_public.audit_seals enable row level security;
alter table app_public.audit_seals force row level security;
alter table app_public.audit_checkpoints enable row level security;
alter table app_public.audit_checkpoints force row level security;

-- Staff of the organization, with audit_log.read (as for the events themselves).
create policy staff_read on app_public.audit_seals for select
  using (org_id = (select app_public.current_staff_org_id()));
create policy permission_select on app_public.audit_seals as restrictive for select to gateway_app
  using ((select app_private.has_permission('audit_log.read')));
-- Seals are written by the sealer: bound as the system (no user, no principal) with
-- audit_log.read. No request binds that way, so no caller can file a seal of its own (a forged
-- one would fail its MAC anyway).
create policy staff_insert on app_public.audit_seals for insert
  with check (org_id = (select app_public.current_staff_org_id()));
create policy sealer_insert on app_public.audit_seals as restrictive for insert to gateway_app
  with check (
    (select app_private.has_permission('audit_log.read'))
    and (select app_public.current_user_id()) is null
    and (select app_public.current_principal_kind()) is null
  );
-- The owner's retention purge reads seals and deletes the purged ones (it leaves a checkpoint).
create policy purge_read_by_owner on app_public.audit_seals for select to gateway_owner using (true);
create policy purge_by_owner on app_public.audit_seals for delete to gateway_owner using (true);

create policy staff_read on app_public.audit_checkpoints for select
  using (org_id = (select app_public.current_staff_org_id()));
create policy permission_select on app_public.audit_checkpoints as restrictive for select to gateway_app
  using ((select app_private.has_permission('audit_log.read')));
create policy purge_by_owner on app_public.audit_checkpoints for all to gateway_owner using (true) with check (true);

grant select, insert on app_public.audit_seals to gateway_app;
grant select on app_public.audit_checkpoints to gateway_app;

-------------------------------------------------------------------------------
-- Which organizations have events from transactions at or after p_since (the sealer's round
-- starts here, then works inside each organization's RLS). SECURITY DEFINER because it spans
-- organizations; like due_connection_refreshes it answers only in a transaction bound to no
-- organization and no user (the sealer's, never a request's), and only organization ids.
-------------------------------------------------------------------------------
create function app_private.audit_orgs_to_seal(p_since bigint)
returns table (org_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select distinct e.org_id from app_public.audit_events e
  where nullif(current_setting('app.org_id', true), '') is null and nullif(current_setting('app.user_id', true), '') is null
    and e.xact >= p_since
$$;
revoke all on function app_private.audit_orgs_to_seal(bigint) from public;
grant execute on function app_private.audit_orgs_to_seal(bigint) to gateway_app;
