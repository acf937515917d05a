/**
 * People (Settings → People): members and pending invitations in one table, filters by role,
 * status and team, search, cursor pages; inviting, role changes, deactivation; join requests.
 * And the invitee's side: accepting an invitation, asking to join by email domain.
 */
import { loadAll } from '../db/loaders.js';
import {
  acceptInvitation,
  approveJoinRequest,
  assertVerifiedEmail,
  changeMemberRole,
  INVITATION_LIFETIME_DAYS,
  inviteMember,
  listJoinRequests,
  JOIN_REQUEST_LIST_LIMIT,
  listPeople,
  pageJoinRequests,
  rejectJoinRequest,
  requestToJoin,
  requireInvitation,
  requireMember,
  resendInvitation,
  revokeInvitation,
  setMemberStatus,
  type InvitationRow,
  type JoinRequestRow,
  type PersonRow,
} from '../domain/people.js';
import { loadOrganization } from '../domain/organizations.js';
import { requireId } from '../domain/validation.js';
import { conflict, forbidden, notFound } from '../errors.js';
import type { Context } from '../context.js';
import { auditOutcome, needsSavepoint } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { CustomerRef } from './customers.js';
import { OrganizationRef } from './organizations.js';
import { InvitationRef, MemberRef, TeamRef } from './refs.js';
import { RoleRef } from './roles.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';

export const MemberStatusEnum = builder.enumType('MemberStatus', {
  values: { ACTIVE: { value: 'active' }, INACTIVE: { value: 'inactive' } } as const,
});

const PersonStatusEnum = builder.enumType('PersonStatus', {
  description: 'As the People table shows it: an invited person is a pending invitation.',
  values: { ACTIVE: { value: 'active' }, INACTIVE: { value: 'inactive' }, INVITED: { value: 'invited' } } as const,
});

const InvitationStatusEnum = builder.enumType('InvitationStatus', {
  values: { PENDING: {}, ACCEPTED: {}, REVOKED: {}, EXPIRED: {} } as const,
});

MemberRef.implement({
  description: 'A person’s membership in the organization.',
  authScopes: readOrMutationResult({ permission: 'people.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    user: t.field({
      type: UserRef,
      resolve: async (m, _args, ctx) => (await ctx.loaders.user.load(m.user_id)) ?? { id: m.user_id, name: null, email: null },
    }),
    role: t.field({
      type: RoleRef,
      resolve: async (m, _args, ctx) => (await ctx.loaders.role.load(m.role_id))!,
    }),
    isOwner: t.boolean({ resolve: (m) => m.role_key === 'owner' }),
    teams: t.field({
      type: [TeamRef],
      resolve: async (m, _args, ctx) => loadAll(ctx.loaders.team, await ctx.loaders.teamIdsOfMember.load(m.id)),
    }),
    status: t.field({ type: MemberStatusEnum, resolve: (m) => m.status }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      description: 'End Users: the customer they belong to.',
      resolve: (m, _args, ctx) => (m.customer_id ? ctx.loaders.customer.load(m.customer_id) : null),
    }),
    lastActiveAt: t.field({ type: 'DateTime', nullable: true, resolve: (m) => m.last_active_at }),
    joinedAt: t.field({ type: 'DateTime', resolve: (m) => m.created_at }),
  }),
});

function invitationStatus(i: InvitationRow): 'PENDING' | 'ACCEPTED' | 'REVOKED' | 'EXPIRED' {
  if (i.status === 'pending') return i.expires_at.getTime() <= Date.now() ? 'EXPIRED' : 'PENDING';
  return i.status === 'accepted' ? 'ACCEPTED' : 'REVOKED';
}

InvitationRef.implement({
  description: 'An invitation to join with a role (and teams). Accepted by a sign-in whose verified email matches.',
  authScopes: readOrMutationResult({ permission: 'people.read' }),
  fields: (t) => ({
    id: t.exposeID('id', { description: 'What the invitee passes to acceptInvitation.' }),
    email: t.exposeString('email'),
    role: t.field({ type: RoleRef, resolve: async (i, _args, ctx) => (await ctx.loaders.role.load(i.role_id))! }),
    teams: t.field({
      type: [TeamRef],
      resolve: async (i, _args, ctx) => loadAll(ctx.loaders.team, await ctx.loaders.teamIdsOfInvitation.load(i.id)),
    }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      resolve: (i, _args, ctx) => (i.customer_id ? ctx.loaders.customer.load(i.customer_id) : null),
    }),
    status: t.field({ type: InvitationStatusEnum, resolve: invitationStatus }),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.expires_at }),
    invitedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (i, _args, ctx) => (i.invited_by ? ctx.loaders.user.load(i.invited_by) : null),
    }),
    sendCount: t.exposeInt('send_count'),
    lastSentAt: t.field({ type: 'DateTime', resolve: (i) => i.last_sent_at }),
    createdAt: t.field({ type: 'DateTime', resolve: (i) => i.created_at }),
    acceptedAt: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.accepted_at }),
  }),
});

const PersonKindEnum = builder.enumType('PersonKind', { values: ['MEMBER', 'INVITATION'] as const });

const PersonRef = builder.objectRef<PersonRow>('Person').implement({
  description: 'A row of the People table: USER (name + email), ROLE, TEAMS, STATUS, LAST ACTIVE.',
  authScopes: { permission: 'people.read' },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The member id, or the invitation id for INVITED rows.' }),
    kind: t.field({ type: PersonKindEnum, resolve: (p) => (p.kind === 'member' ? 'MEMBER' : 'INVITATION') }),
    name: t.exposeString('name', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
    role: t.field({ type: RoleRef, resolve: async (p, _args, ctx) => (await ctx.loaders.role.load(p.role_id))! }),
    teams: t.field({
      type: [TeamRef],
      resolve: async (p, _args, ctx) =>
        loadAll(
          ctx.loaders.team,
          await (p.kind === 'member' ? ctx.loaders.teamIdsOfMember : ctx.loaders.teamIdsOfInvitation).load(p.id),
        ),
    }),
    status: t.field({ type: PersonStatusEnum, resolve: (p) => p.status }),
    lastActiveAt: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.last_active_at }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      resolve: (p, _args, ctx) => (p.customer_id ? ctx.loaders.customer.load(p.customer_id) : null),
    }),
    member: t.field({
      type: MemberRef,
      nullable: true,
      resolve: (p, _args, ctx) => (p.kind === 'member' ? ctx.loaders.member.load(p.id) : null),
    }),
    invitation: t.field({
      type: InvitationRef,
      nullable: true,
      resolve: (p, _args, ctx) => (p.kind === 'invitation' ? ctx.loaders.invitation.load(p.id) : null),
    }),
  }),
});

const JoinRequestStatusEnum = builder.enumType('JoinRequestStatus', {
  values: { PENDING: { value: 'pending' }, APPROVED: { value: 'approved' }, REJECTED: { value: 'rejected' } } as const,
});

const JoinRequestRef = builder.objectRef<JoinRequestRow>('JoinRequest').implement({
  description: 'Someone whose verified email is in the organization’s domain asked to join.',
  authScopes: readOrMutationResult({ permission: 'people.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    email: t.exposeString('email'),
    name: t.exposeString('name', { nullable: true }),
    status: t.field({ type: JoinRequestStatusEnum, resolve: (r) => r.status }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.created_at }),
    decidedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.decided_at }),
    decidedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (r, _args, ctx) => (r.decided_by ? ctx.loaders.user.load(r.decided_by) : null),
    }),
  }),
});

/** Who may list join requests: the plain list and its connection share this one declaration. */
const listJoinRequestsRule = { authScopes: { permission: 'people.read' } } as const;

const PeopleFilter = builder.inputType('PeopleFilter', {
  fields: (t) => ({
    roleId: t.id(),
    status: t.field({ type: PersonStatusEnum }),
    teamId: t.id(),
    search: t.string({ description: 'Case-insensitive match on name or email.' }),
  }),
});

builder.queryFields((t) => ({
  people: t.connection(
    {
      type: PersonRef,
      nullable: true,
      description: 'Members and pending invitations, by name (or email), ties broken by id.',
      authScopes: { permission: 'people.read' },
      args: { filter: t.arg({ type: PeopleFilter }) },
      resolve: (_root, args, ctx, info) =>
        listPeople(
          ctx.db,
          {
            roleId: args.filter?.roleId ? requireId('filter.roleId', args.filter.roleId) : null,
            teamId: args.filter?.teamId ? requireId('filter.teamId', args.filter.teamId) : null,
            status: args.filter?.status,
            search: args.filter?.search,
          },
          args,
          selectsField(info, 'totalCount'),
        ),
    },
    connectionOptions('Person'),
    edgeOptions('Person'),
  ),
  member: t.field({
    type: MemberRef,
    nullable: true,
    authScopes: { permission: 'people.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireMember(ctx.db, requireId('id', args.id)),
  }),
  invitation: t.field({
    type: InvitationRef,
    nullable: true,
    authScopes: { permission: 'people.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireInvitation(ctx.db, requireId('id', args.id)),
  }),
  joinRequests: t.field({
    ...listJoinRequestsRule,
    type: [JoinRequestRef],
    nullable: true,
    description: `Newest first. Returns at most ${JOIN_REQUEST_LIST_LIMIT} (the newest), without saying so: use joinRequestsConnection.`,
    deprecationReason: `Returns at most ${JOIN_REQUEST_LIST_LIMIT} join requests; use joinRequestsConnection.`,
    args: { status: t.arg({ type: JoinRequestStatusEnum, defaultValue: 'pending', required: true }) },
    resolve: (_root, args, ctx) => listJoinRequests(ctx.db, args.status),
  }),
  joinRequestsConnection: t.connection(
    {
      ...listJoinRequestsRule,
      type: JoinRequestRef,
      nullable: true,
      description: 'Join requests with this status, newest first, ties broken by id: every one, page by page.',
      args: { status: t.arg({ type: JoinRequestStatusEnum, defaultValue: 'pending', required: true }) },
      resolve: (_root, args, ctx, info) => pageJoinRequests(ctx.db, args.status, args, selectsField(info, 'totalCount')),
    },
    connectionOptions('JoinRequest'),
    edgeOptions('JoinRequest'),
  ),
}));

const InviteMemberInput = builder.inputType('InviteMemberInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    roleId: t.id({ required: true, description: 'Any role but Owner, holding only permissions you hold.' }),
    teamIds: t.idList({ description: 'Teams to join on acceptance (staff roles only).' }),
    customerId: t.id({ description: 'Required for customer-confined roles (End User), refused otherwise.' }),
  }),
});
const IdInput = builder.inputType('InvitationIdInput', { fields: (t) => ({ id: t.id({ required: true }) }) });
const MemberIdInput = builder.inputType('MemberIdInput', { fields: (t) => ({ memberId: t.id({ required: true }) }) });
const ChangeMemberRoleInput = builder.inputType('ChangeMemberRoleInput', {
  fields: (t) => ({
    memberId: t.id({ required: true }),
    roleId: t.id({ required: true }),
    customerId: t.id({ description: 'Required when the new role is customer-confined.' }),
  }),
});
const ApproveJoinRequestInput = builder.inputType('ApproveJoinRequestInput', {
  fields: (t) => ({ id: t.id({ required: true }), roleId: t.id({ required: true }) }),
});
const JoinRequestIdInput = builder.inputType('JoinRequestIdInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

function invitationMutation(name: string, action: string, run: (ctx: Context, id: string) => Promise<void>) {
  builder.mutationField(name, (t) =>
    t.field({
      type: InvitationRef,
      nullable: true,
      authScopes: { permission: 'people.manage' },
      grantScopes: ['mutationResult'],
      audit: auditAs(action, 'invitation'),
      args: { input: t.arg({ type: IdInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const id = requireId('input.id', args.input.id);
        await run(ctx, id);
        const invitation = await requireInvitation(ctx.db, id);
        return auditOutcome(info, invitation, { resourceId: id, details: { email: invitation.email } });
      },
    }),
  );
}
invitationMutation('resendInvitation', 'member.resend_invitation', (ctx, id) => resendInvitation(ctx.db, principalOf(ctx), id));
invitationMutation('revokeInvitation', 'member.revoke_invitation', (ctx, id) => revokeInvitation(ctx.db, id));

function memberStatusMutation(name: string, action: string, status: 'active' | 'inactive', description: string) {
  builder.mutationField(name, (t) =>
    t.field({
      type: MemberRef,
      nullable: true,
      description,
      authScopes: { permission: 'people.manage' },
      grantScopes: ['mutationResult'],
      audit: auditAs(action, 'member'),
      args: { input: t.arg({ type: MemberIdInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const id = requireId('input.memberId', args.input.memberId);
        await setMemberStatus(ctx.db, principalOf(ctx), id, status);
        return auditOutcome(info, await requireMember(ctx.db, id), { resourceId: id });
      },
    }),
  );
}
memberStatusMutation(
  'deactivateMember',
  'member.deactivate',
  'inactive',
  'Their requests are refused from their very next one on.',
);
memberStatusMutation('reactivateMember', 'member.reactivate', 'active', 'Restore a deactivated member.');

builder.mutationFields((t) => ({
  inviteMember: t.field({
    type: InvitationRef,
    nullable: true,
    description: `Invite by email with a role (and teams). Pending for ${INVITATION_LIFETIME_DAYS} days; resend to extend.`,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('member.invite', 'invitation'),
    args: { input: t.arg({ type: InviteMemberInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await inviteMember(ctx.db, principalOf(ctx), userIdOf(ctx), {
        email: args.input.email,
        roleId: requireId('input.roleId', args.input.roleId),
        teamIds: (args.input.teamIds ?? []).map((teamId) => requireId('input.teamIds', teamId)),
        customerId: args.input.customerId ? requireId('input.customerId', args.input.customerId) : null,
      });
      const invitation = await requireInvitation(ctx.db, id);
      return auditOutcome(info, invitation, {
        resourceId: id,
        customerId: invitation.customer_id,
        details: { email: invitation.email, roleId: invitation.role_id },
      });
    },
  }),
  changeMemberRole: t.field({
    type: MemberRef,
    nullable: true,
    description: 'Takes effect on the member’s next request. Not for the Owner (transfer ownership instead).',
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('member.change_role', 'member'),
    args: { input: t.arg({ type: ChangeMemberRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.memberId', args.input.memberId);
      const before = await requireMember(ctx.db, id);
      await changeMemberRole(
        ctx.db,
        principalOf(ctx),
        id,
        requireId('input.roleId', args.input.roleId),
        args.input.customerId ? requireId('input.customerId', args.input.customerId) : null,
      );
      const member = await requireMember(ctx.db, id);
      return auditOutcome(info, member, { resourceId: id, details: { from: before.role_id, to: member.role_id } });
    },
  }),
  approveJoinRequest: t.field({
    type: MemberRef,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('member.approve_join_request', 'join_request'),
    args: { input: t.arg({ type: ApproveJoinRequestInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      const memberId = await approveJoinRequest(
        ctx.db,
        principalOf(ctx),
        userIdOf(ctx),
        id,
        requireId('input.roleId', args.input.roleId),
      );
      return auditOutcome(info, await requireMember(ctx.db, memberId), { resourceId: id, details: { memberId } });
    },
  }),
  rejectJoinRequest: t.field({
    type: JoinRequestRef,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('member.reject_join_request', 'join_request'),
    args: { input: t.arg({ type: JoinRequestIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await rejectJoinRequest(ctx.db, userIdOf(ctx), id);
      const { rows } = await ctx.db.query<JoinRequestRow>(
        'select id, user_id, email, name, status, decided_by, decided_at, created_at from join_requests where id = $1',
        [id],
      );
      return auditOutcome(info, rows[0]!, { resourceId: id });
    },
  }),
}));

// ---------------------------------------------------------------------------------------------
// The invitee's side. They are not (yet) members of the organization concerned, so the audit
// event is filed in that organization explicitly rather than by the audit plugin: these two are
// not permission-gated (any person may try), declare no `audit`, and record only outcomes the
// organization concerned should see (a missing invitation concerns nobody).
// ---------------------------------------------------------------------------------------------

const AcceptInvitationInput = builder.inputType('AcceptInvitationInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

const ACCEPT_REFUSALS: Record<string, string> = {
  revoked: 'This invitation was revoked.',
  already_accepted: 'This invitation was already accepted.',
  expired: 'This invitation has expired; ask for it to be resent.',
  already_member: 'You are already a member of this organization.',
};

/** Files a success event inside `orgId` from a request bound elsewhere (or nowhere). */
async function recordIn(ctx: Context, orgId: string, entry: Parameters<Context['audit']['success']>[1]): Promise<void> {
  const restore = await ctx.db.rebind({ ...ctx.db.currentBinding, orgId, access: null, tenantId: null });
  try {
    await ctx.audit.success(ctx.db, entry);
  } finally {
    await restore();
  }
}

const JoinStatusEnum = builder.enumType('JoinStatus', {
  values: {
    JOINED: { description: 'Auto-approved: you are a member now.' },
    REQUESTED: { description: 'Waiting for approval.' },
  } as const,
});

const JoinResultRef = builder.objectRef<{ status: 'JOINED' | 'REQUESTED'; orgId: string }>('JoinResult').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({
    status: t.field({ type: JoinStatusEnum, resolve: (r) => r.status }),
    organizationId: t.exposeID('orgId'),
  }),
});

const RequestToJoinInput = builder.inputType('RequestToJoinInput', {
  fields: (t) => ({ organizationId: t.id({ required: true }) }),
});

builder.mutationFields((t) => ({
  acceptInvitation: t.field({
    type: OrganizationRef,
    nullable: true,
    description: 'Join the organization that invited you. Your sign-in’s verified email must be the invited address.',
    authScopes: { person: true },
    grantScopes: ['mutationResult'],
    args: { input: t.arg({ type: AcceptInvitationInput, required: true }) },
    resolve: (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      const userId = userIdOf(ctx);
      const token = ctx.caller.kind === 'user' ? ctx.caller.token : null;
      return ctx.db.mutation(needsSavepoint(info), async () => {
        const email = assertVerifiedEmail(token?.email ?? null, token?.emailVerified ?? false);
        const result = await acceptInvitation(ctx.db, id, userId, email);
        const entry = { action: 'member.accept_invitation', resourceType: 'invitation', resourceId: id };
        if (result.outcome === 'not_found') throw notFound('Invitation', id);
        if (result.outcome === 'wrong_email') {
          // Someone else's invitation answers exactly like a missing one; its organization
          // still learns that someone tried.
          ctx.audit.defer('denied', result.org_id, { ...entry, details: { code: 'NOT_FOUND', email } });
          throw notFound('Invitation', id);
        }
        if (result.outcome !== 'accepted') {
          ctx.audit.defer('failure', result.org_id, { ...entry, details: { code: 'CONFLICT', outcome: result.outcome } });
          throw conflict(ACCEPT_REFUSALS[result.outcome] ?? 'This invitation cannot be accepted.');
        }
        await recordIn(ctx, result.org_id!, { ...entry, details: { memberId: result.membership_id } });
        const restore = await ctx.db.rebind({ ...ctx.db.currentBinding, orgId: result.org_id, access: null, tenantId: null });
        try {
          return (await loadOrganization(ctx.db, result.org_id!))!;
        } finally {
          await restore();
        }
      });
    },
  }),
  requestToJoin: t.field({
    type: JoinResultRef,
    nullable: true,
    description:
      'Ask to join an organization whose email domain matches your verified email (see viewer.joinableOrganizations). With auto-approve on, you join at once.',
    authScopes: { person: true },
    grantScopes: ['mutationResult'],
    args: { input: t.arg({ type: RequestToJoinInput, required: true }) },
    resolve: (_root, args, ctx, info) => {
      const orgId = requireId('input.organizationId', args.input.organizationId);
      const userId = userIdOf(ctx);
      const token = ctx.caller.kind === 'user' ? ctx.caller.token : null;
      return ctx.db.mutation(needsSavepoint(info), async () => {
        const email = assertVerifiedEmail(token?.email ?? null, token?.emailVerified ?? false);
        const result = await requestToJoin(ctx.db, orgId, userId, email, token?.name ?? null);
        if (result.outcome === 'not_eligible') throw forbidden('You cannot join this organization with your email address.');
        if (result.outcome === 'already_member') throw conflict('You are already a member of this organization.');
        if (result.outcome === 'already_requested') throw conflict('You already asked to join; an administrator will decide.');
        const joined = result.outcome === 'joined';
        await recordIn(ctx, orgId, {
          action: joined ? 'member.join' : 'member.request_join',
          resourceType: joined ? 'member' : 'join_request',
          resourceId: joined ? result.membership_id : result.request_id,
          details: { email },
        });
        return { status: joined ? ('JOINED' as const) : ('REQUESTED' as const), orgId };
      });
    },
  }),
}));
