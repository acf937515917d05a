/** Teams: groups of staff members that may carry a role (members get the union). */
import { loadAll } from '../db/loaders.js';
import {
  addTeamMember,
  createTeam,
  deleteTeam,
  listTeams,
  pageTeams,
  removeTeamMember,
  requireTeam,
  TEAM_LIST_LIMIT,
  updateTeam,
} from '../domain/teams.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { MemberRef, TeamRef } from './refs.js';
import { RoleRef } from './roles.js';
import { selectsField } from './selection.js';

TeamRef.implement({
  authScopes: readOrMutationResult({ permission: 'people.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    role: t.field({
      type: RoleRef,
      nullable: true,
      description: 'Every member of the team also holds this role’s permissions.',
      resolve: (team, _args, ctx) => (team.role_id ? ctx.loaders.role.load(team.role_id) : null),
    }),
    memberCount: t.int({ resolve: (team, _args, ctx) => ctx.loaders.teamMemberCount.load(team.id) }),
    members: t.field({
      type: [MemberRef],
      resolve: async (team, _args, ctx) => loadAll(ctx.loaders.member, await ctx.loaders.memberIdsOfTeam.load(team.id)),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (team) => team.created_at }),
  }),
});

/** Who may list teams: the plain list and its connection share this one declaration. */
const listTeamsRule = { authScopes: { permission: 'people.read' } } as const;

builder.queryFields((t) => ({
  teams: t.field({
    ...listTeamsRule,
    type: [TeamRef],
    nullable: true,
    description: `Teams by name. Returns at most ${TEAM_LIST_LIMIT} (the first by name), without saying so: use teamsConnection.`,
    deprecationReason: `Returns at most ${TEAM_LIST_LIMIT} teams; use teamsConnection.`,
    resolve: (_root, _args, ctx) => listTeams(ctx.db),
  }),
  teamsConnection: t.connection(
    {
      ...listTeamsRule,
      type: TeamRef,
      nullable: true,
      description: 'Teams by name, ties broken by id: every team, page by page.',
      resolve: (_root, args, ctx, info) => pageTeams(ctx.db, args, selectsField(info, 'totalCount')),
    },
    connectionOptions('Team'),
    edgeOptions('Team'),
  ),
  team: t.field({
    type: TeamRef,
    nullable: true,
    authScopes: { permission: 'people.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireTeam(ctx.db, requireId('id', args.id)),
  }),
}));

const CreateTeamInput = builder.inputType('CreateTeamInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    roleId: t.id({ description: 'A staff role you hold yourself; its permissions go to every member.' }),
  }),
});

const UpdateTeamInput = builder.inputType('UpdateTeamInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    description: t.string(),
    roleId: t.id(),
    removeRole: t.boolean({ description: 'The team stops carrying a role.' }),
  }),
});

const TeamIdInput = builder.inputType('DeleteTeamInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

const TeamMemberInput = builder.inputType('TeamMemberInput', {
  fields: (t) => ({ teamId: t.id({ required: true }), memberId: t.id({ required: true }) }),
});

const DeleteTeamPayload = builder.objectRef<{ id: string }>('DeleteTeamPayload').implement({
  authScopes: { permission: 'people.manage' },
  fields: (t) => ({ deletedTeamId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  createTeam: t.field({
    type: TeamRef,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('team.create'),
    args: { input: t.arg({ type: CreateTeamInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await createTeam(ctx.db, principalOf(ctx), {
        ...args.input,
        roleId: args.input.roleId ? requireId('input.roleId', args.input.roleId) : null,
      });
      return auditOutcome(info, await requireTeam(ctx.db, id), { resourceId: id, details: { name: args.input.name } });
    },
  }),
  updateTeam: t.field({
    type: TeamRef,
    nullable: true,
    description: 'Rename, describe, or change the role a team carries.',
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('team.update'),
    args: { input: t.arg({ type: UpdateTeamInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await updateTeam(ctx.db, principalOf(ctx), id, {
        ...args.input,
        roleId: args.input.roleId ? requireId('input.roleId', args.input.roleId) : null,
      });
      const team = await requireTeam(ctx.db, id);
      return auditOutcome(info, team, { resourceId: id, details: { name: team.name, roleId: team.role_id } });
    },
  }),
  deleteTeam: t.field({
    type: DeleteTeamPayload,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('team.delete'),
    args: { input: t.arg({ type: TeamIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await deleteTeam(ctx.db, principalOf(ctx), id);
      return auditOutcome(info, { id }, { resourceId: id });
    },
  }),
  addTeamMember: t.field({
    type: TeamRef,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('team.add_member'),
    args: { input: t.arg({ type: TeamMemberInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const teamId = requireId('input.teamId', args.input.teamId);
      const memberId = requireId('input.memberId', args.input.memberId);
      await addTeamMember(ctx.db, principalOf(ctx), teamId, memberId);
      return auditOutcome(info, await requireTeam(ctx.db, teamId), { resourceId: teamId, details: { memberId } });
    },
  }),
  removeTeamMember: t.field({
    type: TeamRef,
    nullable: true,
    authScopes: { permission: 'people.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('team.remove_member'),
    args: { input: t.arg({ type: TeamMemberInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const teamId = requireId('input.teamId', args.input.teamId);
      const memberId = requireId('input.memberId', args.input.memberId);
      await removeTeamMember(ctx.db, principalOf(ctx), teamId, memberId);
      return auditOutcome(info, await requireTeam(ctx.db, teamId), { resourceId: teamId, details: { memberId } });
    },
  }),
}));
