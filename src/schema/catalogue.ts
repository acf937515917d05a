/** The permission catalogue, straight from the role matrix module: public, static reference data. */
import { CATEGORIES, PERMISSIONS, type CategoryDefinition, type PermissionDefinition } from '../authz/permissions.js';
import { builder } from './builder.js';

export const PermissionGroup = builder.enumType('PermissionGroup', {
  description:
    'RESOURCE: the five categories the Roles page draws as a matrix. PLATFORM: customers, people, billing and the rest.',
  values: { RESOURCE: { value: 'resource' }, PLATFORM: { value: 'platform' } } as const,
});

export const PermissionRef = builder.objectRef<PermissionDefinition>('Permission').implement({
  description: 'One permission, e.g. `workflows.deploy_prod`.',
  authScopes: { public: true },
  fields: (t) => ({
    key: t.exposeString('key'),
    category: t.exposeString('category'),
    action: t.exposeString('action'),
    description: t.exposeString('description'),
  }),
});

export const PermissionCategoryRef = builder.objectRef<CategoryDefinition>('PermissionCategory').implement({
  authScopes: { public: true },
  fields: (t) => ({
    key: t.exposeString('key'),
    name: t.exposeString('name'),
    group: t.field({ type: PermissionGroup, resolve: (c) => c.group }),
    description: t.exposeString('description'),
    total: t.int({ resolve: (c) => PERMISSIONS.filter((p) => p.category === c.key).length }),
    permissions: t.field({ type: [PermissionRef], resolve: (c) => PERMISSIONS.filter((p) => p.category === c.key) }),
  }),
});

builder.queryField('permissionCatalogue', (t) =>
  t.field({
    description: 'Every permission, by category, in matrix order.',
    type: [PermissionCategoryRef],
    authScopes: { public: true },
    resolve: () => [...CATEGORIES],
  }),
);
