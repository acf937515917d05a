-- 024 (issue 10, "a page costs O(page) … every order and filter the API offers"): a filter on a
-- column with a handful of values (a status, a kind, an outcome, a region) had no index in the
-- list's order. The page walked the list's order index and checked the filter on each row, which
-- reads about page ÷ (the share of rows that match): fine for a common value, the whole
-- organization for a rare one — and the rare ones are what such filters are for (the denied
-- events in a million-row audit log, the few failed syncs, the one suspended customer).
--
-- Each such filter gets an index `(org_id, <filter column>, <the list's order>, id)`: an equality
-- on the second column, then an ordered scan of exactly the matching rows, whatever their share.
-- The conditions are plain text equalities (leakproof, so they can be index conditions under RLS;
-- CONVENTIONS.md). test/db/list-plans.test.ts checks each filter with a rare value (1 row in 400)
-- as well as a common one.
--
--  * people: status and role (memberships; the role index replaces memberships_role, whose
--    `(org_id, role_id)` is its prefix and serves the same lookups), and role for the pending
--    invitations the list shows beside the members (by email, like invitations_people_order).
--    With a team as well, the team's rows are walked (022), so they carry copies of the member's
--    status and role (and the invitation's role), kept in step by 022's triggers (replaced
--    below), and are indexed `(org_id, team_id, <status | role>, sort_key, id)`: a large team and
--    a rare status or role read the matching rows only;
--  * customers: status and region;
--  * connections: status, sync status and scope;
--  * executions: target kind (status, target, customer already had theirs, 007/017);
--  * API keys and runners (service principals): kind (environment and status had theirs, 017);
--  * audit log: outcome, resource type and actor type (the `system` filter); action and actor
--    already had theirs (007).
-- No policies or grants change.
--
-- Locks (a migration is one transaction; each lock is held until it commits): an index build takes
-- a SHARE lock (writes to the table wait, reads go on). The team rows' part comes after the builds
-- because it takes ACCESS EXCLUSIVE locks (reads wait too) on team_members, invitation_teams,
-- memberships and invitations (new columns, replaced triggers, the backfill without forced RLS),
-- and every request reads memberships; memberships_role is dropped last for the same reason.

create index memberships_status_order on app_public.memberships (org_id, status, sort_key, id);
create index memberships_role_order on app_public.memberships (org_id, role_id, sort_key, id);
create index invitations_role_order on app_public.invitations (org_id, role_id, email, id) where status = 'pending';

create index customers_status_order on app_public.customers (org_id, status, name_key, id);
create index customers_region_order on app_public.customers (org_id, region, name_key, id);

create index connections_status_order on app_public.connections (org_id, status, created_at desc, id desc);
create index connections_sync_status_order on app_public.connections (org_id, sync_status, created_at desc, id desc);
create index connections_scope_order on app_public.connections (org_id, scope, created_at desc, id desc);

create index service_principals_kind_order on app_public.service_principals (org_id, kind, created_at desc, id desc);

create index executions_target_kind_order on app_public.executions (org_id, target_kind, created_at desc, id desc);

create index audit_events_outcome_order on app_public.audit_events (org_id, outcome, occurred_at desc, id desc);
create index audit_events_resource_type_order on app_public.audit_events (org_id, resource_type, occurred_at desc, id desc);
create index audit_events_actor_type_order on app_public.audit_events (org_id, actor_type, occurred_at desc, id desc);

-------------------------------------------------------------------------------
-- Team rows: status and role copies (022's copies, extended)
-------------------------------------------------------------------------------
alter table app_public.team_members add column status text, add column role_id uuid;
alter table app_public.invitation_teams add column role_id uuid;

-- SECURITY DEFINER, FOR SHARE: as 022's version (the copies are not the caller's to choose; a
-- change of the member in flight is read after it commits), with the status and role.
create or replace function app_private.set_team_member_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_member record;
begin
  select m.sort_key, m.status, m.role_id into v_member from app_public.memberships m
  where m.org_id = new.org_id and m.id = new.membership_id for share;
  new.sort_key := coalesce(v_member.sort_key, '');
  new.status := v_member.status;
  new.role_id := v_member.role_id;
  return new;
end $$;

-- SECURITY DEFINER: as 022's version; a deactivation or a role change runs bound to
-- people.manage, but the copy should not depend on what the writer holds.
create or replace function app_private.resort_team_members() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update app_public.team_members set sort_key = new.sort_key, status = new.status, role_id = new.role_id
  where org_id = new.org_id and membership_id = new.id
    and (sort_key, status, role_id) is distinct from (new.sort_key, new.status, new.role_id);
  return null;
end $$;
drop trigger memberships_team_sort_key on app_public.memberships;
create trigger memberships_team_sort_key after update on app_public.memberships
  for each row when ((old.sort_key, old.status, old.role_id) is distinct from (new.sort_key, new.status, new.role_id))
  execute function app_private.resort_team_members();

-- SECURITY DEFINER, FOR SHARE: as 022's version, with the invitation's role.
create or replace function app_private.set_invitation_team_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_invitation record;
begin
  select i.email, i.status, i.role_id into v_invitation from app_public.invitations i
  where i.org_id = new.org_id and i.org_id = (select app_public.current_staff_org_id())
    and i.id = new.invitation_id for share;
  new.sort_key := coalesce(v_invitation.email, '');
  new.pending := coalesce(v_invitation.status = 'pending', false);
  new.role_id := v_invitation.role_id;
  return new;
end $$;

create or replace function app_private.follow_invitation_on_teams() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update app_public.invitation_teams set sort_key = new.email, pending = (new.status = 'pending'), role_id = new.role_id
  where org_id = new.org_id and invitation_id = new.id;
  return null;
end $$;
drop trigger invitations_team_sort_key on app_public.invitations;
create trigger invitations_team_sort_key after update on app_public.invitations
  for each row when ((old.email, old.status, old.role_id) is distinct from (new.email, new.status, new.role_id))
  execute function app_private.follow_invitation_on_teams();

revoke execute on all functions in schema app_private from public;

-- Backfill, as 022's (the owner is subject to forced RLS; the copies' triggers recompute the
-- same values from their sources).
alter table app_public.team_members no force row level security;
alter table app_public.invitation_teams no force row level security;
alter table app_public.memberships no force row level security;
alter table app_public.invitations no force row level security;
update app_public.team_members tm set status = m.status, role_id = m.role_id
from app_public.memberships m where m.org_id = tm.org_id and m.id = tm.membership_id;
update app_public.invitation_teams it set role_id = i.role_id
from app_public.invitations i where i.org_id = it.org_id and i.id = it.invitation_id;
alter table app_public.team_members force row level security;
alter table app_public.invitation_teams force row level security;
alter table app_public.memberships force row level security;
alter table app_public.invitations force row level security;

create index team_members_status_order on app_public.team_members (org_id, team_id, status, sort_key, membership_id);
create index team_members_role_order on app_public.team_members (org_id, team_id, role_id, sort_key, membership_id);
create index invitation_teams_role_order on app_public.invitation_teams (org_id, team_id, role_id, sort_key, invitation_id)
  where pending;

-- Last: see the header.
drop index app_public.memberships_role;
