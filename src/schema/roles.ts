import { categoryCoverage, PERMISSIONS } from '../authz/permissions.js';
import { type RoleRow, listRoles, loadRoles, countMembersByRole } from '../domain/roles.js';
import { notFound } from '../errors.js';
import { requireId } from '../domain/validation.js';
import { builder } from './builder.js';
import { PermissionCategoryRef, PermissionRef } from './catalogue.js';

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
      resolve: async (r, _args, ctx) => (await countMembersByRole(ctx.db, [r.id])).get(r.id) ?? 0,
    }),
  }),
});

builder.queryFields((t) => ({
  roles: t.field({
    description: 'System roles first (in matrix order), then custom roles by name.',
    type: [RoleRef],
    nullable: true,
    authScopes: { permission: 'people.read' },
    resolve: (_root, _args, ctx) => listRoles(ctx.db),
  }),
  role: t.field({
    type: RoleRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    authScopes: { permission: 'people.read' },
    resolve: async (_root, args, ctx) => {
      const id = requireId('id', args.id);
      const role = (await loadRoles(ctx.db, [id]))[0];
      if (!role) throw notFound('Role', id);
      return role;
    },
  }),
}));
