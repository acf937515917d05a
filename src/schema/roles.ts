import { categoryCoverage, PERMISSIONS } from '../authz/permissions.js';
import {
  createRole,
  deleteRole,
  duplicateRole,
  CUSTOM_ROLE_LIST_LIMIT,
  listRoles,
  pageRoles,
  requireRole,
  roleUsage,
  updateRole,
  type RoleRow,
} from '../domain/roles.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { PermissionCategoryRef, PermissionRef } from './catalogue.js';
import { connectionOptions, edgeOptions } from './paging.js';

type Coverage = ReturnType<typeof categoryCoverage>[number];

const PermissionGrantRef = builder.objectRef<Coverage['permissions'][number]>('PermissionGrant').implement({
  authScopes: { member: true },
  fields: (t) => ({
    permission: t.field({ type: PermissionRef, resolve: (g) => g.permission }),
    granted: t.exposeBoolean('granted'),
  }),
});

export const CategoryCoverageRef = builder.objectRef<Coverage>('CategoryCoverage').implement({
  description: "A role's grants in one category, as the Roles page draws them (e.g. Connectors 6/6).",
  authScopes: { member: true },
  fields: (t) => ({
    category: t.field({ type: PermissionCategoryRef, resolve: (c) => c.category }),
    granted: t.exposeInt('granted'),
    total: t.exposeInt('total'),
    permissions: t.field({ type: [PermissionGrantRef], resolve: (c) => c.permissions }),
  }),
});

export const RoleRef = builder.objectRef<RoleRow>('Role').implement({
  authScopes: { member: true },
  fields: (t) => ({
    id: t.exposeID('id'),
    key: t.exposeString('system_key', {
      nullable: true,
      description: 'The system role key (owner, admin…); null for custom roles.',
    }),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    isSystem: t.boolean({ description: 'System roles are immutable.', resolve: (r) => r.system_key !== null }),
    customerConfined: t.exposeBoolean('customer_confined', { description: 'Holders act inside one customer only (End User).' }),
    permissions: t.stringList({
      description: 'Permission keys, in matrix order.',
      resolve: (r) => PERMISSIONS.map((p) => p.key).filter((k) => r.permissions.includes(k)),
    }),
    permissionCount: t.int({ resolve: (r) => r.permissions.length }),
    categories: t.field({ type: [CategoryCoverageRef], resolve: (r) => categoryCoverage(r.permissions) }),
    memberCount: t.int({
      authScopes: { permission: 'people.read' },
      nullable: true,
      description: 'How many members hold this role directly.',
      resolve: (r, _args, ctx) => ctx.loaders.roleMemberCount.load(r.id),
    }),
  }),
});

/** Who may list roles: the plain list and its connection share this one declaration. */
const listRolesRule = { authScopes: { permission: 'people.read' } } as const;

builder.queryFields((t) => ({
  roles: t.field({
    ...listRolesRule,
    description: `System roles first (in matrix order), then custom roles by name. Returns at most ${CUSTOM_ROLE_LIST_LIMIT} custom roles (the first by name), without saying so: use rolesConnection.`,
    deprecationReason: `Returns at most ${CUSTOM_ROLE_LIST_LIMIT} custom roles; use rolesConnection.`,
    type: [RoleRef],
    nullable: true,
    resolve: (_root, _args, ctx) => listRoles(ctx.db),
  }),
  rolesConnection: t.connection(
    {
      ...listRolesRule,
      type: RoleRef,
      nullable: true,
      description:
        'The order of `roles`: system roles first (in matrix order), then custom roles by name, ties broken by id. Every role, page by page.',
      resolve: (_root, args, ctx) => pageRoles(ctx.db, args),
    },
    connectionOptions('Role'),
    edgeOptions('Role'),
  ),
  role: t.field({
    type: RoleRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    authScopes: { permission: 'people.read' },
    resolve: (_root, args, ctx) => requireRole(ctx.db, requireId('id', args.id)),
  }),
}));

const RoleUsageRef = builder.objectRef<Awaited<ReturnType<typeof roleUsage>>>('RoleUsage').implement({
  description: 'What holds a role; a role in use cannot be deleted.',
  authScopes: { permission: 'people.read' },
  fields: (t) => ({
    members: t.exposeInt('members'),
    teams: t.exposeInt('teams'),
    pendingInvitations: t.exposeInt('invitations'),
    autoApprove: t.exposeBoolean('autoApprove', { description: 'The auto-approve setting names this role.' }),
    apiKeys: t.exposeInt('keys', { description: 'API keys, runners and OIDC clients holding it.' }),
  }),
});

builder.objectField(RoleRef, 'usage', (t) =>
  t.field({
    type: RoleUsageRef,
    nullable: true,
    authScopes: { permission: 'people.read' },
    resolve: (r, _args, ctx) => roleUsage(ctx.db, r.id),
  }),
);

const CreateRoleInput = builder.inputType('CreateRoleInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique in the organization (case-insensitive); not a system role’s name.' }),
    description: t.string(),
    permissions: t.stringList({ required: true, description: 'Permission keys; only ones you hold yourself.' }),
  }),
});

const DuplicateRoleInput = builder.inputType('DuplicateRoleInput', {
  fields: (t) => ({
    id: t.id({ required: true, description: 'Any role, system or custom.' }),
    name: t.string({ description: 'Default: "<name> (custom)".' }),
  }),
});

const UpdateRoleInput = builder.inputType('UpdateRoleInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    description: t.string(),
    permissions: t.stringList({ description: 'Replaces the permission set.' }),
  }),
});

const DeleteRoleInput = builder.inputType('DeleteRoleInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

const DeleteRolePayload = builder.objectRef<{ id: string }>('DeleteRolePayload').implement({
  authScopes: { permission: 'roles.manage' },
  fields: (t) => ({ deletedRoleId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  createRole: t.field({
    type: RoleRef,
    nullable: true,
    description: 'Create a custom role from scratch.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('role.create'),
    args: { input: t.arg({ type: CreateRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await createRole(ctx.db, principalOf(ctx), userIdOf(ctx), args.input);
      const role = await requireRole(ctx.db, id);
      return auditOutcome(info, role, { resourceId: id, details: { name: role.name, permissions: role.permissions } });
    },
  }),
  duplicateRole: t.field({
    type: RoleRef,
    nullable: true,
    description: '"Duplicate as Custom": a custom copy of any role, to adjust.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('role.duplicate'),
    args: { input: t.arg({ type: DuplicateRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const sourceId = requireId('input.id', args.input.id);
      const id = await duplicateRole(ctx.db, principalOf(ctx), userIdOf(ctx), sourceId, args.input.name);
      return auditOutcome(info, await requireRole(ctx.db, id), { resourceId: id, details: { source: sourceId } });
    },
  }),
  updateRole: t.field({
    type: RoleRef,
    nullable: true,
    description: 'Edit a custom role (system roles are immutable). Takes effect on its holders’ next request.',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('role.update'),
    args: { input: t.arg({ type: UpdateRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await updateRole(ctx.db, principalOf(ctx), id, args.input);
      const role = await requireRole(ctx.db, id);
      return auditOutcome(info, role, { resourceId: id, details: { name: role.name, permissions: role.permissions } });
    },
  }),
  deleteRole: t.field({
    type: DeleteRolePayload,
    nullable: true,
    description: 'Delete a custom role nobody holds (CONFLICT says who still does).',
    authScopes: { permission: 'roles.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('role.delete'),
    args: { input: t.arg({ type: DeleteRoleInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await deleteRole(ctx.db, principalOf(ctx), id);
      return auditOutcome(info, { id }, { resourceId: id });
    },
  }),
}));
