/**
 * Project members of the workspace the request acts in (X-Workspace-Id): list them
 * (project.members.read), add an organization member or a team with a project role, change it,
 * remove it (project.members.manage). Owner and Admin hold both in every workspace.
 */
import type { Context } from '../context.js';
import {
  addProjectMember,
  changeProjectMemberRole,
  listProjectMembers,
  pageProjectMembers,
  PROJECT_MEMBER_LIST_LIMIT,
  removeProjectMember,
  requireProjectMember,
  type ProjectMemberRow,
} from '../domain/project-members.js';
import { requireProjectRole } from '../domain/project-roles.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { ProjectRoleRef } from './project-roles.js';

function workspaceOf(ctx: Context) {
  if (!ctx.workspace) throw new Error('unreachable: project permissions are held only in a workspace');
  return ctx.workspace;
}

const ProjectMemberKind = builder.enumType('ProjectMemberKind', { values: ['MEMBER', 'TEAM'] as const });

export const ProjectMemberRef = builder.objectRef<ProjectMemberRow>('ProjectMember').implement({
  description: 'A member of the organization, or a team, holding a project role in a workspace.',
  authScopes: readOrMutationResult({ projectPermission: 'project.members.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.field({ type: ProjectMemberKind, resolve: (m) => (m.team_id ? 'TEAM' : 'MEMBER') }),
    memberId: t.exposeID('membership_id', { nullable: true, description: 'The organization member (Member.id).' }),
    teamId: t.exposeID('team_id', { nullable: true }),
    userId: t.exposeID('user_id', { nullable: true }),
    name: t.exposeString('name', { nullable: true, description: 'The person’s or the team’s name.' }),
    email: t.exposeString('email', { nullable: true }),
    workspaceId: t.exposeID('workspace_id'),
    role: t.field({ type: ProjectRoleRef, resolve: (m, _args, ctx) => requireProjectRole(ctx.db, m.role_id) }),
    createdAt: t.field({ type: 'DateTime', resolve: (m) => m.created_at }),
  }),
});

/** Who may list project members (and the Denied event): the plain list and its connection share it. */
const listProjectMembersRule = {
  authScopes: { projectPermission: 'project.members.read' },
  audit: auditAs('project_member.list'),
} as const;

builder.queryFields((t) => ({
  projectMembers: t.field({
    ...listProjectMembersRule,
    type: [ProjectMemberRef],
    nullable: true,
    description: `The project members of the workspace in use (X-Workspace-Id): people first, then teams. Returns at most ${PROJECT_MEMBER_LIST_LIMIT}, without saying so: use projectMembersConnection.`,
    deprecationReason: `Returns at most ${PROJECT_MEMBER_LIST_LIMIT} project members; use projectMembersConnection.`,
    resolve: (_root, _args, ctx) => listProjectMembers(ctx.db, workspaceOf(ctx).workspaceId),
  }),
  projectMembersConnection: t.connection(
    {
      ...listProjectMembersRule,
      type: ProjectMemberRef,
      nullable: true,
      description:
        'The order of `projectMembers` (workspace in use, X-Workspace-Id): people first, then teams, each in the order they were added, ties broken by id. Every project member, page by page.',
      resolve: (_root, args, ctx) => pageProjectMembers(ctx.db, workspaceOf(ctx).workspaceId, args),
    },
    connectionOptions('ProjectMember'),
    edgeOptions('ProjectMember'),
  ),
}));

const AddProjectMemberInput = builder.inputType('AddProjectMemberInput', {
  fields: (t) => ({
    memberId: t.id({ description: 'An organization member (staff). Name this or teamId.' }),
    teamId: t.id({ description: 'A team: each of its members holds the project role here.' }),
    roleId: t.id({
      required: true,
      description: 'A system project role’s key (admin, editor, operator, viewer) or a custom one’s id.',
    }),
  }),
});
const ChangeProjectMemberRoleInput = builder.inputType('ChangeProjectMemberRoleInput', {
  fields: (t) => ({ id: t.id({ required: true, description: 'The project member.' }), roleId: t.id({ required: true }) }),
});
const RemoveProjectMemberInput = builder.inputType('RemoveProjectMemberInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});
const RemoveProjectMemberPayload = builder.objectRef<{ id: string }>('RemoveProjectMemberPayload').implement({
  authScopes: { projectPermission: 'project.members.manage' },
  fields: (t) => ({ removedProjectMemberId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  addProjectMember: t.field({
    type: ProjectMemberRef,
    nullable: true,
    description: 'Give an organization member or a team a project role in the workspace in use.',
    authScopes: { projectPermission: 'project.members.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_member.add'),
    args: { input: t.arg({ type: AddProjectMemberInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const workspace = workspaceOf(ctx);
      const memberId = args.input.memberId ? requireId('input.memberId', args.input.memberId) : null;
      const teamId = args.input.teamId ? requireId('input.teamId', args.input.teamId) : null;
      const id = await addProjectMember(ctx.db, workspace.projectPermissions, userIdOf(ctx), workspace.workspaceId, {
        memberId,
        teamId,
        roleId: args.input.roleId,
      });
      const row = await requireProjectMember(ctx.db, id);
      return auditOutcome(info, row, {
        resourceId: id,
        details: { workspaceId: workspace.workspaceId, memberId, teamId, role: row.role_id },
      });
    },
  }),
  changeProjectMemberRole: t.field({
    type: ProjectMemberRef,
    nullable: true,
    authScopes: { projectPermission: 'project.members.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_member.change_role'),
    args: { input: t.arg({ type: ChangeProjectMemberRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await changeProjectMemberRole(ctx.db, workspaceOf(ctx).projectPermissions, id, args.input.roleId);
      const row = await requireProjectMember(ctx.db, id);
      return auditOutcome(info, row, { resourceId: id, details: { workspaceId: row.workspace_id, role: row.role_id } });
    },
  }),
  removeProjectMember: t.field({
    type: RemoveProjectMemberPayload,
    nullable: true,
    authScopes: { projectPermission: 'project.members.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_member.remove'),
    args: { input: t.arg({ type: RemoveProjectMemberInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await removeProjectMember(ctx.db, workspaceOf(ctx).projectPermissions, id);
      return auditOutcome(info, { id }, { resourceId: id, details: { workspaceId: workspaceOf(ctx).workspaceId } });
    },
  }),
}));
