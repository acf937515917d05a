/**
 * People: members (active or inactive) and pending invitations, as the product's People page shows
 * them; inviting, accepting, changing roles, deactivating; and email-domain join requests.
 */
import type { Principal } from '../auth/principal.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, forbidden, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { assertHolds, requireRole, type RoleRow } from './roles.js';
import { permissionSources, requireTeam } from './teams.js';
import { isPermission } from '../authz/permissions.js';

export const INVITATION_LIFETIME_DAYS = 7;

export type PersonStatus = 'active' | 'inactive' | 'invited';

export interface PersonRow {
  id: string;
  kind: 'member' | 'invitation';
  user_id: string | null;
  name: string | null;
  email: string | null;
  role_id: string;
  status: PersonStatus;
  customer_id: string | null;
  last_active_at: Date | null;
  created_at: Date;
  expires_at: Date | null;
  cursor_key: string;
  total_count?: number;
}

export interface PeopleFilter {
  roleId?: string | null;
  status?: PersonStatus | null;
  teamId?: string | null;
  search?: string | null;
}

/**
 * Members and pending invitations, each cut to a page on its own ordered index
 * (memberships_people_order, invitations_people_order), then merged: a member sorts by its
 * `sort_key` (its user's lower-cased name, else email, kept in step by triggers, see migration
 * 007), an invitation by its email (stored lower-case).
 *
 * A team's people are cut on the team's rows instead (migration 022): team_members and
 * invitation_teams carry the same sort keys (kept in step by triggers) in the same order, so a
 * team's page reads the team's rows in order and joins each member or invitation by primary key,
 * with the cursors of the unfiltered list.
 *
 * Search matches a member on its user's name or email (copies on the membership, 022: the
 * indexed search of the other lists), an invitation on its email.
 */
/** `statusAndRole`: the membership's own (m), or a team row's copies of them (tm, 025). */
const memberColumns = (statusAndRole: 'm' | 'tm') => `'member'::text as kind, m.user_id, null::text as invited_email,
    ${statusAndRole}.role_id, ${statusAndRole}.status, m.customer_id, m.last_active_at, m.created_at,
    null::timestamptz as expires_at, m.user_name, m.user_email`;
/** `role`: the invitation's own (i), or a team row's copy of it (it, 025). */
const invitationColumns = (role: 'i' | 'it') => `'invitation'::text as kind, null::uuid as user_id, i.email as invited_email,
    ${role}.role_id, 'invited'::text as status, i.customer_id, null::timestamptz as last_active_at, i.created_at, i.expires_at`;
const MEMBERS = `select m.id, ${memberColumns('m')}, m.sort_key
  from memberships m
  -- The policy also shows callers their own memberships elsewhere (the org switcher): not people here.
  where m.org_id = (select app_public.current_org_id())`;
const INVITATIONS = `select i.id, ${invitationColumns('i')}, i.email as sort_key from invitations i where i.status = 'pending'`;
/**
 * A team's members, in the list's order on the team's rows (team_members_people_order). The status
 * and role are the team row's copies (025), so a status or role filter is an index condition on
 * the team's rows (team_members_status_order, team_members_role_order), not a check of every member.
 */
const TEAM_MEMBERS = `select tm.membership_id as id, ${memberColumns('tm')}, tm.sort_key, tm.team_id
  from team_members tm join memberships m on m.org_id = tm.org_id and m.id = tm.membership_id
  where tm.org_id = (select app_public.current_org_id())`;
/** A team's pending invitations (invitation_teams_people_order holds the pending ones only; the role is the copy, 025). */
const TEAM_INVITATIONS = `select it.invitation_id as id, ${invitationColumns('it')}, it.sort_key, it.team_id
  from invitation_teams it join invitations i on i.org_id = it.org_id and i.id = it.invitation_id
  where it.pending and i.status = 'pending'`;

interface PeopleSource {
  from: string;
  /** What a search matches in this source. */
  search: string[];
}

/** Only the branch a status can match: a branch that matches nothing would be read to its end. */
function peopleSources(status: PersonStatus | null | undefined, inTeam: boolean): PeopleSource[] {
  const members = { from: `(${inTeam ? TEAM_MEMBERS : MEMBERS}) p`, search: ['p.user_name', 'p.user_email'] };
  const invitations = { from: `(${inTeam ? TEAM_INVITATIONS : INVITATIONS}) p`, search: ['p.invited_email'] };
  if (status === 'invited') return [invitations];
  if (status) return [members];
  return [members, invitations];
}

/** The People table: sorted by name (or email, for invitations), then id. */
export async function listPeople(
  db: RequestDatabase,
  filter: PeopleFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<PersonRow>> {
  const sources = peopleSources(filter.status, Boolean(filter.teamId));
  const where = new Conditions()
    .add((p) => `p.role_id = ${p}::uuid`, filter.roleId)
    .add((p) => `p.status = ${p}`, filter.status)
    .add((p) => `p.team_id = ${p}::uuid`, filter.teamId)
    .search(
      sources.map((s) => s.search),
      filter.search,
    );
  return pagedQuery<PersonRow>(db, {
    columns:
      'p.id, p.kind, p.user_id, p.invited_email, p.role_id, p.status, p.customer_id, p.last_active_at, p.created_at, p.expires_at',
    from: sources.map((s) => s.from),
    where,
    sort: { expression: 'p.sort_key', type: 'text', direction: 'asc', id: 'p.id' },
    page,
    withTotal,
    decorate: {
      columns: 'u.name, coalesce(u.email, page.invited_email) as email',
      joins: 'left join users u on u.id = page.user_id',
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

export interface MemberRow {
  id: string;
  user_id: string;
  role_id: string;
  customer_id: string | null;
  status: 'active' | 'inactive';
  last_active_at: Date | null;
  created_at: Date;
  role_key: string | null;
}

const MEMBER_SELECT = `select m.id, m.user_id, m.role_id, m.customer_id, m.status, m.last_active_at, m.created_at, r.system_key as role_key
  from memberships m join roles r on r.org_id = m.org_id and r.id = m.role_id`;

export async function loadMembers(db: RequestDatabase, ids: readonly string[]): Promise<MemberRow[]> {
  return (await db.query<MemberRow>(`${MEMBER_SELECT} where m.id = any($1::uuid[])`, [ids])).rows;
}

export async function requireMember(db: RequestDatabase, id: string): Promise<MemberRow> {
  const member = (await loadMembers(db, [id]))[0];
  if (!member) throw notFound('Member', id);
  return member;
}

/** A role that may be given to someone by `caller`: not Owner (ownership is transferred), and held. */
async function requireAssignableRole(db: RequestDatabase, caller: Principal, roleId: string, field: string): Promise<RoleRow> {
  const role = await requireRole(db, roleId);
  if (role.system_key === 'owner') throw badUserInput(field, 'the Owner role is not assigned; transfer ownership instead');
  assertHolds(caller, role.permissions, `assign the role ${role.name}`);
  return role;
}

/** Customer-confined roles need a customer of this organization; staff roles must not name one. */
async function customerForRole(
  db: RequestDatabase,
  role: RoleRow,
  customerId: string | null | undefined,
  field: string,
): Promise<string | null> {
  if (!role.customer_confined) {
    if (customerId) throw badUserInput(field, `${role.name} is not a customer role; leave the customer out`);
    return null;
  }
  if (!customerId) throw badUserInput(field, `${role.name} belongs to one customer: name it`);
  const { rows } = await db.query('select 1 from customers where id = $1', [customerId]);
  if (!rows[0]) throw notFound('Customer', customerId);
  return customerId;
}

/**
 * Members more privileged than the caller are out of their reach: everything the member holds,
 * through their role and their teams' roles, must be held by the caller too.
 */
async function assertCanManage(db: RequestDatabase, caller: Principal, member: MemberRow, action: string): Promise<void> {
  if (member.role_key === 'owner') throw conflict(`The Owner cannot be ${action}; transfer ownership first.`);
  const held = [...new Set((await permissionSources(db, member.id)).map((s) => s.permission_key))].filter(isPermission);
  assertHolds(caller, held, `${action.replace(/d$/, '')} this member`);
}

export async function changeMemberRole(
  db: RequestDatabase,
  caller: Principal,
  memberId: string,
  roleId: string,
  customerId?: string | null,
): Promise<void> {
  const member = await requireMember(db, memberId);
  await assertCanManage(db, caller, member, 'changed');
  const role = await requireAssignableRole(db, caller, roleId, 'input.roleId');
  const customer = await customerForRole(db, role, customerId, 'input.customerId');
  await db.query('update memberships set role_id = $2, customer_id = $3 where id = $1', [memberId, roleId, customer]);
  // Teams are for staff: a member who becomes an End User leaves them.
  if (customer) await db.query('delete from team_members where membership_id = $1', [memberId]);
}

export async function setMemberStatus(
  db: RequestDatabase,
  caller: Principal,
  memberId: string,
  status: 'active' | 'inactive',
): Promise<void> {
  const member = await requireMember(db, memberId);
  if (caller.kind === 'member' && member.id === caller.membershipId) throw conflict('You cannot change your own status.');
  await assertCanManage(db, caller, member, status === 'inactive' ? 'deactivated' : 'reactivated');
  if (member.status === status) throw conflict(`This member is already ${status}.`);
  await db.query('update memberships set status = $2 where id = $1', [memberId, status]);
}

// ---------------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------------

export interface InvitationRow {
  id: string;
  email: string;
  role_id: string;
  customer_id: string | null;
  status: 'pending' | 'accepted' | 'revoked';
  expires_at: Date;
  invited_by: string | null;
  send_count: number;
  last_sent_at: Date;
  accepted_by: string | null;
  accepted_at: Date | null;
  created_at: Date;
}

const INVITATION_SELECT = `select id, email, role_id, customer_id, status, expires_at, invited_by, send_count, last_sent_at,
  accepted_by, accepted_at, created_at from invitations`;

export async function loadInvitations(db: RequestDatabase, ids: readonly string[]): Promise<InvitationRow[]> {
  return (await db.query<InvitationRow>(`${INVITATION_SELECT} where id = any($1::uuid[])`, [ids])).rows;
}

export async function requireInvitation(db: RequestDatabase, id: string): Promise<InvitationRow> {
  const invitation = (await loadInvitations(db, [id]))[0];
  if (!invitation) throw notFound('Invitation', id);
  return invitation;
}

export async function teamIdsOfInvitations(
  db: RequestDatabase,
  ids: readonly string[],
): Promise<{ invitation_id: string; team_id: string }[]> {
  return (
    await db.query<{ invitation_id: string; team_id: string }>(
      'select invitation_id, team_id from invitation_teams where invitation_id = any($1::uuid[])',
      [ids],
    )
  ).rows;
}

const INVITATION_CONSTRAINTS: ConstraintMessages = {
  unique: {
    invitations_pending_email: {
      field: 'input.email',
      message: 'An invitation to this email is already pending; resend it instead.',
    },
  },
};

export function normalizeEmail(field: string, value: unknown): string {
  const email = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) || email.length > 254) throw badUserInput(field, 'must be an email address');
  return email;
}

export interface InviteInput {
  email: string;
  roleId: string;
  teamIds?: readonly string[] | null;
  customerId?: string | null;
}

export async function inviteMember(db: RequestDatabase, caller: Principal, actorId: string, input: InviteInput): Promise<string> {
  const email = normalizeEmail('input.email', input.email);
  const role = await requireAssignableRole(db, caller, input.roleId, 'input.roleId');
  const customerId = await customerForRole(db, role, input.customerId, 'input.customerId');
  const teamIds = [...new Set(input.teamIds ?? [])];
  if (customerId && teamIds.length) throw badUserInput('input.teamIds', 'End Users cannot join teams');
  for (const teamId of teamIds) {
    const team = await requireTeam(db, teamId);
    if (team.role_id)
      assertHolds(caller, (await requireRole(db, team.role_id)).permissions, `add people to the team ${team.name}`);
  }
  const { rows: existing } = await db.query(
    `select 1 from memberships m join users u on u.id = m.user_id where lower(u.email) = $1`,
    [email],
  );
  if (existing[0]) throw conflict('Someone with this email is already a member.', { field: 'input.email' });
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `insert into invitations (org_id, email, role_id, customer_id, invited_by, expires_at)
       values (app_public.current_org_id(), $1, $2, $3, $4, now() + make_interval(days => $5)) returning id`,
      [email, role.id, customerId, actorId, INVITATION_LIFETIME_DAYS],
    );
    const id = rows[0]!.id;
    if (teamIds.length) {
      await db.query(
        `insert into invitation_teams (org_id, invitation_id, team_id) select app_public.current_org_id(), $1, unnest($2::uuid[])`,
        [id, teamIds],
      );
    }
    return id;
  }, INVITATION_CONSTRAINTS);
}

export async function resendInvitation(db: RequestDatabase, caller: Principal, id: string): Promise<void> {
  const invitation = await requireInvitation(db, id);
  if (invitation.status !== 'pending') throw conflict(`This invitation was ${invitation.status}; send a new one.`);
  assertHolds(caller, (await requireRole(db, invitation.role_id)).permissions, 'resend this invitation');
  await db.query(
    `update invitations set expires_at = now() + make_interval(days => $2), send_count = send_count + 1, last_sent_at = now()
     where id = $1`,
    [id, INVITATION_LIFETIME_DAYS],
  );
}

export async function revokeInvitation(db: RequestDatabase, id: string): Promise<void> {
  const invitation = await requireInvitation(db, id);
  if (invitation.status !== 'pending') throw conflict(`This invitation was already ${invitation.status}.`);
  await db.query(`update invitations set status = 'revoked' where id = $1`, [id]);
}

export type AcceptOutcome =
  'accepted' | 'not_found' | 'wrong_email' | 'revoked' | 'already_accepted' | 'expired' | 'already_member';

/** Runs as the invitee, who cannot read the organization yet: app_private.accept_invitation. */
export async function acceptInvitation(
  db: RequestDatabase,
  invitationId: string,
  userId: string,
  verifiedEmail: string | null,
): Promise<{ outcome: AcceptOutcome; org_id: string | null; membership_id: string | null }> {
  const { rows } = await db.query<{ outcome: AcceptOutcome; org_id: string | null; membership_id: string | null }>(
    'select * from app_private.accept_invitation($1, $2, $3)',
    [invitationId, userId, verifiedEmail],
  );
  return rows[0]!;
}

// ---------------------------------------------------------------------------------------------
// Join requests (email domain)
// ---------------------------------------------------------------------------------------------

export interface JoinRequestRow {
  id: string;
  user_id: string;
  email: string;
  name: string | null;
  status: 'pending' | 'approved' | 'rejected';
  decided_by: string | null;
  decided_at: Date | null;
  created_at: Date;
}

/** A plain (unpaged) list stays bounded: the newest JOIN_REQUEST_LIST_LIMIT (pageJoinRequests pages them all). */
export const JOIN_REQUEST_LIST_LIMIT = 500;

const JOIN_REQUEST_COLUMNS = 'j.id, j.user_id, j.email, j.name, j.status, j.decided_by, j.decided_at, j.created_at';

export async function listJoinRequests(db: RequestDatabase, status: JoinRequestRow['status']): Promise<JoinRequestRow[]> {
  return (
    await db.query<JoinRequestRow>(
      `select ${JOIN_REQUEST_COLUMNS} from join_requests j
       where j.status = $1 order by j.created_at desc, j.id desc limit ${JOIN_REQUEST_LIST_LIMIT}`,
      [status],
    )
  ).rows;
}

/** Join requests with a status, newest first, ties broken by id: one keyset page (index join_requests_recent). */
export async function pageJoinRequests(
  db: RequestDatabase,
  status: JoinRequestRow['status'],
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<JoinRequestRow & { cursor_key: string }>> {
  return pagedQuery<JoinRequestRow>(db, {
    columns: JOIN_REQUEST_COLUMNS,
    from: 'join_requests j',
    where: new Conditions().add((p) => `j.status = ${p}`, status),
    sort: { expression: 'j.created_at', type: 'timestamptz', direction: 'desc', id: 'j.id' },
    page,
    withTotal,
  });
}

async function requirePendingJoinRequest(db: RequestDatabase, id: string): Promise<JoinRequestRow> {
  const { rows } = await db.query<JoinRequestRow>(
    'select id, user_id, email, name, status, decided_by, decided_at, created_at from join_requests where id = $1 for update',
    [id],
  );
  if (!rows[0]) throw notFound('Join request', id);
  if (rows[0].status !== 'pending') throw conflict(`This request was already ${rows[0].status}.`);
  return rows[0];
}

export async function approveJoinRequest(
  db: RequestDatabase,
  caller: Principal,
  actorId: string,
  id: string,
  roleId: string,
): Promise<string> {
  const request = await requirePendingJoinRequest(db, id);
  const role = await requireAssignableRole(db, caller, roleId, 'input.roleId');
  if (role.customer_confined)
    throw badUserInput('input.roleId', 'people joining by email domain are staff; invite End Users instead');
  const { rows: existing } = await db.query('select 1 from memberships where user_id = $1', [request.user_id]);
  if (existing[0]) throw conflict('This person is already a member.');
  const { rows } = await db.query<{ id: string }>(
    `insert into memberships (org_id, user_id, role_id) values (app_public.current_org_id(), $1, $2) returning id`,
    [request.user_id, role.id],
  );
  await db.query(`update join_requests set status = 'approved', decided_by = $2, decided_at = now() where id = $1`, [
    id,
    actorId,
  ]);
  return rows[0]!.id;
}

export async function rejectJoinRequest(db: RequestDatabase, actorId: string, id: string): Promise<void> {
  await requirePendingJoinRequest(db, id);
  await db.query(`update join_requests set status = 'rejected', decided_by = $2, decided_at = now() where id = $1`, [
    id,
    actorId,
  ]);
}

export function assertVerifiedEmail(email: string | null, verified: boolean): string {
  if (!email || !verified) throw forbidden('Your sign-in has no verified email address.');
  return email;
}

export type JoinOutcome = 'joined' | 'requested' | 'already_requested' | 'already_member' | 'not_eligible';

/** Runs as someone who is not a member: app_private.request_to_join. */
export async function requestToJoin(
  db: RequestDatabase,
  orgId: string,
  userId: string,
  verifiedEmail: string,
  name: string | null,
): Promise<{ outcome: JoinOutcome; membership_id: string | null; request_id: string | null }> {
  const { rows } = await db.query<{ outcome: JoinOutcome; membership_id: string | null; request_id: string | null }>(
    'select * from app_private.request_to_join($1, $2, $3, $4)',
    [orgId, userId, verifiedEmail, name],
  );
  return rows[0]!;
}
