-- 022 People list: its `teamId` filter and its `search` filter cost O(page) (issue 10).
--
-- Why:
--  * teamId. The list walks memberships (and pending invitations) in name order and kept those in
--    the team (`exists` on team_members / invitation_teams): a small team read the whole
--    organization to fill a page. Team rows now carry the list's sort key — team_members the
--    membership's `sort_key`, invitation_teams the invitation's email (stored lower-case) —
--    indexed `(org_id, team_id, sort_key, <person id>)`, so a team's page is an ordered scan of
--    that team's rows, the member or invitation joined by primary key for the page only (same
--    order, same cursors as the unfiltered list). invitation_teams also carries `pending` (its
--    invitation's status is 'pending'), and its index holds pending rows only: accepted and
--    revoked invitations keep their team rows (history), which a page must not walk through.
--  * search. A member matched through its user's name and email (users joined per member): no
--    index could serve it under RLS. Memberships now carry copies, `user_name` and `user_email`,
--    searched like the other lists (the leakproof `gateway_search.~~~*` and its pg_trgm GIN
--    class, migration 021); `ensure_search_indexes()` is redefined with two more indexes
--    (memberships: the copies; invitations: the email) and called. src/db/search-bootstrap.ts
--    SEARCH_INDEXES lists the same five.
--  * The copies are kept in step by triggers, each forcing its columns whatever a write names
--    (the app role has table-wide UPDATE grants on these tables, and a wrong copy would misorder
--    or mis-match a list):
--      - memberships: `set_membership_sort_key` (007, replaced) also sets the name and email
--        copies, on insert and on any update naming user_id or a copied column;
--        `resort_memberships_of_user` (007, replaced) writes them when a user's name or email
--        changes, in every organization the user belongs to;
--      - team_members.sort_key: set on insert/update from the membership; rewritten when the
--        membership's sort_key changes (a rename: resort_memberships_of_user, as the owner, with
--        each organization bound in turn);
--      - invitation_teams.sort_key and pending: set on insert/update from the invitation;
--        rewritten when the invitation's email or status changes (revoked, accepted).
--    The functions that write team rows are SECURITY DEFINER: bookkeeping, not a gated write. The
--    restrictive permission policies on team_members and invitation_teams (008, 014) bind
--    gateway_app; as the owner the writes see exactly the rows the bound organization's staff
--    would (forced RLS), without needing people.manage, which a user's rename (the identity
--    upsert) never binds.
--  * team_members_authz (002) fired on every update of a team row: a rename would have bumped
--    every organization's authorization version for a sort key. It now fires on changes of the
--    columns that say who is in which team.
--  * Backfills lift force RLS on the tables they write, inside this transaction only (as 007).

-------------------------------------------------------------------------------
-- Columns
-------------------------------------------------------------------------------
alter table app_public.memberships add column user_name text, add column user_email text;
alter table app_public.team_members add column sort_key text not null default '';
alter table app_public.invitation_teams add column sort_key text not null default '',
  add column pending boolean not null default true;

drop trigger team_members_authz on app_public.team_members;
create trigger team_members_authz after insert or delete or update of org_id, team_id, membership_id
  on app_public.team_members for each row execute function app_private.bump_authz_version();

-------------------------------------------------------------------------------
-- Backfill (no timestamps touched: memberships.updated_at says when a person's record changed)
-------------------------------------------------------------------------------
alter table app_public.memberships no force row level security;
alter table app_public.team_members no force row level security;
alter table app_public.invitations no force row level security;
alter table app_public.invitation_teams no force row level security;
alter table app_public.memberships disable trigger memberships_updated_at;
update app_public.memberships m set user_name = u.name, user_email = u.email
from app_public.users u where u.id = m.user_id;
alter table app_public.memberships enable trigger memberships_updated_at;
update app_public.team_members tm set sort_key = m.sort_key
from app_public.memberships m where m.org_id = tm.org_id and m.id = tm.membership_id;
update app_public.invitation_teams it set sort_key = i.email, pending = (i.status = 'pending')
from app_public.invitations i where i.org_id = it.org_id and i.id = it.invitation_id;
alter table app_public.memberships force row level security;
alter table app_public.team_members force row level security;
alter table app_public.invitations force row level security;
alter table app_public.invitation_teams force row level security;

-------------------------------------------------------------------------------
-- The People list's order on a team's rows
-------------------------------------------------------------------------------
create index team_members_people_order on app_public.team_members (org_id, team_id, sort_key, membership_id);
create index invitation_teams_people_order on app_public.invitation_teams (org_id, team_id, sort_key, invitation_id)
  where pending;

-------------------------------------------------------------------------------
-- Memberships: sort key and search copies from the user
-------------------------------------------------------------------------------
-- SECURITY DEFINER: a membership's sort key and copies come from its user's row, which the
-- inserting request (an invitation being accepted, a domain join) may not be allowed to read.
create or replace function app_private.set_membership_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_name text;
  v_email text;
begin
  -- FOR SHARE: a rename of this user in flight (resort_memberships_of_user) commits first and is
  -- read here, or waits for this row; unlocked, each missed the other and the copies stayed stale.
  select u.name, u.email into v_name, v_email from app_public.users u where u.id = new.user_id for share;
  new.sort_key := lower(coalesce(v_name, v_email, ''));
  new.user_name := v_name;
  new.user_email := v_email;
  return new;
end $$;
drop trigger memberships_sort_key on app_public.memberships;
create trigger memberships_sort_key before insert or update of user_id, sort_key, user_name, user_email
  on app_public.memberships for each row execute function app_private.set_membership_sort_key();

-- SECURITY DEFINER: a user's new name re-sorts their memberships in every organization, which
-- the identity upsert (bound to none of them) cannot see. Binds each organization in turn, as
-- the other definer functions do, and restores the caller's settings. The team rows follow
-- (memberships_team_sort_key, below, runs as the owner under these bindings).
create or replace function app_private.resort_memberships_of_user() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  saved_user text := current_setting('app.user_id', true);
  v_org uuid;
begin
  perform set_config('app.user_id', new.id::text, true);
  for v_org in select m.org_id from app_public.memberships m where m.user_id = new.id loop
    perform set_config('app.org_id', v_org::text, true), set_config('app.role', 'staff', true);
    update app_public.memberships
    set sort_key = lower(coalesce(new.name, new.email, '')), user_name = new.name, user_email = new.email
    where org_id = v_org and user_id = new.id;
  end loop;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true),
    set_config('app.user_id', coalesce(saved_user, ''), true);
  return null;
end $$;

-------------------------------------------------------------------------------
-- Team rows: the sort key (and, for invitations, pending) from the person
-------------------------------------------------------------------------------
-- SECURITY DEFINER: the copy is not the caller's to choose (forced on every write). FOR SHARE:
-- a rename in flight (its membership row locked) finishes first and the new key is read, or the
-- rename waits for this row and then rewrites it; without it, a team row inserted while its
-- member is renamed would keep the old key.
create function app_private.set_team_member_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  new.sort_key := coalesce((select m.sort_key from app_public.memberships m
                            where m.org_id = new.org_id and m.id = new.membership_id for share), '');
  return new;
end $$;
create trigger zz_team_members_sort_key before insert or update on app_public.team_members
  for each row execute function app_private.set_team_member_sort_key();

-- SECURITY DEFINER: a rename runs bound to no permission, and team_members' update policy
-- (008) asks gateway_app for people.manage; the owner writes the copy under the same
-- organization binding (forced RLS).
create function app_private.resort_team_members() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update app_public.team_members set sort_key = new.sort_key
  where org_id = new.org_id and membership_id = new.id and sort_key is distinct from new.sort_key;
  return null;
end $$;
create trigger memberships_team_sort_key after update on app_public.memberships
  for each row when (old.sort_key is distinct from new.sort_key)
  execute function app_private.resort_team_members();

-- SECURITY DEFINER, FOR SHARE: as set_team_member_sort_key, with the invitation's email and status.
create function app_private.set_invitation_team_sort_key() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_invitation record;
begin
  -- Bound to the request's organization explicitly: as the owner, a plain read of invitations
  -- sees every organization (owner_lookup). FOR SHARE: a revoke or accept in flight is read
  -- after it commits, not missed.
  select i.email, i.status into v_invitation from app_public.invitations i
  where i.org_id = new.org_id and i.org_id = (select app_public.current_staff_org_id())
    and i.id = new.invitation_id for share;
  new.sort_key := coalesce(v_invitation.email, '');
  new.pending := coalesce(v_invitation.status = 'pending', false);
  return new;
end $$;
create trigger zz_invitation_teams_sort_key before insert or update on app_public.invitation_teams
  for each row execute function app_private.set_invitation_team_sort_key();

-- SECURITY DEFINER: accepting an invitation runs as the owner already; revoking one as
-- gateway_app, whose invitation_teams update needs people.manage (it holds it to revoke, but
-- the copy should not depend on that).
create function app_private.follow_invitation_on_teams() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update app_public.invitation_teams set sort_key = new.email, pending = (new.status = 'pending')
  where org_id = new.org_id and invitation_id = new.id;
  return null;
end $$;
create trigger invitations_team_sort_key after update on app_public.invitations
  for each row when ((old.email, old.status) is distinct from (new.email, new.status))
  execute function app_private.follow_invitation_on_teams();

revoke execute on all functions in schema app_private from public;

-------------------------------------------------------------------------------
-- Search indexes: 021's three, and People's two
-------------------------------------------------------------------------------
create or replace function app_private.ensure_search_indexes() returns int
language plpgsql as $$
declare
  built int := 0;
  wanted text[][] := array[
    ['definitions_search', 'app_public.definitions (org_id, kind, name gateway_search.gin_contains_ops, description gateway_search.gin_contains_ops)'],
    ['connections_search', 'app_public.connections (org_id, customer_id, name gateway_search.gin_contains_ops)'],
    ['customers_search', 'app_public.customers (org_id, name gateway_search.gin_contains_ops, slug gateway_search.gin_contains_ops)'],
    ['memberships_search', 'app_public.memberships (org_id, user_name gateway_search.gin_contains_ops, user_email gateway_search.gin_contains_ops)'],
    ['invitations_search', 'app_public.invitations (org_id, email gateway_search.gin_contains_ops)']
  ];
  i int;
begin
  if not exists (select 1 from pg_opclass c join pg_namespace n on n.oid = c.opcnamespace join pg_am a on a.oid = c.opcmethod
                 where n.nspname = 'gateway_search' and c.opcname = 'gin_contains_ops' and a.amname = 'gin')
     or not exists (select 1 from pg_opclass c join pg_am a on a.oid = c.opcmethod
                    where c.opcintype = 'uuid'::regtype and c.opcdefault and a.amname = 'gin') then
    raise notice 'search indexes not built: run db:bootstrap as a superuser (leakproof search operator, pg_trgm, btree_gin)';
    return 0;
  end if;
  for i in 1 .. array_length(wanted, 1) loop
    if to_regclass('app_public.' || wanted[i][1]) is null then
      execute format('create index %I on %s using gin %s with (fastupdate = off)',
        wanted[i][1], split_part(wanted[i][2], ' ', 1), substr(wanted[i][2], strpos(wanted[i][2], ' ') + 1));
      built := built + 1;
    end if;
  end loop;
  return built;
end $$;
revoke all on function app_private.ensure_search_indexes() from public;

select app_private.ensure_search_indexes();
