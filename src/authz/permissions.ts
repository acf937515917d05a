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

/**
 * What a workspace confines (DESIGN §3b: its definitions, the connections through their
 * connector, the runs of what it holds). A workspace-scoped service principal holds only its
 * role's permissions in these categories: anything organization-wide (people, roles, customers,
 * the audit log, billing, settings — including creating keys) would let it act beyond its
 * workspace. Migration 016's app_private.workspace_scoped_permission says the same in SQL.
 */
export const WORKSPACE_SCOPED_CATEGORIES: readonly CategoryKey[] = [
  'connectors',
  'connections',
  'workflows',
  'agents',
  'tools',
  'executions',
];

export function isWorkspaceScopedPermission(permission: Permission): boolean {
  return (WORKSPACE_SCOPED_CATEGORIES as readonly string[]).includes(permission.split('.')[0]!);
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

// =============================================================================================
// Project roles (DESIGN §3b, the Activepieces seeds): permissions inside one workspace.
// The seeds' twelve rows in five groups, the four system project roles, and the ONE table that
// translates a project permission into the organization vocabulary above. Scopes, the database
// catalogue, the catalogue query and the tests all derive from here.
// =============================================================================================

export const PROJECT_ROLE_KEYS = ['admin', 'editor', 'operator', 'viewer'] as const;
export type ProjectRoleKey = (typeof PROJECT_ROLE_KEYS)[number];

export const PROJECT_PERMISSION_GROUPS = [
  { key: 'flows', name: 'Flows' },
  { key: 'runs', name: 'Runs' },
  { key: 'connections', name: 'Connections' },
  { key: 'team', name: 'Team' },
  { key: 'git_sync', name: 'Git Sync' },
] as const;
export type ProjectPermissionGroupKey = (typeof PROJECT_PERMISSION_GROUPS)[number]['key'];

const PA = 'admin';
const PE = 'editor';
const PO = 'operator';
const PV = 'viewer';

/**
 * [key, the seeds' row label, group, project roles holding it, organization permissions it
 * grants in that workspace] — DESIGN §3b row for row. Members and git permissions have no
 * organization equivalent (they are checked as project permissions themselves).
 */
const PROJECT_MATRIX = [
  ['project.flows.read', 'View Flows', 'flows', [PA, PE, PO, PV], ['workflows.read']],
  ['project.flows.write', 'Edit Flows', 'flows', [PA, PE], ['workflows.create', 'workflows.update', 'workflows.delete']],
  // Publishing is deploying; toggling a workflow on or off is gated by the deploy permission too.
  ['project.flows.publish', 'Publish / Toggle Flows', 'flows', [PA, PE, PO], ['workflows.deploy_test', 'workflows.deploy_prod']],
  ['project.runs.read', 'View Runs', 'runs', [PA, PE, PO, PV], ['executions.read']],
  ['project.runs.retry', 'Retry Runs', 'runs', [PA, PE, PO], ['executions.retry']],
  ['project.connections.read', 'View Connections', 'connections', [PA, PE, PO, PV], ['connections.read']],
  [
    'project.connections.write',
    'Edit Connections',
    'connections',
    [PA, PE, PO],
    ['connections.create', 'connections.update', 'connections.delete'],
  ],
  ['project.members.read', 'View Project Members', 'team', [PA, PE, PO, PV], []],
  ['project.members.manage', 'Add/Remove Project Members', 'team', [PA], []],
  ['project.git.configure', 'Configure Git Repo', 'git_sync', [PA], []],
  ['project.git.pull', 'Pull Flows from Git', 'git_sync', [PA], []],
  ['project.git.push', 'Push Flows to Git', 'git_sync', [PA], []],
] as const satisfies readonly (readonly [
  string,
  string,
  ProjectPermissionGroupKey,
  readonly ProjectRoleKey[],
  readonly Permission[],
])[];

export type ProjectPermission = (typeof PROJECT_MATRIX)[number][0];

/** Toggling a workflow on or off ("Toggle Flows") needs this organization permission (or, in a workspace, project.flows.publish, which translates to it). */
export const TOGGLE_WORKFLOW_PERMISSION: Permission = 'workflows.deploy_prod';

export interface ProjectPermissionDefinition {
  readonly key: ProjectPermission;
  readonly label: string;
  readonly group: ProjectPermissionGroupKey;
  /** The organization permissions it grants inside its workspace. */
  readonly grants: readonly Permission[];
}

export const PROJECT_PERMISSIONS: readonly ProjectPermissionDefinition[] = PROJECT_MATRIX.map(
  ([key, label, group, , grants]) => ({
    key,
    label,
    group,
    grants,
  }),
);
export const PROJECT_PERMISSION_KEYS: readonly ProjectPermission[] = PROJECT_PERMISSIONS.map((p) => p.key);

const projectPermissionKeySet: ReadonlySet<string> = new Set(PROJECT_PERMISSION_KEYS);
export function isProjectPermission(value: string): value is ProjectPermission {
  return projectPermissionKeySet.has(value);
}

export interface SystemProjectRoleDefinition {
  readonly key: ProjectRoleKey;
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly ProjectPermission[];
}

const PROJECT_ROLE_TEXT: Record<ProjectRoleKey, { name: string; description: string }> = {
  admin: { name: 'Admin', description: 'Everything in the workspace, including its members and git sync.' },
  editor: { name: 'Editor', description: 'Build, publish and toggle flows; runs and connections.' },
  operator: { name: 'Operator', description: 'Publish and toggle flows, retry runs, manage connections; no editing.' },
  viewer: { name: 'Viewer', description: 'Read-only access to the workspace.' },
};

export const SYSTEM_PROJECT_ROLES: readonly SystemProjectRoleDefinition[] = PROJECT_ROLE_KEYS.map((key) => ({
  key,
  ...PROJECT_ROLE_TEXT[key],
  permissions: PROJECT_MATRIX.filter(([, , , roles]) => (roles as readonly ProjectRoleKey[]).includes(key)).map(([p]) => p),
}));

export function isProjectRoleKey(value: string): value is ProjectRoleKey {
  return (PROJECT_ROLE_KEYS as readonly string[]).includes(value);
}

export function systemProjectRole(key: ProjectRoleKey): SystemProjectRoleDefinition {
  const role = SYSTEM_PROJECT_ROLES.find((r) => r.key === key);
  if (!role) throw new Error(`unknown project role ${key}`);
  return role;
}

/** The organization permissions a set of project permissions grants in its workspace. */
export function translateProjectPermissions(projectPermissions: Iterable<ProjectPermission>): Set<Permission> {
  const granted = new Set<Permission>();
  for (const key of projectPermissions)
    for (const p of PROJECT_PERMISSIONS.find((d) => d.key === key)?.grants ?? []) granted.add(p);
  return granted;
}

/** Organization roles that hold every project permission in every workspace. */
const ALL_WORKSPACES_ROLES: ReadonlySet<string> = new Set<SystemRoleKey>(['owner', 'admin']);

/**
 * The project permissions an organization role already amounts to, without any project role:
 * Owner and Admin hold all twelve everywhere; anyone else holds those whose translation they
 * hold entirely (a Developer can edit flows anywhere). Members and git permissions translate
 * to nothing, so only a project role (or Owner/Admin) gives them.
 */
export function projectPermissionsOfOrganizationRole(
  roleKey: string | null,
  permissions: ReadonlySet<Permission>,
): Set<ProjectPermission> {
  if (roleKey && ALL_WORKSPACES_ROLES.has(roleKey)) return new Set(PROJECT_PERMISSION_KEYS);
  return new Set(
    PROJECT_PERMISSIONS.filter((d) => d.grants.length > 0 && d.grants.every((p) => permissions.has(p))).map((d) => d.key),
  );
}

/** Per-group rows with a tick per system project role: the seeds' Project Roles table. */
export function projectRoleTable() {
  return PROJECT_PERMISSION_GROUPS.map((group) => ({
    group,
    rows: PROJECT_PERMISSIONS.filter((p) => p.group === group.key).map((permission) => ({
      permission,
      roles: SYSTEM_PROJECT_ROLES.map((role) => ({ role, granted: role.permissions.includes(permission.key) })),
    })),
  }));
}
