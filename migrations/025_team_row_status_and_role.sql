-- 025 (issue 10): a large team and a rare status or role read the matching rows only.
--
-- With a team filter the People list walks the team's rows in the list's order (022). A status or
-- role filter was then checked on each member, so a team of 10,000 and a role most of the
-- organization holds but few of the team do read the whole team (9,858 rows, 38,810 buffers for
-- a page in test/db/list-plans.test.ts). The team rows carry copies of the member's status and
-- role, and of the invitation's role, kept in step by 022's triggers (replaced here, same names),
-- indexed `(org_id, team_id, <status | role>, sort_key, id)`; src/domain/people.ts reads them.
--
-- Locks: this migration locks reads of memberships, invitations and the team rows until it
-- commits (new columns, replaced triggers, the backfill without forced RLS), which is why it is
-- not part of 024 (whose index builds would be held meanwhile). It takes them all up front,
-- memberships first (where a request's reads start), rather than one by one between statements.
-- Its index builds are small (team rows only).
lock table app_public.memberships, app_public.invitations, app_public.team_members, app_public.invitation_teams
  in access exclusive mode;

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

-- Backfill, as 022's: the owner is subject to forced RLS, so it is lifted for the copy. The copies'
-- own triggers are off meanwhile: they read their source bound to the request's organization,
-- which a migration has not (set_invitation_team_sort_key would find no invitation and blank
-- every team row's key and pending flag; test/db/team-copies-migration.test.ts).
alter table app_public.team_members no force row level security;
alter table app_public.invitation_teams no force row level security;
alter table app_public.memberships no force row level security;
alter table app_public.invitations no force row level security;
alter table app_public.team_members disable trigger zz_team_members_sort_key;
alter table app_public.invitation_teams disable trigger zz_invitation_teams_sort_key;
update app_public.team_members tm set status = m.status, role_id = m.role_id
from app_public.memberships m where m.org_id = tm.org_id and m.id = tm.membership_id;
update app_public.invitation_teams it set role_id = i.role_id
from app_public.invitations i where i.org_id = it.org_id and i.id = it.invitation_id;
alter table app_public.team_members enable trigger zz_team_members_sort_key;
alter table app_public.invitation_teams enable trigger zz_invitation_teams_sort_key;
alter table app_public.team_members force row level security;
alter table app_public.invitation_teams force row level security;
alter table app_public.memberships force row level security;
alter table app_public.invitations force row level security;

create index team_members_status_order on app_public.team_members (org_id, team_id, status, sort_key, membership_id);
create index team_members_role_order on app_public.team_members (org_id, team_id, role_id, sort_key, membership_id);
create index invitation_teams_role_order on app_public.invitation_teams (org_id, team_id, role_id, sort_key, invitation_id)
  where pending;

-- 024's memberships_role_order has its columns as a prefix.
drop index app_public.memberships_role;
