-- 019: close the holes the review of 015 found (notes/review-seal.md S1, S4, S6, S10).
--  * Per-event MAC: the gateway now names each event's id and time and writes
--    event_mac = HMAC(key, canonical columns) in the INSERT itself, so an event inserted or
--    edited outside the gateway fails its MAC even before it is sealed (the sealer leaves such
--    events out of its seals; verification names them EVENT_FORGED). Events written before this
--    migration have no MAC; they are accepted only up to the sequence value recorded below.
--  * Chain tips: every sealing transaction also files a MAC'd row naming the organization's
--    newest seal, so a sealer on any replica (or after a restart) knows how far the chain went,
--    and deleting the newest seals shows as CHAIN_TRUNCATED instead of "not yet sealed".
--  * Seals may cut inside a finished transaction: a seal covers the positions (xact, seq) from
--    (xact_from, from_seq) to (xact_to, to_seq), end excluded; a NULL seq means "the start of that
--    transaction" (what every 015 seal meant). Migration 015 gave every existing event the same
--    xact, so a large trail was one seal read whole into memory; now no seal exceeds 5,000 events.
-- Adding a nullable column without a default does not rewrite the table.

alter table app_public.audit_events add column event_mac bytea;
alter table app_public.audit_seals add column from_seq bigint, add column to_seq bigint;
alter table app_public.audit_checkpoints add column to_seq bigint;
-- A chunk of one transaction starts and ends in the same xact: the end position is what must grow.
alter table app_public.audit_seals drop constraint audit_seals_check;
alter table app_public.audit_seals add constraint audit_seals_position_check
  check ((xact_to, coalesce(to_seq, 0)) > (xact_from, coalesce(from_seq, 0)));

-- The last sequence value handed out before the gateway started signing events: an event above
-- it without a MAC was not written by the gateway. Frozen into a function at migration time; the
-- sealer copies it, MAC'd, into each organization's first tip (so editing this function later
-- changes nothing for organizations already sealed once).
do $$
declare boundary bigint := coalesce((select max(seq) from app_public.audit_events), 0);
begin
  execute format(
    'create function app_private.audit_event_mac_boundary() returns bigint language sql immutable as %L',
    'select ' || boundary::text || '::bigint');
end $$;
revoke all on function app_private.audit_event_mac_boundary() from public;
grant execute on function app_private.audit_event_mac_boundary() to gateway_app;

-- The gateway names the time (its MAC covers it); the database still refuses backdating: a time
-- more than 5 minutes behind (a transaction commits the events it carries at its end) or
-- 1 minute ahead of its own clock is replaced by the clock, and the MAC then fails, loudly.
create or replace function app_private.stamp_audit_event() returns trigger
language plpgsql as $$
begin
  if new.occurred_at < clock_timestamp() - interval '5 minutes' or new.occurred_at > clock_timestamp() + interval '1 minute' then
    new.occurred_at := clock_timestamp();
  end if;
  return new;
end $$;

-------------------------------------------------------------------------------
-- Chain tips. Insert-only for the gateway, one row per sealing transaction (seal_no = the newest
-- seal it wrote). `mac` covers every other column (made with the sealing key).
-------------------------------------------------------------------------------
create table app_public.audit_seal_tips (
  org_id uuid not null,
  seal_no bigint not null check (seal_no >= 0),
  xact_to bigint not null,
  to_seq bigint not null default 0,
  head bytea not null,
  -- Events with seq at most this may lack an event_mac (written before 019).
  unsigned_upto_seq bigint not null,
  key_id text not null,
  written_at timestamptz not null,
  mac bytea not null,
  primary key (org_id, seal_no)
);

alter table app_public.audit_seal_tips enable row level security;
alter table app_public.audit_seal_tips force row level security;

-- As for audit_seals: staff with audit_log.read read them; only the sealer's binding files them.
create policy staff_read on app_public.audit_seal_tips for select
  using (org_id = (select app_public.current_staff_org_id()));
create policy permission_select on app_public.audit_seal_tips as restrictive for select to gateway_app
  using ((select app_private.has_permission('audit_log.read')));
create policy staff_insert on app_public.audit_seal_tips for insert
  with check (org_id = (select app_public.current_staff_org_id()));
create policy sealer_insert on app_public.audit_seal_tips as restrictive for insert to gateway_app
  with check (
    (select app_private.has_permission('audit_log.read'))
    and (select app_public.current_user_id()) is null
    and (select app_public.current_principal_kind()) is null
  );
-- The owner verifies every organization (audit:verify) and purges old tips with their seals.
create policy purge_read_by_owner on app_public.audit_seal_tips for select to gateway_owner using (true);
create policy purge_by_owner on app_public.audit_seal_tips for delete to gateway_owner using (true);

grant select, insert on app_public.audit_seal_tips to gateway_app;
