/**
 * Project roles (DESIGN §3b): the public catalogue a client draws the seeds' Project Roles
 * table from (groups, rows, a tick per system project role), the organization's project roles
 * (system + custom), and managing custom ones (roles.manage). All of it derives from the matrix
 * module (src/authz/permissions.ts).
 */
import {
  PROJECT_PERMISSION_GROUPS,
  PROJECT_PERMISSIONS,
  SYSTEM_PROJECT_ROLES,
  projectRoleTable,
  type ProjectPermissionDefinition,
  type SystemProjectRoleDefinition,
} from '../authz/permissions.js';
import { heldProjectPermissions } from '../authz/workspace-access.js';
import type { Context } from '../context.js';
import {
  createProjectRole,
  deleteProjectRole,
  duplicateProjectRole,
  listProjectRoles,
  pageProjectRoles,
  PROJECT_ROLE_LIST_LIMIT,
  projectRoleUsage,
  requireProjectRole,
  updateProjectRole,
  type ProjectRoleRow,
} from '../domain/project-roles.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';

type Table = ReturnType<typeof projectRoleTable>;
type Group = (typeof PROJECT_PERMISSION_GROUPS)[number];

export const ProjectPermissionRef = builder.objectRef<ProjectPermissionDefinition>('ProjectPermission').implement({
  description: 'One project permission (a row of the seeds’ Project Roles table), e.g. `project.flows.publish`.',
  authScopes: { public: true },
  fields: (t) => ({
    key: t.exposeString('key'),
    label: t.exposeString('label', { description: 'The seeds’ row label, e.g. "Publish / Toggle Flows".' }),
    group: t.exposeString('group'),
    grants: t.stringList({
      description: 'The organization permissions it grants inside its workspace (none for members and git).',
      resolve: (p) => [...p.grants],
    }),
  }),
});

const ProjectPermissionGroupRef = builder.objectRef<Group>('ProjectPermissionGroup').implement({
  authScopes: { public: true },
  fields: (t) => ({ key: t.exposeString('key'), name: t.exposeString('name') }),
});

const SystemProjectRoleRef = builder.objectRef<SystemProjectRoleDefinition>('SystemProjectRole').implement({
  authScopes: { public: true },
  fields: (t) => ({
    key: t.exposeString('key'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    permissionCount: t.int({ resolve: (r) => r.permissions.length }),
  }),
});

const ProjectRoleTickRef = builder.objectRef<Table[number]['rows'][number]['roles'][number]>('ProjectRoleTick').implement({
  authScopes: { public: true },
  fields: (t) => ({
    role: t.field({ type: SystemProjectRoleRef, resolve: (c) => c.role }),
    granted: t.exposeBoolean('granted'),
  }),
});

const ProjectRoleTableRowRef = builder.objectRef<Table[number]['rows'][number]>('ProjectRoleTableRow').implement({
  authScopes: { public: true },
  fields: (t) => ({
    permission: t.field({ type: ProjectPermissionRef, resolve: (r) => r.permission }),
    roles: t.field({
      type: [ProjectRoleTickRef],
      description: 'One tick per system project role, in column order.',
      resolve: (r) => r.roles,
    }),
  }),
});

const ProjectRoleTableGroupRef = builder.objectRef<Table[number]>('ProjectRoleTableGroup').implement({
  authScopes: { public: true },
  fields: (t) => ({
    group: t.field({ type: ProjectPermissionGroupRef, resolve: (g) => g.group }),
    rows: t.field({ type: [ProjectRoleTableRowRef], resolve: (g) => g.rows }),
  }),
});

const ProjectPermissionCatalogueRef = builder.objectRef<{ groups: Table }>('ProjectPermissionCatalogue').implement({
  description: 'The seeds’ Project Roles table: system project roles as columns, groups of permission rows.',
  authScopes: { public: true },
  fields: (t) => ({
    roles: t.field({ type: [SystemProjectRoleRef], resolve: () => [...SYSTEM_PROJECT_ROLES] }),
    groups: t.field({ type: [ProjectRoleTableGroupRef], resolve: (c) => c.groups }),
    permissions: t.field({ type: [ProjectPermissionRef], resolve: () => [...PROJECT_PERMISSIONS] }),
  }),
});

builder.queryField('projectPermissionCatalogue', (t) =>
  t.field({
    description: 'Every project permission, by group, with a tick per system project role (static reference data).',
    type: ProjectPermissionCatalogueRef,
    authScopes: { public: true },
    resolve: () => ({ groups: projectRoleTable() }),
  }),
);

const ProjectPermissionGrantRef = builder
  .objectRef<{ permission: ProjectPermissionDefinition; granted: boolean }>('ProjectPermissionGrant')
  .implement({
    authScopes: { member: true },
    fields: (t) => ({
      permission: t.field({ type: ProjectPermissionRef, resolve: (g) => g.permission }),
      granted: t.exposeBoolean('granted'),
    }),
  });

const ProjectRoleGroupCoverageRef = builder
  .objectRef<{
    group: Group;
    granted: number;
    total: number;
    permissions: { permission: ProjectPermissionDefinition; granted: boolean }[];
  }>('ProjectRoleGroupCoverage')
  .implement({
    authScopes: { member: true },
    fields: (t) => ({
      group: t.field({ type: ProjectPermissionGroupRef, resolve: (c) => c.group }),
      granted: t.exposeInt('granted'),
      total: t.exposeInt('total'),
      permissions: t.field({ type: [ProjectPermissionGrantRef], resolve: (c) => c.permissions }),
    }),
  });

const ProjectRoleUsageRef = builder.objectRef<{ members: number; teams: number }>('ProjectRoleUsage').implement({
  description: 'Who holds a project role, across the organization’s workspaces; a custom role in use cannot be deleted.',
  authScopes: { permission: 'people.read' },
  fields: (t) => ({ members: t.exposeInt('members'), teams: t.exposeInt('teams') }),
});

export const ProjectRoleRef = builder.objectRef<ProjectRoleRow>('ProjectRole').implement({
  description: 'A role inside one workspace: one of the four system project roles, or a custom one.',
  authScopes: { member: true },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'A system project role’s key (admin, editor, operator, viewer) or a custom role’s id.' }),
    key: t.exposeString('system_key', { nullable: true, description: 'The system project role’s key; null for custom ones.' }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    isSystem: t.boolean({ resolve: (r) => r.system_key !== null }),
    permissions: t.stringList({ description: 'Project permission keys, in matrix order.', resolve: (r) => r.permissions }),
    permissionCount: t.int({ resolve: (r) => r.permissions.length }),
    groups: t.field({
      type: [ProjectRoleGroupCoverageRef],
      description: 'Per group: granted/total and each row, as the Project Roles page draws a role.',
      resolve: (r) =>
        PROJECT_PERMISSION_GROUPS.map((group) => {
          const rows = PROJECT_PERMISSIONS.filter((p) => p.group === group.key).map((permission) => ({
            permission,
            granted: r.permissions.includes(permission.key),
          }));
          return { group, total: rows.length, granted: rows.filter((x) => x.granted).length, permissions: rows };
        }),
    }),
    usage: t.field({
      type: ProjectRoleUsageRef,
      nullable: true,
      authScopes: { permission: 'people.read' },
      resolve: (r, _args, ctx) => projectRoleUsage(ctx.db, r.id),
    }),
  }),
});

/** Who may list project roles: the plain list and its connection share this one declaration. */
const listProjectRolesRule = { authScopes: { member: true } } as const;

builder.queryFields((t) => ({
  projectRoles: t.field({
    ...listProjectRolesRule,
    type: [ProjectRoleRef],
    description: `System project roles first (in matrix order), then the organization’s custom ones by name. Returns at most ${PROJECT_ROLE_LIST_LIMIT} custom ones, without saying so: use projectRolesConnection.`,
    deprecationReason: `Returns at most ${PROJECT_ROLE_LIST_LIMIT} custom project roles; use projectRolesConnection.`,
    resolve: (_root, _args, ctx) => listProjectRoles(ctx.db, !ctx.confinedToCustomer),
  }),
  projectRolesConnection: t.connection(
    {
      ...listProjectRolesRule,
      type: ProjectRoleRef,
      nullable: true,
      description:
        'The order of `projectRoles`: the system project roles (in matrix order), then the organization’s custom ones by name, ties broken by id. Every project role, page by page.',
      resolve: (_root, args, ctx) => pageProjectRoles(ctx.db, !ctx.confinedToCustomer, args),
    },
    connectionOptions('ProjectRole'),
    edgeOptions('ProjectRole'),
  ),
}));

function held(ctx: Context) {
  return heldProjectPermissions(principalOf(ctx), ctx.workspace);
}

const CreateProjectRoleInput = builder.inputType('CreateProjectRoleInput', {
  fields: (t) => ({
    name: t.string({
      required: true,
      description: 'Unique in the organization (case-insensitive); not a system project role’s name.',
    }),
    description: t.string(),
    permissions: t.stringList({ required: true, description: 'Project permission keys; only ones you hold yourself.' }),
  }),
});
const DuplicateProjectRoleInput = builder.inputType('DuplicateProjectRoleInput', {
  fields: (t) => ({
    id: t.id({ required: true, description: 'Any project role: a system key or a custom role’s id.' }),
    name: t.string({ description: 'Default: "<name> (custom)".' }),
  }),
});
const UpdateProjectRoleInput = builder.inputType('UpdateProjectRoleInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    description: t.string(),
    permissions: t.stringList({ description: 'Replaces the permission set.' }),
  }),
});
const DeleteProjectRoleInput = builder.inputType('DeleteProjectRoleInput', { fields: (t) => ({ id: t.id({ required: true }) }) });
const DeleteProjectRolePayload = builder.objectRef<{ id: string }>('DeleteProjectRolePayload').implement({
  authScopes: { permission: 'roles.manage' },
  fields: (t) => ({ deletedProjectRoleId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  createProjectRole: t.field({
    type: ProjectRoleRef,
    nullable: true,
    description: 'Create a custom project role.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_role.create'),
    args: { input: t.arg({ type: CreateProjectRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await createProjectRole(ctx.db, held(ctx), userIdOf(ctx), args.input);
      const role = await requireProjectRole(ctx.db, id);
      return auditOutcome(info, role, { resourceId: id, details: { name: role.name, permissions: role.permissions } });
    },
  }),
  duplicateProjectRole: t.field({
    type: ProjectRoleRef,
    nullable: true,
    description: '"Duplicate as Custom": a custom copy of any project role, to adjust.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_role.duplicate'),
    args: { input: t.arg({ type: DuplicateProjectRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await duplicateProjectRole(ctx.db, held(ctx), userIdOf(ctx), args.input.id, args.input.name);
      return auditOutcome(info, await requireProjectRole(ctx.db, id), { resourceId: id, details: { source: args.input.id } });
    },
  }),
  updateProjectRole: t.field({
    type: ProjectRoleRef,
    nullable: true,
    description: 'Edit a custom project role (system ones are immutable). Applies to its holders’ next request.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_role.update'),
    args: { input: t.arg({ type: UpdateProjectRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      // A system key is a valid id here too: it answers "system project roles cannot be changed".
      await updateProjectRole(ctx.db, held(ctx), args.input.id, args.input);
      const id = requireId('input.id', args.input.id);
      const role = await requireProjectRole(ctx.db, id);
      return auditOutcome(info, role, { resourceId: id, details: { name: role.name, permissions: role.permissions } });
    },
  }),
  deleteProjectRole: t.field({
    type: DeleteProjectRolePayload,
    nullable: true,
    description: 'Delete a custom project role nobody holds (CONFLICT says how many still do).',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('project_role.delete'),
    args: { input: t.arg({ type: DeleteProjectRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      await deleteProjectRole(ctx.db, held(ctx), args.input.id);
      const id = args.input.id;
      return auditOutcome(info, { id }, { resourceId: id });
    },
  }),
}));
