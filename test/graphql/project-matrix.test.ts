/**
 * The project-role matrix, generated: every workspace-scoped root field (those gated by a project
 * permission, or by an organization permission some project permission translates to) × each
 * system project role and a custom one. Every actor is an organization **Viewer**, so what the
 * project role adds is what decides; every call is made in the workspace (X-Workspace-Id) where
 * the actor holds that role. Expectations come from the matrix module (src/authz/permissions.ts):
 * a new workspace-scoped field without a case, or a change of the table, fails this file.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PROJECT_PERMISSIONS,
  SYSTEM_PROJECT_ROLES,
  isPermission,
  isProjectPermission,
  systemRole,
  translateProjectPermissions,
  type Permission,
  type ProjectPermission,
} from '../../src/authz/permissions.js';
import { specFromPermission } from '../../src/authz/scopes.js';
import { enqueueExecution } from '../../src/domain/executions.js';
import { schema } from '../../src/schema/index.js';
import { asSuperuser } from '../helpers/database.js';
import { errorCodes, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import { createBareRepository, type BareRepository } from '../helpers/git.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let org: SeededOrg;
let workspace: string;
let connectorId: string;
let workflowId: string;
let executionId: string;
let repository: BareRepository;

/** The seeds' tip: "view and retry runs without being able to edit flows". */
const CUSTOM_PROJECT_PERMISSIONS: ProjectPermission[] = ['project.flows.read', 'project.runs.read', 'project.runs.retry'];

interface Gate {
  field: string;
  operation: 'query' | 'mutation';
  permission: Permission | null;
  projectPermission: ProjectPermission | null;
}

const TRANSLATED: ReadonlySet<string> = new Set(PROJECT_PERMISSIONS.flatMap((p) => p.grants));

/** Workspace-scoped root fields, discovered from the built schema. */
function gates(): Gate[] {
  return (['query', 'mutation'] as const).flatMap((operation) => {
    const root = operation === 'query' ? schema.getQueryType()! : schema.getMutationType()!;
    return Object.values(root.getFields()).flatMap((field) => {
      const scopes = (field.extensions?.pothosOptions as { authScopes?: Record<string, unknown> }).authScopes ?? {};
      const permission = typeof scopes.permission === 'string' && isPermission(scopes.permission) ? scopes.permission : null;
      const projectPermission =
        typeof scopes.projectPermission === 'string' && isProjectPermission(scopes.projectPermission)
          ? scopes.projectPermission
          : null;
      return projectPermission || (permission && TRANSLATED.has(permission))
        ? [{ field: field.name, operation, permission, projectPermission }]
        : [];
    });
  });
}

const uid = () => randomUUID().slice(0, 8);
type Send = (query: string, variables?: Record<string, unknown>) => Promise<GraphQLResponse>;

const fx = {
  workflow: () => t.world.definitionIn(org, workspace),
  finishedExecution: async () => {
    const id = await t.world.inOrg(
      org,
      async (db) =>
        (await enqueueExecution(db, org.members.owner.userId, 'workflow', workflowId, org.customers[0]!.id, {}, null)).id,
    );
    await asSuperuser(t.db, (c) => c.query(`update app_public.executions set status = 'failed' where id = $1`, [id]));
    return id;
  },
  connection: () =>
    t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId,
      ownerUserId: org.members.owner.userId,
      shared: true,
    }),
  projectMember: async () => t.world.projectMember(org, workspace, await t.world.member(org, 'viewer', 'fixture'), 'viewer'),
};

const CASES: Record<string, (send: Send) => Promise<GraphQLResponse>> = {
  workflows: (send) => send('{ workflows(first: 5) { totalCount } }'),
  workflow: (send) => send('query($id: ID!) { workflow(id: $id) { id } }', { id: workflowId }),
  createWorkflow: (send) => send('mutation($n: String!) { createWorkflow(input: { name: $n }) { id } }', { n: `wf ${uid()}` }),
  updateWorkflow: async (send) =>
    send('mutation($id: ID!) { updateWorkflow(input: { id: $id, description: "x" }) { id } }', { id: await fx.workflow() }),
  deleteWorkflow: async (send) =>
    send('mutation($id: ID!) { deleteWorkflow(input: { id: $id }) { deletedWorkflowId } }', { id: await fx.workflow() }),
  moveWorkflow: async (send) =>
    send('mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { id } }', {
      id: await fx.workflow(),
      w: workspace,
    }),
  deployWorkflowToTest: async (send) =>
    send('mutation($id: ID!) { deployWorkflowToTest(input: { id: $id }) { version } }', { id: await fx.workflow() }),
  deployWorkflowToProduction: async (send) =>
    send('mutation($id: ID!) { deployWorkflowToProduction(input: { id: $id }) { version } }', { id: await fx.workflow() }),
  setWorkflowEnabled: async (send) =>
    send('mutation($id: ID!) { setWorkflowEnabled(input: { id: $id, enabled: false }) { enabled } }', {
      id: await fx.workflow(),
    }),
  executions: (send) => send('{ executions(first: 5) { totalCount } }'),
  execution: (send) => send('query($id: ID!) { execution(id: $id) { id } }', { id: executionId }),
  retryExecution: async (send) =>
    send('mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }', { id: await fx.finishedExecution() }),
  connections: (send) => send('{ connections(first: 5) { totalCount } }'),
  connection: async (send) => send('query($id: ID!) { connection(id: $id) { id } }', { id: await fx.connection() }),
  createConnection: (send) =>
    send(
      'mutation($k: ID!, $c: ID!) { createConnection(input: { connectorId: $k, customerId: $c, name: "CRM", shared: true, credentials: { apiKey: "k" } }) { id } }',
      { k: connectorId, c: org.customers[0]!.id },
    ),
  updateConnection: async (send) =>
    send('mutation($id: ID!) { updateConnection(input: { id: $id, name: "Renamed" }) { id } }', { id: await fx.connection() }),
  deleteConnection: async (send) =>
    send('mutation($id: ID!) { deleteConnection(input: { id: $id }) { deletedConnectionId } }', { id: await fx.connection() }),
  connectorCatalogue: (send) => send('{ connectorCatalogue { id name } }'),
  refreshConnectionToken: async (send) =>
    send('mutation($id: ID!) { refreshConnectionToken(input: { id: $id }) { tokenExpiresAt } }', { id: await fx.connection() }),
  projectMembers: (send) => send('{ projectMembers { id role { id } } }'),
  projectMembersConnection: (send) =>
    send('{ projectMembersConnection(first: 5) { totalCount edges { node { id role { id } } } } }'),
  addProjectMember: async (send) =>
    send('mutation($m: ID!) { addProjectMember(input: { memberId: $m, roleId: "viewer" }) { id } }', {
      m: (await t.world.member(org, 'viewer', 'added')).membershipId,
    }),
  changeProjectMemberRole: async (send) =>
    send('mutation($id: ID!) { changeProjectMemberRole(input: { id: $id, roleId: "viewer" }) { id } }', {
      id: await fx.projectMember(),
    }),
  removeProjectMember: async (send) =>
    send('mutation($id: ID!) { removeProjectMember(input: { id: $id }) { removedProjectMemberId } }', {
      id: await fx.projectMember(),
    }),
  gitRepository: (send) => send('{ gitRepository { url branch } }'),
  configureGitRepository: (send) =>
    send('mutation($u: String!) { configureGitRepository(input: { url: $u, branch: "main" }) { url } }', { u: repository.url }),
  pushToGit: (send) => send('mutation { pushToGit(input: { message: "matrix push" }) { commit } }'),
  pullFromGit: (send) => send('mutation { pullFromGit { commit } }'),
};

const ACTORS = [...SYSTEM_PROJECT_ROLES.map((r) => r.key), 'custom'] as const;
const VIEWER: readonly Permission[] = systemRole('viewer').permissions;

function projectPermissionsOf(actor: (typeof ACTORS)[number]): readonly ProjectPermission[] {
  return actor === 'custom' ? CUSTOM_PROJECT_PERMISSIONS : SYSTEM_PROJECT_ROLES.find((r) => r.key === actor)!.permissions;
}

function allowed(actor: (typeof ACTORS)[number], gate: Gate): boolean {
  const project = projectPermissionsOf(actor);
  if (gate.projectPermission) return project.includes(gate.projectPermission);
  return VIEWER.includes(gate.permission!) || translateProjectPermissions(project).has(gate.permission!);
}

const members = new Map<string, SeededMember>();

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Projects', { workflows: 0 });
  workspace = await t.world.workspace(org, 'Matrix space');
  workflowId = await fx.workflow();
  connectorId = await t.world.definitionIn(org, workspace, 'connector');
  executionId = await fx.finishedExecution();
  repository = await createBareRepository();
  // The workspace's repository, configured as its Owner (holds every project permission).
  const owner = await t.world.token(org.members.owner);
  const configured = await t.client.request(
    'mutation($u: String!) { configureGitRepository(input: { url: $u, branch: "main" }) { url } }',
    { u: repository.url },
    { token: owner, orgId: org.id, headers: { 'x-workspace-id': workspace } },
  );
  expect(configured.body.errors).toBeUndefined();
  // A first push, so that pulling has a branch to read whatever order the cases run in.
  const pushed = await t.client.request(
    'mutation { pushToGit { commit } }',
    {},
    {
      token: owner,
      orgId: org.id,
      headers: { 'x-workspace-id': workspace },
    },
  );
  expect(pushed.body.errors).toBeUndefined();
  const customRole = await t.world.inOrg(org, async (db) => {
    const { rows } = await db.query<{ id: string }>(
      "insert into project_roles (org_id, name) values ($1, 'Run retrier') returning id",
      [org.id],
    );
    await db.query('insert into project_role_permissions (org_id, role_id, permission_key) select $1, $2, unnest($3::text[])', [
      org.id,
      rows[0]!.id,
      CUSTOM_PROJECT_PERMISSIONS,
    ]);
    return rows[0]!.id;
  });
  for (const actor of ACTORS) {
    const member = await t.world.member(org, 'viewer', `project-${actor}`);
    await t.world.projectMember(org, workspace, member, actor === 'custom' ? customRole : actor);
    members.set(actor, member);
  }
}, 120_000);
afterAll(async () => {
  await repository?.remove();
  await t?.stop();
});

describe('coverage', () => {
  it('has a case for every workspace-scoped root field, and none for fields that are gone', () => {
    const fields = gates().map((g) => g.field);
    expect(fields.filter((f) => !CASES[f])).toEqual([]);
    expect(Object.keys(CASES).filter((f) => !fields.includes(f))).toEqual([]);
  });
});

describe.each(ACTORS)('organization Viewer with project role %s', (actor) => {
  it.each(gates().map((g) => [g.field, g] as const))('%s', async (_name, gate) => {
    const member = members.get(actor)!;
    const token = await t.world.token(member);
    const response = await CASES[gate.field]!((query, variables) =>
      t.client.request(query, variables, { token, orgId: org.id, headers: { 'x-workspace-id': workspace } }),
    );
    const data = (response.body.data ?? {}) as Record<string, unknown>;
    const events = (await t.world.audit(org, { requestId: response.headers.get('x-request-id')! })).filter(
      (e) => e.action !== 'auth.login',
    );
    const declared = (schema.getMutationType()!.getFields()[gate.field]?.extensions?.audit ??
      schema.getQueryType()!.getFields()[gate.field]?.extensions?.audit) as { action: string } | undefined;
    const action = declared?.action ?? specFromPermission(gate.permission!).action;

    if (allowed(actor, gate)) {
      expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
      expect(data[gate.field]).not.toBeNull();
      expect(events.map((e) => [e.action, e.outcome])).toEqual(gate.operation === 'mutation' ? [[action, 'success']] : []);
    } else {
      expect(errorCodes(response), JSON.stringify(response.body)).toEqual(['FORBIDDEN']);
      expect(data[gate.field] ?? null).toBeNull();
      expect(events.map((e) => [e.action, e.outcome])).toEqual([[action, 'denied']]);
    }
  });
});
