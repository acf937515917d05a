-- 002 administration: what an Owner or Admin manages under Settings. Organization settings,
-- teams (a team may carry a role; members get the union), invitations and email-domain join
-- requests, sign-in sessions (one auth.login per session), per-customer billing limits, the
-- exactly-one-Owner rule, and audit retention.

-------------------------------------------------------------------------------
-- Settings and limits
-------------------------------------------------------------------------------
alter table app_public.organizations
  add column timezone text not null default 'UTC' check (length(timezone) between 1 and 64),
  add column email_domain text
    check (email_domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'),
  add column auto_approve_domain_users boolean not null default false,
  -- No foreign key (it would point back at a child of this row); the gateway validates it and
  -- counts it as a use when a role is deleted.
  add column auto_approve_role_id uuid;
create index organizations_email_domain on app_public.organizations (email_domain) where email_domain is not null;

alter table app_public.customers
  add column max_connections int check (max_connections >= 0),
  add column max_executions_per_month int check (max_executions_per_month >= 0);

-------------------------------------------------------------------------------
-- Teams
-------------------------------------------------------------------------------
create table app_public.teams (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 80),
  description text not null default '' check (length(description) <= 500),
  role_id uuid,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  foreign key (org_id, role_id) references app_public.roles (org_id, id) on delete no action
);
create unique index teams_name_unique on app_public.teams (org_id, lower(btrim(name)));
create index teams_role on app_public.teams (org_id, role_id);
create trigger teams_updated_at before update on app_public.teams
  for each row execute function app_private.touch_updated_at();

create table app_public.team_members (
  org_id uuid not null,
  team_id uuid not null,
  membership_id uuid not null,
  added_at timestamptz not null default clock_timestamp(),
  primary key (org_id, team_id, membership_id),
  foreign key (org_id, team_id) references app_public.teams (org_id, id) on delete cascade,
  foreign key (org_id, membership_id) references app_public.memberships (org_id, id) on delete cascade
);
create index team_members_member on app_public.team_members (org_id, membership_id);

create trigger teams_authz after delete or update of role_id on app_public.teams
  for each row execute function app_private.bump_authz_version();
create trigger team_members_authz after insert or delete or update on app_public.team_members
  for each row execute function app_private.bump_authz_version();

-------------------------------------------------------------------------------
-- Invitations: a pending invitation per email, with an expiry; accepted only by a token whose
-- verified email matches (app_private.accept_invitation).
-------------------------------------------------------------------------------
create table app_public.invitations (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  email text not null check (email = lower(email) and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 254),
  role_id uuid not null,
  -- End User invitations name the customer the invitee will belong to.
  customer_id uuid,
  status text not null default 'pending' check (status in ('pending', 'accepted', 'revoked')),
  expires_at timestamptz not null,
  invited_by uuid references app_public.users (id) on delete set null,
  send_count int not null default 1,
  last_sent_at timestamptz not null default clock_timestamp(),
  accepted_by uuid references app_public.users (id) on delete set null,
  accepted_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id),
  -- CASCADE: accepted and revoked invitations are history and must not pin a role; the gateway
  -- refuses to delete a role that pending invitations still name.
  foreign key (org_id, role_id) references app_public.roles (org_id, id) on delete cascade,
  foreign key (org_id, customer_id) references app_public.customers (org_id, id) on delete cascade
);
create unique index invitations_pending_email on app_public.invitations (org_id, email) where status = 'pending';
create index invitations_email on app_public.invitations (email) where status = 'pending';
create trigger invitations_updated_at before update on app_public.invitations
  for each row execute function app_private.touch_updated_at();

create table app_public.invitation_teams (
  org_id uuid not null,
  invitation_id uuid not null,
  team_id uuid not null,
  primary key (org_id, invitation_id, team_id),
  foreign key (org_id, invitation_id) references app_public.invitations (org_id, id) on delete cascade,
  foreign key (org_id, team_id) references app_public.teams (org_id, id) on delete cascade
);

-------------------------------------------------------------------------------
-- Join requests from people whose verified email is in the organization's domain.
-------------------------------------------------------------------------------
create table app_public.join_requests (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  user_id uuid not null references app_public.users (id) on delete cascade,
  -- Who asked, as they were then: staff cannot read a non-member's user row.
  email text not null,
  name text,
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  decided_by uuid references app_public.users (id) on delete set null,
  decided_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  primary key (org_id, id)
);
create unique index join_requests_pending on app_public.join_requests (org_id, user_id) where status = 'pending';

-------------------------------------------------------------------------------
-- Sign-in sessions: the first request of a token's session (`sid`, else `jti`) in an
-- organization records auth.login; the primary key makes that once across replicas.
-------------------------------------------------------------------------------
create table app_public.sign_in_sessions (
  org_id uuid not null references app_public.organizations (id) on delete cascade,
  session_key text not null check (length(session_key) <= 256),
  user_id uuid not null references app_public.users (id) on delete cascade,
  first_seen_at timestamptz not null default clock_timestamp(),
  primary key (org_id, session_key)
);

-------------------------------------------------------------------------------
-- Row-level security for the new tables.
-------------------------------------------------------------------------------
alter table app_public.teams enable row level security;
alter table app_public.teams force row level security;
alter table app_public.team_members enable row level security;
alter table app_public.team_members force row level security;
alter table app_public.invitations enable row level security;
alter table app_public.invitations force row level security;
alter table app_public.invitation_teams enable row level security;
alter table app_public.invitation_teams force row level security;
alter table app_public.join_requests enable row level security;
alter table app_public.join_requests force row level security;
alter table app_public.sign_in_sessions enable row level security;
alter table app_public.sign_in_sessions force row level security;

create policy staff_all on app_public.teams for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.team_members for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.invitations for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.invitation_teams for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
create policy staff_all on app_public.join_requests for all
  using (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff')
  with check (org_id = (select app_public.current_org_id()) and (select app_public.current_access()) = 'staff');
-- Anyone acting in an organization records their own sessions there (End Users included).
create policy own_sessions on app_public.sign_in_sessions for all
  using (org_id = (select app_public.current_org_id()) and user_id = (select app_public.current_user_id()))
  with check (org_id = (select app_public.current_org_id()) and user_id = (select app_public.current_user_id()));

-- The database, not the caller, says when an event happened: no backdating past retention.
create function app_private.stamp_audit_event() returns trigger
language plpgsql as $$
begin
  new.occurred_at := clock_timestamp();
  return new;
end $$;
create trigger audit_events_stamp before insert on app_public.audit_events
  for each row execute function app_private.stamp_audit_event();

-- The owner (a DBA's job, `npm run audit:purge`) may delete audit events past retention.
-- (A DELETE with a WHERE clause must also see the rows: hence the owner's read policies.)
create policy purge_by_owner on app_public.audit_events for delete to gateway_owner using (true);
create policy purge_read_by_owner on app_public.audit_events for select to gateway_owner using (true);
create policy purge_by_owner on app_public.sign_in_sessions for delete to gateway_owner using (true);
create policy purge_read_by_owner on app_public.sign_in_sessions for select to gateway_owner using (true);

-- Cached principals carry the organization's name: a rename is an authorization-version change.
create function app_private.bump_authz_version_of_organization() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into app_private.authz_versions as v (org_id, version) values (new.id, 1)
  on conflict (org_id) do update set version = v.version + 1;
  return null;
end $$;
create trigger organizations_authz after update of name on app_public.organizations
  for each row when (old.name is distinct from new.name) execute function app_private.bump_authz_version_of_organization();

grant select, insert, update, delete on app_public.teams, app_public.team_members, app_public.invitations,
  app_public.invitation_teams, app_public.join_requests to gateway_app;
grant select, insert on app_public.sign_in_sessions to gateway_app;

-------------------------------------------------------------------------------
-- Exactly one active Owner per organization, checked at commit (a transfer changes two rows).
-------------------------------------------------------------------------------
create function app_private.assert_single_owner(p_org uuid) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_owners int;
  v_exists boolean;
begin
  perform set_config('app.org_id', p_org::text, true), set_config('app.role', 'staff', true);
  select exists (select 1 from app_public.organizations where id = p_org) into v_exists;
  if v_exists then
    select count(*) into v_owners
    from app_public.memberships m join app_public.roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.org_id = p_org and r.system_key = 'owner' and m.status = 'active';
  end if;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
  if v_exists and v_owners <> 1 then
    raise exception 'organization % would have % active owners', p_org, v_owners
      using errcode = '23514', constraint = 'memberships_single_owner';
  end if;
end $$;

create function app_private.check_single_owner() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform app_private.assert_single_owner(coalesce(new.org_id, old.org_id));
  return null;
end $$;

create function app_private.check_single_owner_of_new_organization() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform app_private.assert_single_owner(new.id);
  return null;
end $$;

create constraint trigger memberships_single_owner
  after insert or update of role_id, status or delete on app_public.memberships
  deferrable initially deferred
  for each row execute function app_private.check_single_owner();

-- A new organization must have its Owner by the end of the transaction that creates it.
create constraint trigger organizations_single_owner
  after insert on app_public.organizations
  deferrable initially deferred
  for each row execute function app_private.check_single_owner_of_new_organization();

-------------------------------------------------------------------------------
-- System roles are immutable, in the database too: their key, name and description do not
-- change, they get no grants of their own (theirs come from the catalogue), and they are deleted
-- only with their organization. Without this, renaming a role's key could make a second Owner.
-------------------------------------------------------------------------------
create function app_private.guard_system_roles() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_org_exists boolean;
begin
  if tg_op = 'UPDATE' then
    if new.system_key is distinct from old.system_key
       or (old.system_key is not null and (new.name, new.description) is distinct from (old.name, old.description)) then
      raise exception 'system roles are immutable' using errcode = '42501';
    end if;
    return new;
  end if;
  -- DELETE: allowed only while the organization itself is being deleted.
  if old.system_key is not null then
    perform set_config('app.org_id', old.org_id::text, true), set_config('app.role', 'staff', true);
    select exists (select 1 from app_public.organizations where id = old.org_id) into v_org_exists;
    perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
    if v_org_exists then
      raise exception 'system roles are immutable' using errcode = '42501';
    end if;
  end if;
  return old;
end $$;
create trigger roles_guard_system before update or delete on app_public.roles
  for each row execute function app_private.guard_system_roles();

create function app_private.guard_system_role_grants() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_system boolean;
begin
  perform set_config('app.org_id', new.org_id::text, true), set_config('app.role', 'staff', true);
  select r.system_key is not null into v_system from app_public.roles r where r.org_id = new.org_id and r.id = new.role_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
  if v_system then
    raise exception 'system roles get their permissions from the catalogue' using errcode = '42501';
  end if;
  return new;
end $$;
create trigger role_permissions_guard_system before insert or update on app_public.role_permissions
  for each row execute function app_private.guard_system_role_grants();

-------------------------------------------------------------------------------
-- A customer-confined role (End User) always comes with its customer, and only it does: a
-- confined member without a customer would otherwise be bound as staff.
-------------------------------------------------------------------------------
create function app_private.check_role_customer() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_confined boolean;
begin
  perform set_config('app.org_id', new.org_id::text, true), set_config('app.role', 'staff', true);
  select coalesce(s.customer_confined, false) into v_confined
  from app_public.roles r left join app_public.system_roles s on s.key = r.system_key
  where r.org_id = new.org_id and r.id = new.role_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
  if coalesce(v_confined, false) <> (new.customer_id is not null) then
    raise exception 'a customer-confined role needs a customer, and only such a role has one'
      using errcode = '23514', constraint = 'role_customer_consistency';
  end if;
  return new;
end $$;
create trigger memberships_role_customer before insert or update of role_id, customer_id on app_public.memberships
  for each row execute function app_private.check_role_customer();
create trigger invitations_role_customer before insert or update of role_id, customer_id on app_public.invitations
  for each row execute function app_private.check_role_customer();

-------------------------------------------------------------------------------
-- Effective permissions: the member's role ∪ the roles of their teams.
-------------------------------------------------------------------------------
create or replace function app_private.resolve_principal(p_user_id uuid, p_org_id uuid)
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
    with granted_roles as (
      select m.role_id from app_public.memberships m where m.user_id = p_user_id and m.org_id = p_org_id
      union
      select t.role_id
      from app_public.memberships m
      join app_public.team_members tm on tm.org_id = m.org_id and tm.membership_id = m.id
      join app_public.teams t on t.org_id = tm.org_id and t.id = tm.team_id
      where m.user_id = p_user_id and m.org_id = p_org_id and t.role_id is not null
    )
    select m.id, o.id, o.name, r.id, r.system_key, r.name, m.customer_id, m.status,
      array(
        select srp.permission_key
        from granted_roles g
        join app_public.roles gr on gr.org_id = p_org_id and gr.id = g.role_id
        join app_public.system_role_permissions srp on srp.role_key = gr.system_key
        union
        select rp.permission_key
        from granted_roles g
        join app_public.role_permissions rp on rp.org_id = p_org_id and rp.role_id = g.role_id
        order by 1
      ),
      v_version
    from app_public.memberships m
    join app_public.organizations o on o.id = m.org_id
    join app_public.roles r on r.org_id = m.org_id and r.id = m.role_id
    where m.user_id = p_user_id and m.org_id = p_org_id;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;

-------------------------------------------------------------------------------
-- Last active, at most once a minute per member, whatever the member may write (End Users
-- cannot update memberships themselves).
-------------------------------------------------------------------------------
create function app_private.touch_member(p_membership_id uuid) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
begin
  perform set_config('app.role', 'staff', true);
  update app_public.memberships set last_active_at = now()
  where org_id = app_public.current_org_id() and id = p_membership_id and user_id = app_public.current_user_id()
    and (last_active_at is null or last_active_at < now() - interval '1 minute');
  perform set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.touch_member(uuid) to gateway_app;

-------------------------------------------------------------------------------
-- Flows of people who are not (yet) members: they cannot read the organization's rows, so
-- these functions do the narrow thing asked, as the owner bound to that organization, and
-- restore the caller's settings. The gateway passes only a verified token's email.
-------------------------------------------------------------------------------

-- Narrow, read-only exceptions to the owner's forced RLS, for the lookups below that must find
-- rows before they know which organization to bind.
create policy owner_lookup on app_public.invitations for select to gateway_owner using (true);
create policy owner_domain_lookup on app_public.organizations for select to gateway_owner using (email_domain is not null);

-- Pending, unexpired invitations addressed to an email (the invitee's "you are invited" list).
create function app_private.invitations_for(p_email text)
returns table (invitation_id uuid, org_id uuid, org_name text, role_name text, expires_at timestamptz, invited_by_name text)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  r record;
begin
  perform set_config('app.role', 'staff', true);
  for r in
    select distinct i.org_id from app_public.invitations i
    where i.email = lower(p_email) and i.status = 'pending' and i.expires_at > now()
  loop
    perform set_config('app.org_id', r.org_id::text, true);
    return query
      select i.id, i.org_id, o.name, ro.name, i.expires_at, coalesce(u.name, u.email)
      from app_public.invitations i
      join app_public.organizations o on o.id = i.org_id
      join app_public.roles ro on ro.org_id = i.org_id and ro.id = i.role_id
      left join app_public.users u on u.id = i.invited_by
      where i.org_id = r.org_id and i.email = lower(p_email) and i.status = 'pending' and i.expires_at > now();
  end loop;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
end $$;
grant execute on function app_private.invitations_for(text) to gateway_app;

-- Accept an invitation as `p_user_id`, whose verified email is `p_email`. Returns an outcome
-- rather than raising, so the gateway can audit a refusal in the invitation's organization:
-- accepted | not_found | wrong_email | revoked | already_accepted | expired | already_member.
create function app_private.accept_invitation(p_invitation_id uuid, p_user_id uuid, p_email text)
returns table (outcome text, org_id uuid, membership_id uuid)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_org uuid;
  v_invitation app_public.invitations;
  v_membership uuid;
  v_outcome text;
begin
  -- Only for the bound user, and only with the email their user row holds as verified.
  if p_user_id is distinct from app_public.current_user_id()
     or not exists (select 1 from app_public.users u
                    where u.id = p_user_id and u.email_verified and lower(u.email) = lower(p_email)) then
    p_email := null;
  end if;
  select i.org_id into v_org from app_public.invitations i where i.id = p_invitation_id;
  if v_org is null then
    return query select 'not_found'::text, null::uuid, null::uuid;
    return;
  end if;
  perform set_config('app.org_id', v_org::text, true), set_config('app.role', 'staff', true);
  select * into v_invitation from app_public.invitations i where i.org_id = v_org and i.id = p_invitation_id for update;
  -- Someone else's invitation learns nothing about its state.
  if p_email is null or v_invitation.email <> lower(p_email) then v_outcome := 'wrong_email';
  elsif v_invitation.status = 'revoked' then v_outcome := 'revoked';
  elsif v_invitation.status = 'accepted' then v_outcome := 'already_accepted';
  elsif v_invitation.expires_at <= now() then v_outcome := 'expired';
  elsif exists (select 1 from app_public.memberships m where m.org_id = v_org and m.user_id = p_user_id) then
    v_outcome := 'already_member';
  else
    insert into app_public.memberships (org_id, user_id, role_id, customer_id)
    values (v_org, p_user_id, v_invitation.role_id, v_invitation.customer_id)
    returning id into v_membership;
    insert into app_public.team_members (org_id, team_id, membership_id)
    select it.org_id, it.team_id, v_membership from app_public.invitation_teams it
    where it.org_id = v_org and it.invitation_id = p_invitation_id;
    update app_public.invitations set status = 'accepted', accepted_by = p_user_id, accepted_at = now()
    where invitations.org_id = v_org and id = p_invitation_id;
    v_outcome := 'accepted';
  end if;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
  return query select v_outcome, v_org, v_membership;
end $$;
grant execute on function app_private.accept_invitation(uuid, uuid, text) to gateway_app;

-- Organizations that accept members by the domain of a verified email.
create function app_private.organizations_for_domain(p_email text)
returns table (org_id uuid, org_name text, auto_approve boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select o.id, o.name, o.auto_approve_domain_users
  from app_public.organizations o
  where o.email_domain = split_part(lower(p_email), '@', 2)
  order by lower(o.name), o.id
$$;
grant execute on function app_private.organizations_for_domain(text) to gateway_app;

-- Ask to join by email domain: joins at once with the configured role when auto-approve is on
-- (Viewer when none is configured), else files a request. Returns an outcome:
-- joined | requested | already_requested | already_member | not_eligible.
create function app_private.request_to_join(p_org_id uuid, p_user_id uuid, p_email text, p_name text)
returns table (outcome text, membership_id uuid, request_id uuid)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  saved_org text := current_setting('app.org_id', true);
  saved_access text := current_setting('app.role', true);
  v_org app_public.organizations;
  v_role uuid;
  v_membership uuid;
  v_request uuid;
  v_outcome text;
begin
  -- Only for the bound user, and only with the email their user row holds as verified.
  if p_user_id is distinct from app_public.current_user_id()
     or not exists (select 1 from app_public.users u
                    where u.id = p_user_id and u.email_verified and lower(u.email) = lower(p_email)) then
    p_email := null;
  end if;
  perform set_config('app.org_id', p_org_id::text, true), set_config('app.role', 'staff', true);
  select * into v_org from app_public.organizations o where o.id = p_org_id;
  if v_org.id is null or p_email is null or v_org.email_domain is distinct from split_part(lower(p_email), '@', 2) then
    v_outcome := 'not_eligible';
  elsif exists (select 1 from app_public.memberships m where m.org_id = p_org_id and m.user_id = p_user_id) then
    v_outcome := 'already_member';
  elsif v_org.auto_approve_domain_users then
    select r.id into v_role from app_public.roles r
    left join app_public.system_roles s on s.key = r.system_key
    where r.org_id = p_org_id
      and r.id = coalesce(v_org.auto_approve_role_id, (select id from app_public.roles where org_id = p_org_id and system_key = 'viewer'))
      and r.system_key is distinct from 'owner' and not coalesce(s.customer_confined, false);
    insert into app_public.memberships (org_id, user_id, role_id) values (p_org_id, p_user_id, v_role)
    returning id into v_membership;
    v_outcome := 'joined';
  else
    insert into app_public.join_requests (org_id, user_id, email, name) values (p_org_id, p_user_id, lower(p_email), p_name)
    on conflict (org_id, user_id) where status = 'pending' do nothing
    returning id into v_request;
    v_outcome := case when v_request is null then 'already_requested' else 'requested' end;
  end if;
  perform set_config('app.org_id', coalesce(saved_org, ''), true), set_config('app.role', coalesce(saved_access, ''), true);
  return query select v_outcome, v_membership, v_request;
end $$;
grant execute on function app_private.request_to_join(uuid, uuid, text, text) to gateway_app;

revoke execute on all functions in schema app_private from public;
