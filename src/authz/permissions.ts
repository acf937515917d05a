/**
 * The role matrix: the one place that says which permissions exist and which system role holds
 * which. Everything else derives from this module: the database catalogue (seeded at migrate
 * time), the Pothos `permission` scope type, the GraphQL catalogue, the docs and the tests.
 *
 * Rows mirror ARCHITECTURE.md §3 (the permission list and the role counts), so a review can compare them.
 */

export const SYSTEM_ROLE_KEYS = ['owner', 'admin', 'developer', 'operator', 'viewer', 'end_user'] as const;
export type SystemRoleKey = (typeof SYSTEM_ROLE_KEYS)[number];

/**
 * `resource` categories are the five the product's Roles page draws as a matrix; `platform`
 * categories hold the other ten (executions, customers, people, billing…).
 */
export type CategoryGroup = 'resource' | 'platform';

export interface CategoryDefinition {
  readonly key: string;
  readonly name: string;
  readonly group: CategoryGroup;
  readonly description: string;
}

export const CATEGORIES = [
  { key: 'connectors', name: 'Connectors', group: 'resource', description: 'Integration definitions built by staff' },
  { key: 'connections', name: 'Connections', group: 'resource', description: "A customer's authenticated app accounts" },
  { key: 'workflows', name: 'Workflows', group: 'resource', description: 'Multi-step automations' },
  { key: 'agents', name: 'Agents', group: 'resource', description: 'AI agents' },
  { key: 'tools', name: 'Tools', group: 'resource', description: 'Callable tools for agents' },
  { key: 'executions', name: 'Executions', group: 'platform', description: 'Runs of workflows, agents and tools' },
  { key: 'customers', name: 'Customers', group: 'platform', description: "The organization's customers (tenants)" },
  { key: 'people', name: 'People', group: 'platform', description: 'Members, invitations and teams' },
  { key: 'roles', name: 'Roles', group: 'platform', description: 'Custom roles' },
  { key: 'audit_log', name: 'Audit log', group: 'platform', description: 'The audit trail' },
  { key: 'billing', name: 'Billing', group: 'platform', description: 'Plans and per-customer limits' },
  { key: 'settings', name: 'Settings', group: 'platform', description: 'Organization settings' },
] as const satisfies readonly CategoryDefinition[];

export type CategoryKey = (typeof CATEGORIES)[number]['key'];

const O = 'owner';
const A = 'admin';
const D = 'developer';
const Op = 'operator';
const V = 'viewer';
const E = 'end_user';

/** [key, human description, roles holding it]: the matrix, row for row (ARCHITECTURE.md §3). */
const MATRIX = [
  ['connectors.create', 'Create connectors', [O, A, D]],
  ['connectors.read', 'View connectors', [O, A, D, Op, V]],
  ['connectors.update', 'Edit connectors', [O, A, D]],
  ['connectors.delete', 'Delete connectors', [O, A, D]],
  ['connectors.deploy_test', 'Deploy connectors to test', [O, A, D]],
  ['connectors.deploy_prod', 'Deploy connectors to production', [O, A, D]],
  ['connections.create', 'Connect apps', [O, A, D, Op, E]],
  ['connections.read', 'View connections', [O, A, D, Op, V, E]],
  ['connections.update', 'Edit connections', [O, A, D, Op, E]],
  ['connections.delete', 'Delete connections', [O, A, D, Op, E]],
  ['connections.execute', 'Test connections and run actions', [O, A, D, Op, E]],
  ['connections.share', 'Share connections with the whole customer', [O, A, D, Op, E]],
  ['workflows.create', 'Create workflows', [O, A, D]],
  ['workflows.read', 'View workflows', [O, A, D, Op, V]],
  ['workflows.update', 'Edit workflows', [O, A, D]],
  ['workflows.delete', 'Delete workflows', [O, A, D]],
  ['workflows.execute', 'Run workflows', [O, A, D, Op]],
  ['workflows.deploy_test', 'Deploy workflows to test', [O, A, D]],
  ['workflows.deploy_prod', 'Deploy workflows to production', [O, A, D]],
  ['agents.create', 'Create agents', [O, A, D]],
  ['agents.read', 'View agents', [O, A, D, Op, V]],
  ['agents.update', 'Edit agents', [O, A, D]],
  ['agents.delete', 'Delete agents', [O, A, D]],
  ['agents.execute', 'Run agents', [O, A, D, Op]],
  ['tools.create', 'Create tools', [O, A, D]],
  ['tools.read', 'View tools', [O, A, D, Op, V]],
  ['tools.update', 'Edit tools', [O, A, D]],
  ['tools.delete', 'Delete tools', [O, A, D]],
  ['tools.execute', 'Run tools', [O, A, D, Op]],
  ['executions.read', 'View executions and sync status', [O, A, D, Op, V, E]],
  ['executions.retry', 'Retry executions', [O, A, D, Op, E]],
  ['customers.read', 'View customers', [O, A, D, Op, V, E]],
  ['customers.manage', 'Create, activate and suspend customers', [O, A]],
  ['people.read', 'View members and teams', [O, A, D, Op]],
  ['people.manage', 'Invite, change roles, deactivate, manage teams', [O, A]],
  ['roles.manage', 'Create, edit and delete custom roles', [O, A]],
  ['audit_log.read', 'View the audit log', [O, A, D, Op]],
  ['billing.manage', 'Manage plans and customer limits', [O, A]],
  ['settings.manage', 'Manage organization settings', [O, A]],
] as const satisfies readonly (readonly [string, string, readonly SystemRoleKey[]])[];

export type Permission = (typeof MATRIX)[number][0];

export interface PermissionDefinition {
  readonly key: Permission;
  readonly category: CategoryKey;
  readonly action: string;
  readonly description: string;
}

export const PERMISSIONS: readonly PermissionDefinition[] = MATRIX.map(([key, description]) => {
  const [category, action] = key.split('.') as [CategoryKey, string];
  return { key, category, action, description };
});

export const PERMISSION_KEYS: readonly Permission[] = PERMISSIONS.map((p) => p.key);

const permissionKeySet: ReadonlySet<string> = new Set(PERMISSION_KEYS);
export function isPermission(value: string): value is Permission {
  return permissionKeySet.has(value);
}

export interface SystemRoleDefinition {
  readonly key: SystemRoleKey;
  readonly name: string;
  readonly description: string;
  /** End Users are confined to one customer; every other role is organization staff. */
  readonly customerConfined: boolean;
  readonly permissions: readonly Permission[];
}

const ROLE_TEXT: Record<SystemRoleKey, { name: string; description: string }> = {
  owner: {
    name: 'Owner',
    description: 'Full access, including ownership transfer and organization deletion. One per organization.',
  },
  admin: {
    name: 'Admin',
    description: 'Full access to connectors, workflows, customers, billing and settings. Cannot transfer ownership.',
  },
  developer: {
    name: 'Developer',
    description: 'Build connectors, workflows, agents. No billing, organization settings or user roles.',
  },
  operator: { name: 'Operator', description: 'Operational access: run workflows, monitor activity, manage connections.' },
  viewer: { name: 'Viewer', description: 'Read-only access.' },
  end_user: { name: 'End User', description: 'Customer-facing widget access, confined to one customer.' },
};

export const SYSTEM_ROLES: readonly SystemRoleDefinition[] = SYSTEM_ROLE_KEYS.map((key) => ({
  key,
  ...ROLE_TEXT[key],
  customerConfined: key === 'end_user',
  permissions: MATRIX.filter(([, , roles]) => (roles as readonly SystemRoleKey[]).includes(key)).map(([p]) => p),
}));

export function systemRole(key: SystemRoleKey): SystemRoleDefinition {
  const role = SYSTEM_ROLES.find((r) => r.key === key);
  if (!role) throw new Error(`unknown system role ${key}`);
  return role;
}

export function isSystemRoleKey(value: string): value is SystemRoleKey {
  return (SYSTEM_ROLE_KEYS as readonly string[]).includes(value);
}

/** Per-category granted/total, as the Roles page's role detail draws it (e.g. Connectors 6/6). */
export function categoryCoverage(granted: Iterable<string>) {
  const grantedSet = new Set(granted);
  return CATEGORIES.map((category) => {
    const inCategory = PERMISSIONS.filter((p) => p.category === category.key);
    return {
      category,
      total: inCategory.length,
      granted: inCategory.filter((p) => grantedSet.has(p.key)).length,
      permissions: inCategory.map((p) => ({ permission: p, granted: grantedSet.has(p.key) })),
    };
  });
}
