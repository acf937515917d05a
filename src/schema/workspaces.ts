/**
 * Workspaces: list (any staff member, to pick one for X-Workspace-Id), and create, rename,
 * delete when empty (settings.manage). Definitions move between them with move<Kind>
 * (src/schema/definitions.ts).
 */
import {
  createWorkspace,
  deleteWorkspace,
  listWorkspaces,
  pageWorkspaces,
  renameWorkspace,
  WORKSPACE_LIST_LIMIT,
  requireWorkspace,
  type WorkspaceCounts,
  type WorkspaceRow,
} from '../domain/workspaces.js';
import type { Context } from '../context.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { auditAs, userIdOf } from './caller.js';
import { notFound } from '../errors.js';
import { connectionOptions, edgeOptions } from './paging.js';

/** The workspace a workspace-scoped service principal is confined to, else null. */
function scopedWorkspaceOf(ctx: Context): string | null {
  return ctx.principal?.kind === 'service' ? ctx.principal.workspaceId : null;
}

const counted =
  (what: Exclude<keyof WorkspaceCounts, 'workspace_id'>) =>
  async (w: WorkspaceRow, _args: object, ctx: Context): Promise<number> =>
    (await ctx.loaders.workspaceCounts.load(w.id))?.[what] ?? 0;

export const WorkspaceRef = builder.objectRef<WorkspaceRow>('Workspace').implement({
  description: 'A group of the organization’s definitions (Activepieces: a project). Send its id as X-Workspace-Id to act in it.',
  authScopes: { member: true },
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    isDefault: t.exposeBoolean('is_default', { description: 'Where definitions land unless told otherwise; cannot be deleted.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (w) => w.created_at }),
    // Counted only when selected, all of a list's workspaces in one query (a request loader).
    connectorCount: t.int({ description: 'Counts what this request may see.', resolve: counted('connectors') }),
    workflowCount: t.int({ resolve: counted('workflows') }),
    agentCount: t.int({ resolve: counted('agents') }),
    toolCount: t.int({ resolve: counted('tools') }),
    projectMemberCount: t.int({
      description: 'Members and teams holding a project role here.',
      resolve: counted('project_members'),
    }),
  }),
});

/** Who may list workspaces: the plain list and its connection share this one declaration. */
const listWorkspacesRule = { authScopes: { member: true } } as const;

builder.queryFields((t) => ({
  workspaces: t.field({
    ...listWorkspacesRule,
    type: [WorkspaceRef],
    description: `The organization’s workspaces, the default one first, then by name. Returns at most ${WORKSPACE_LIST_LIMIT}, without saying so: use workspacesConnection.`,
    deprecationReason: `Returns at most ${WORKSPACE_LIST_LIMIT} workspaces; use workspacesConnection.`,
    resolve: async (_root, _args, ctx) => {
      const rows = await listWorkspaces(ctx.db);
      // A workspace-scoped key knows its own workspace only; it can act in no other.
      const own = scopedWorkspaceOf(ctx);
      return own ? rows.filter((w) => w.id === own) : rows;
    },
  }),
  workspacesConnection: t.connection(
    {
      ...listWorkspacesRule,
      type: WorkspaceRef,
      nullable: true,
      description:
        'The order of `workspaces`: the default one first, then by name, ties broken by id. Every workspace, page by page (a workspace-scoped key sees its own only).',
      resolve: (_root, args, ctx) => pageWorkspaces(ctx.db, args, scopedWorkspaceOf(ctx)),
    },
    connectionOptions('Workspace'),
    edgeOptions('Workspace'),
  ),
  workspace: t.field({
    type: WorkspaceRef,
    nullable: true,
    authScopes: { member: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => {
      const id = requireId('id', args.id);
      const own = scopedWorkspaceOf(ctx);
      if (own && own !== id.toLowerCase()) throw notFound('Workspace', id);
      return requireWorkspace(ctx.db, id);
    },
  }),
}));

const CreateWorkspaceInput = builder.inputType('CreateWorkspaceInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: '1–80 characters, unique in the organization (case-insensitive).' }),
  }),
});
const RenameWorkspaceInput = builder.inputType('RenameWorkspaceInput', {
  fields: (t) => ({ id: t.id({ required: true }), name: t.string({ required: true }) }),
});
const DeleteWorkspaceInput = builder.inputType('DeleteWorkspaceInput', { fields: (t) => ({ id: t.id({ required: true }) }) });
const DeleteWorkspacePayload = builder.objectRef<{ id: string }>('DeleteWorkspacePayload').implement({
  authScopes: { permission: 'settings.manage' },
  fields: (t) => ({ deletedWorkspaceId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  createWorkspace: t.field({
    type: WorkspaceRef,
    nullable: true,
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('workspace.create'),
    args: { input: t.arg({ type: CreateWorkspaceInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await createWorkspace(ctx.db, userIdOf(ctx), args.input.name);
      const workspace = await requireWorkspace(ctx.db, id);
      return auditOutcome(info, workspace, { resourceId: id, details: { name: workspace.name } });
    },
  }),
  renameWorkspace: t.field({
    type: WorkspaceRef,
    nullable: true,
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('workspace.rename'),
    args: { input: t.arg({ type: RenameWorkspaceInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await renameWorkspace(ctx.db, id, args.input.name);
      const workspace = await requireWorkspace(ctx.db, id);
      return auditOutcome(info, workspace, { resourceId: id, details: { name: workspace.name } });
    },
  }),
  deleteWorkspace: t.field({
    type: DeleteWorkspacePayload,
    nullable: true,
    description: 'Delete an empty workspace (not the default one). CONFLICT says how many definitions it still holds.',
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('workspace.delete'),
    args: { input: t.arg({ type: DeleteWorkspaceInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await deleteWorkspace(ctx.db, id);
      return auditOutcome(info, { id }, { resourceId: id });
    },
  }),
}));
