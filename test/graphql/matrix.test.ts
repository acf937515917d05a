/**
 * The whole matrix, generated: every root field the schema gates by a permission (or by being
 * the Owner) × the six system roles and a custom role. The gated fields are discovered from the
 * built schema and the expectations come from src/authz/permissions.ts, so a new gated field
 * without a case here, or a matrix change, fails this file.
 *
 * Each case is built so that an allowed call succeeds (fresh fixtures, roles the actor may
 * grant); the test then checks the answer and the audit trail of that very request.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ROLES, isPermission, type Permission } from '../../src/authz/permissions.js';
import { specFromPermission } from '../../src/authz/scopes.js';
import { RequestDatabase } from '../../src/db/request-database.js';
import { createDefinition } from '../../src/domain/definitions.js';
import { enqueueExecution } from '../../src/domain/executions.js';
import { schema } from '../../src/schema/index.js';
import { asSuperuser, silentLogger } from '../helpers/database.js';
import { errorCodes, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import { createKey } from '../helpers/keys.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let org: SeededOrg;
let custom: SeededMember;
/** Roles every actor that manages people may hand out (all hold workflows.read / executions.read). */
let grantable: { a: string; b: string };
let executionId: string;
let connectorId: string;

/** The custom role: some reading, people and roles management, nothing else. */
const CUSTOM_PERMISSIONS: Permission[] = [
  'people.read',
  'people.manage',
  'roles.manage',
  'customers.read',
  'audit_log.read',
  'workflows.read',
  'executions.read',
];

interface Gate {
  field: string;
  operation: 'query' | 'mutation';
  permission: Permission | null;
  ownerOnly: boolean;
}

function gates(): Gate[] {
  return (['query', 'mutation'] as const).flatMap((operation) => {
    const root = operation === 'query' ? schema.getQueryType()! : schema.getMutationType()!;
    return Object.values(root.getFields()).flatMap((field) => {
      const scopes = (field.extensions?.pothosOptions as { authScopes?: Record<string, unknown> }).authScopes ?? {};
      const permission = typeof scopes.permission === 'string' && isPermission(scopes.permission) ? scopes.permission : null;
      const ownerOnly = scopes.organizationOwner === true;
      return permission || ownerOnly ? [{ field: field.name, operation, permission, ownerOnly }] : [];
    });
  });
}

interface CaseContext {
  actor: SeededMember;
  org: SeededOrg;
  send(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse>;
}

const uid = () => randomUUID().slice(0, 8);

/** Fixtures, written as the organization's Owner. */
const fx = {
  workflow: () => t.world.workflow(org),
  customer: (status: 'active' | 'suspended' = 'active') =>
    t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into customers (org_id, name, slug, status) values ($1, $2, $3, $4) returning id`,
        [org.id, `Fixture ${uid()}`, `fx-${uid()}`, status],
      );
      return rows[0]!.id;
    }),
  customRole: (permissions: string[] = ['workflows.read']) =>
    t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(`insert into roles (org_id, name) values ($1, $2) returning id`, [
        org.id,
        `Fixture role ${uid()}`,
      ]);
      await db.query(`insert into role_permissions (org_id, role_id, permission_key) select $1, $2, unnest($3::text[])`, [
        org.id,
        rows[0]!.id,
        permissions,
      ]);
      return rows[0]!.id;
    }),
  member: async (status: 'active' | 'inactive' = 'active') => {
    const user = await t.world.user('fixture');
    return t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into memberships (org_id, user_id, role_id, status) values ($1, $2, $3, $4) returning id`,
        [org.id, user.userId, grantable.a, status],
      );
      return rows[0]!.id;
    });
  },
  team: () =>
    t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(`insert into teams (org_id, name) values ($1, $2) returning id`, [
        org.id,
        `Team ${uid()}`,
      ]);
      return rows[0]!.id;
    }),
  invitation: () =>
    t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into invitations (org_id, email, role_id, expires_at) values ($1, $2, $3, now() + interval '7 days') returning id`,
        [org.id, `invitee-${uid()}@example.test`, grantable.a],
      );
      return rows[0]!.id;
    }),
  definition: (kind: 'connector' | 'agent' | 'tool') =>
    t.world.inOrg(org, (db) =>
      createDefinition(db, kind, org.members.owner.userId, {
        name: `${kind} ${uid()}`,
        ...(kind === 'connector' ? { authKind: 'api_key' } : {}),
      }),
    ),
  finishedExecution: async () => {
    const id = await t.world.inOrg(
      org,
      async (db) =>
        (await enqueueExecution(db, org.members.owner.userId, 'workflow', org.workflows[0]!, org.customers[0]!.id, {}, null)).id,
    );
    await asSuperuser(t.db, (c) => c.query(`update app_public.executions set status = 'failed' where id = $1`, [id]));
    return id;
  },
  /** In the End User's customer; personal ones belong to the actor (so an End User sees theirs). */
  connection: (actor: SeededMember, shared: boolean) =>
    t.world.connection(org, { customerId: org.customers[0]!.id, connectorId, ownerUserId: actor.userId, shared }),
  /** A key with a role every `settings.manage` holder may hand out, made by the Owner. */
  apiKey: async () => createKey(t.client, await t.world.token(org.members.owner), org.id, { roleId: grantable.a }),
  projectRole: () =>
    t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>('insert into project_roles (org_id, name) values ($1, $2) returning id', [
        org.id,
        `Fixture project role ${uid()}`,
      ]);
      await db.query(
        `insert into project_role_permissions (org_id, role_id, permission_key) values ($1, $2, 'project.flows.read')`,
        [org.id, rows[0]!.id],
      );
      return rows[0]!.id;
    }),
  joinRequest: async () => {
    const user = await t.world.user('asker');
    return t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into join_requests (org_id, user_id, email) values ($1, $2, $3) returning id`,
        [org.id, user.userId, user.email],
      );
      return rows[0]!.id;
    });
  },
};

/** One way to call each gated field. `fresh` cases get an organization of their own. */
const CASES: Record<string, { fresh?: boolean; run(c: CaseContext): Promise<GraphQLResponse> }> = {
  // Workflows
  workflows: { run: (c) => c.send('{ workflows(first: 2) { totalCount } }') },
  workflow: { run: (c) => c.send('query($id: ID!) { workflow(id: $id) { id } }', { id: c.org.workflows[0] }) },
  createWorkflow: {
    run: (c) => c.send('mutation($n: String!) { createWorkflow(input: { name: $n }) { id } }', { n: `wf ${uid()}` }),
  },
  updateWorkflow: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateWorkflow(input: { id: $id, description: "x" }) { id } }', { id: await fx.workflow() }),
  },
  deleteWorkflow: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteWorkflow(input: { id: $id }) { deletedWorkflowId } }', { id: await fx.workflow() }),
  },
  executeWorkflow: {
    run: (c) =>
      c.send('mutation($id: ID!, $c: ID!) { executeWorkflow(input: { id: $id, customerId: $c }) { id } }', {
        id: c.org.workflows[0],
        c: c.org.customers[0]!.id,
      }),
  },
  deployWorkflowToTest: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deployWorkflowToTest(input: { id: $id }) { version } }', { id: await fx.workflow() }),
  },
  deployWorkflowToProduction: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deployWorkflowToProduction(input: { id: $id }) { version } }', { id: await fx.workflow() }),
  },
  execution: { run: (c) => c.send('query($id: ID!) { execution(id: $id) { id } }', { id: executionId }) },
  // Roles
  roles: { run: (c) => c.send('{ roles { id } }') },
  rolesConnection: { run: (c) => c.send('{ rolesConnection(first: 5) { totalCount edges { node { id } } } }') },
  role: { run: (c) => c.send('query($id: ID!) { role(id: $id) { id } }', { id: grantable.a }) },
  createRole: {
    run: (c) =>
      c.send('mutation($n: String!) { createRole(input: { name: $n, permissions: ["workflows.read"] }) { id } }', {
        n: `Role ${uid()}`,
      }),
  },
  duplicateRole: {
    run: (c) =>
      c.send('mutation($id: ID!, $n: String) { duplicateRole(input: { id: $id, name: $n }) { id } }', {
        id: grantable.a,
        n: `Copy ${uid()}`,
      }),
  },
  updateRole: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateRole(input: { id: $id, description: "edited" }) { id } }', {
        id: await fx.customRole(),
      }),
  },
  deleteRole: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', { id: await fx.customRole() }),
  },
  // Teams
  teams: { run: (c) => c.send('{ teams { id } }') },
  teamsConnection: { run: (c) => c.send('{ teamsConnection(first: 5) { totalCount edges { node { id } } } }') },
  team: { run: async (c) => c.send('query($id: ID!) { team(id: $id) { id } }', { id: await fx.team() }) },
  createTeam: { run: (c) => c.send('mutation($n: String!) { createTeam(input: { name: $n }) { id } }', { n: `Team ${uid()}` }) },
  updateTeam: {
    run: async (c) =>
      c.send('mutation($id: ID!, $n: String) { updateTeam(input: { id: $id, name: $n }) { id } }', {
        id: await fx.team(),
        n: `Renamed ${uid()}`,
      }),
  },
  deleteTeam: {
    run: async (c) => c.send('mutation($id: ID!) { deleteTeam(input: { id: $id }) { deletedTeamId } }', { id: await fx.team() }),
  },
  addTeamMember: {
    run: async (c) =>
      c.send('mutation($t: ID!, $m: ID!) { addTeamMember(input: { teamId: $t, memberId: $m }) { id } }', {
        t: await fx.team(),
        m: await fx.member(),
      }),
  },
  removeTeamMember: {
    run: async (c) => {
      const [team, member] = [await fx.team(), await fx.member()];
      await t.world.inOrg(org, (db) =>
        db.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [org.id, team, member]),
      );
      return c.send('mutation($t: ID!, $m: ID!) { removeTeamMember(input: { teamId: $t, memberId: $m }) { id } }', {
        t: team,
        m: member,
      });
    },
  },
  // People
  people: { run: (c) => c.send('{ people(first: 5) { totalCount edges { node { id status } } } }') },
  member: { run: (c) => c.send('query($id: ID!) { member(id: $id) { id } }', { id: c.org.members.viewer.membershipId }) },
  invitation: { run: async (c) => c.send('query($id: ID!) { invitation(id: $id) { id } }', { id: await fx.invitation() }) },
  joinRequests: { run: (c) => c.send('{ joinRequests { id } }') },
  joinRequestsConnection: { run: (c) => c.send('{ joinRequestsConnection(first: 5) { totalCount edges { node { id } } } }') },
  inviteMember: {
    run: (c) =>
      c.send('mutation($e: String!, $r: ID!) { inviteMember(input: { email: $e, roleId: $r }) { id } }', {
        e: `new-${uid()}@example.test`,
        r: grantable.a,
      }),
  },
  resendInvitation: {
    run: async (c) => c.send('mutation($id: ID!) { resendInvitation(input: { id: $id }) { id } }', { id: await fx.invitation() }),
  },
  revokeInvitation: {
    run: async (c) => c.send('mutation($id: ID!) { revokeInvitation(input: { id: $id }) { id } }', { id: await fx.invitation() }),
  },
  changeMemberRole: {
    run: async (c) =>
      c.send('mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }', {
        m: await fx.member(),
        r: grantable.b,
      }),
  },
  deactivateMember: {
    run: async (c) => c.send('mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { id } }', { m: await fx.member() }),
  },
  reactivateMember: {
    run: async (c) =>
      c.send('mutation($m: ID!) { reactivateMember(input: { memberId: $m }) { id } }', { m: await fx.member('inactive') }),
  },
  approveJoinRequest: {
    run: async (c) =>
      c.send('mutation($id: ID!, $r: ID!) { approveJoinRequest(input: { id: $id, roleId: $r }) { id } }', {
        id: await fx.joinRequest(),
        r: grantable.a,
      }),
  },
  rejectJoinRequest: {
    run: async (c) =>
      c.send('mutation($id: ID!) { rejectJoinRequest(input: { id: $id }) { id } }', { id: await fx.joinRequest() }),
  },
  // Settings and the Owner's capabilities
  updateOrganizationSettings: {
    run: (c) => c.send('mutation { updateOrganizationSettings(input: { timezone: "Europe/Berlin" }) { id } }'),
  },
  transferOwnership: {
    fresh: true,
    run: (c) =>
      c.send('mutation($m: ID!) { transferOwnership(input: { memberId: $m }) { newOwner { id } } }', {
        m: c.org.members.admin.membershipId,
      }),
  },
  deleteOrganization: {
    fresh: true,
    run: (c) =>
      c.send('mutation($n: String!) { deleteOrganization(input: { confirmName: $n }) { deletedOrganizationId } }', {
        n: c.org.name,
      }),
  },
  // Customers and billing
  customers: { run: (c) => c.send('{ customers(first: 5) { totalCount } }') },
  customer: { run: (c) => c.send('query($id: ID!) { customer(id: $id) { id } }', { id: c.org.customers[0]!.id }) },
  createCustomer: {
    run: (c) => c.send('mutation($n: String!) { createCustomer(input: { name: $n }) { id } }', { n: `Customer ${uid()}` }),
  },
  updateCustomer: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateCustomer(input: { id: $id, plan: "growth" }) { id } }', { id: await fx.customer() }),
  },
  activateCustomer: {
    run: async (c) =>
      c.send('mutation($id: ID!) { activateCustomer(input: { id: $id }) { id } }', { id: await fx.customer('suspended') }),
  },
  suspendCustomer: {
    run: async (c) => c.send('mutation($id: ID!) { suspendCustomer(input: { id: $id }) { id } }', { id: await fx.customer() }),
  },
  setCustomerLimits: {
    run: async (c) =>
      c.send('mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxExecutionsPerMonth: 100 }) { id } }', {
        id: await fx.customer(),
      }),
  },
  inviteCustomerAdmin: {
    run: async (c) =>
      c.send('mutation($id: ID!, $e: String!) { inviteCustomerAdmin(input: { customerId: $id, email: $e }) { id } }', {
        id: await fx.customer(),
        e: `admin-${uid()}@example.test`,
      }),
  },
  // Connectors, agents, tools
  connectors: { run: (c) => c.send('{ connectors(first: 2) { totalCount } }') },
  connector: { run: (c) => c.send('query($id: ID!) { connector(id: $id) { id } }', { id: connectorId }) },
  createConnector: {
    run: (c) =>
      c.send('mutation($n: String!) { createConnector(input: { name: $n, authKind: OAUTH2 }) { id } }', {
        n: `Connector ${uid()}`,
      }),
  },
  updateConnector: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateConnector(input: { id: $id, description: "x" }) { id } }', {
        id: await fx.definition('connector'),
      }),
  },
  deleteConnector: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteConnector(input: { id: $id }) { deletedConnectorId } }', {
        id: await fx.definition('connector'),
      }),
  },
  deployConnectorToTest: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deployConnectorToTest(input: { id: $id }) { version } }', {
        id: await fx.definition('connector'),
      }),
  },
  deployConnectorToProduction: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deployConnectorToProduction(input: { id: $id }) { version } }', {
        id: await fx.definition('connector'),
      }),
  },
  agents: { run: (c) => c.send('{ agents(first: 2) { totalCount } }') },
  agent: { run: async (c) => c.send('query($id: ID!) { agent(id: $id) { id } }', { id: await fx.definition('agent') }) },
  createAgent: {
    run: (c) => c.send('mutation($n: String!) { createAgent(input: { name: $n }) { id } }', { n: `Agent ${uid()}` }),
  },
  updateAgent: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateAgent(input: { id: $id, description: "x" }) { id } }', {
        id: await fx.definition('agent'),
      }),
  },
  deleteAgent: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteAgent(input: { id: $id }) { deletedAgentId } }', { id: await fx.definition('agent') }),
  },
  executeAgent: {
    run: async (c) =>
      c.send('mutation($id: ID!, $c: ID!) { executeAgent(input: { id: $id, customerId: $c }) { id } }', {
        id: await fx.definition('agent'),
        c: c.org.customers[0]!.id,
      }),
  },
  tools: { run: (c) => c.send('{ tools(first: 2) { totalCount } }') },
  tool: { run: async (c) => c.send('query($id: ID!) { tool(id: $id) { id } }', { id: await fx.definition('tool') }) },
  createTool: { run: (c) => c.send('mutation($n: String!) { createTool(input: { name: $n }) { id } }', { n: `Tool ${uid()}` }) },
  updateTool: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateTool(input: { id: $id, description: "x" }) { id } }', {
        id: await fx.definition('tool'),
      }),
  },
  deleteTool: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteTool(input: { id: $id }) { deletedToolId } }', { id: await fx.definition('tool') }),
  },
  executeTool: {
    run: async (c) =>
      c.send('mutation($id: ID!, $c: ID!) { executeTool(input: { id: $id, customerId: $c }) { id } }', {
        id: await fx.definition('tool'),
        c: c.org.customers[0]!.id,
      }),
  },
  // Executions
  executions: { run: (c) => c.send('{ executions(first: 2) { totalCount } }') },
  retryExecution: {
    run: async (c) =>
      c.send('mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }', { id: await fx.finishedExecution() }),
  },
  // Connections (fixtures live in the End User's customer, so every actor can see them)
  connectorCatalogue: { run: (c) => c.send('{ connectorCatalogue { id name } }') },
  connections: { run: (c) => c.send('{ connections(first: 2) { totalCount } }') },
  connection: {
    run: async (c) => c.send('query($id: ID!) { connection(id: $id) { id } }', { id: await fx.connection(c.actor, true) }),
  },
  createConnection: {
    run: (c) =>
      c.send(
        'mutation($k: ID!, $c: ID!) { createConnection(input: { connectorId: $k, customerId: $c, name: "CRM", credentials: { apiKey: "k" } }) { id } }',
        {
          k: connectorId,
          c: c.org.customers[0]!.id,
        },
      ),
  },
  updateConnection: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateConnection(input: { id: $id, name: "Renamed" }) { id } }', {
        id: await fx.connection(c.actor, true),
      }),
  },
  deleteConnection: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteConnection(input: { id: $id }) { deletedConnectionId } }', {
        id: await fx.connection(c.actor, true),
      }),
  },
  testConnection: {
    run: async (c) =>
      c.send('mutation($id: ID!) { testConnection(input: { id: $id }) { ok } }', { id: await fx.connection(c.actor, true) }),
  },
  runConnectionAction: {
    run: async (c) =>
      c.send('mutation($id: ID!) { runConnectionAction(input: { id: $id, action: "contacts.list" }) { id } }', {
        id: await fx.connection(c.actor, true),
      }),
  },
  shareConnection: {
    run: async (c) =>
      c.send('mutation($id: ID!) { shareConnection(input: { id: $id }) { scope } }', { id: await fx.connection(c.actor, false) }),
  },
  unshareConnection: {
    run: async (c) =>
      c.send('mutation($id: ID!) { unshareConnection(input: { id: $id }) { scope } }', {
        id: await fx.connection(c.actor, true),
      }),
  },
  refreshConnectionToken: {
    run: async (c) =>
      c.send('mutation($id: ID!) { refreshConnectionToken(input: { id: $id }) { tokenExpiresAt } }', {
        id: await fx.connection(c.actor, true),
      }),
  },
  // API keys (Settings)
  apiKeys: { run: (c) => c.send('{ apiKeys(first: 2) { totalCount } }') },
  apiKey: { run: async (c) => c.send('query($id: ID!) { apiKey(id: $id) { id } }', { id: (await fx.apiKey()).id }) },
  createApiKey: {
    run: (c) =>
      c.send('mutation($r: ID!) { createApiKey(input: { name: "matrix", roleId: $r, environment: LIVE }) { secret } }', {
        r: grantable.a,
      }),
  },
  rotateApiKey: {
    run: async (c) =>
      c.send('mutation($id: ID!) { rotateApiKey(input: { id: $id }) { secret } }', { id: (await fx.apiKey()).id }),
  },
  revokeApiKey: {
    run: async (c) =>
      c.send('mutation($id: ID!) { revokeApiKey(input: { id: $id }) { status } }', { id: (await fx.apiKey()).id }),
  },
  // Workspaces (settings.manage) and moving definitions (the kind's update permission)
  createWorkspace: {
    run: (c) => c.send('mutation($n: String!) { createWorkspace(input: { name: $n }) { id } }', { n: `Space ${uid()}` }),
  },
  renameWorkspace: {
    run: async (c) =>
      c.send('mutation($id: ID!, $n: String!) { renameWorkspace(input: { id: $id, name: $n }) { id } }', {
        id: await t.world.workspace(org),
        n: `Renamed ${uid()}`,
      }),
  },
  deleteWorkspace: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteWorkspace(input: { id: $id }) { deletedWorkspaceId } }', {
        id: await t.world.workspace(org),
      }),
  },
  moveWorkflow: {
    run: async (c) =>
      c.send('mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { id } }', {
        id: await fx.workflow(),
        w: await t.world.workspace(org),
      }),
  },
  moveConnector: {
    run: async (c) =>
      c.send('mutation($id: ID!, $w: ID!) { moveConnector(input: { id: $id, workspaceId: $w }) { id } }', {
        id: await fx.definition('connector'),
        w: await t.world.workspace(org),
      }),
  },
  moveAgent: {
    run: async (c) =>
      c.send('mutation($id: ID!, $w: ID!) { moveAgent(input: { id: $id, workspaceId: $w }) { id } }', {
        id: await fx.definition('agent'),
        w: await t.world.workspace(org),
      }),
  },
  moveTool: {
    run: async (c) =>
      c.send('mutation($id: ID!, $w: ID!) { moveTool(input: { id: $id, workspaceId: $w }) { id } }', {
        id: await fx.definition('tool'),
        w: await t.world.workspace(org),
      }),
  },
  setWorkflowEnabled: {
    run: async (c) =>
      c.send('mutation($id: ID!) { setWorkflowEnabled(input: { id: $id, enabled: false }) { id } }', { id: await fx.workflow() }),
  },
  // Custom project roles (roles.manage)
  createProjectRole: {
    run: (c) =>
      c.send('mutation($n: String!) { createProjectRole(input: { name: $n, permissions: ["project.flows.read"] }) { id } }', {
        n: `Project role ${uid()}`,
      }),
  },
  duplicateProjectRole: {
    run: async (c) =>
      c.send('mutation($id: ID!, $n: String) { duplicateProjectRole(input: { id: $id, name: $n }) { id } }', {
        id: await fx.projectRole(),
        n: `Copy ${uid()}`,
      }),
  },
  updateProjectRole: {
    run: async (c) =>
      c.send('mutation($id: ID!) { updateProjectRole(input: { id: $id, description: "edited" }) { id } }', {
        id: await fx.projectRole(),
      }),
  },
  deleteProjectRole: {
    run: async (c) =>
      c.send('mutation($id: ID!) { deleteProjectRole(input: { id: $id }) { deletedProjectRoleId } }', {
        id: await fx.projectRole(),
      }),
  },
  // Audit log
  auditLog: { run: (c) => c.send('{ auditLog(first: 5) { totalCount } }') },
  auditLogFacets: { run: (c) => c.send('{ auditLogFacets { actions } }') },
  auditLogVerification: { run: (c) => c.send('{ auditLogVerification { intact } }') },
};

const ACTORS = [...SYSTEM_ROLES.map((r) => r.key), 'custom'] as const;
type Actor = (typeof ACTORS)[number];

function permissionsOf(actor: Actor): readonly string[] {
  return actor === 'custom' ? CUSTOM_PERMISSIONS : SYSTEM_ROLES.find((r) => r.key === actor)!.permissions;
}

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Matrix', { workflows: 2 });
  custom = (await t.world.customRole(org, 'Support', CUSTOM_PERMISSIONS)).member;
  grantable = { a: await fx.customRole(['workflows.read']), b: await fx.customRole(['executions.read']) };
  connectorId = await t.world.connector(org, 'CRM');
  const db = new RequestDatabase(
    t.world.pool,
    { userId: org.members.owner.userId, orgId: org.id, access: 'staff', tenantId: null },
    silentLogger,
  );
  executionId = (
    await enqueueExecution(db, org.members.owner.userId, 'workflow', org.workflows[0]!, org.customers[0]!.id, {}, null)
  ).id;
  await db.finish();
});
afterAll(() => t?.stop());

describe('coverage', () => {
  it('has a case for every gated root field of the schema, and none for fields that are gone', () => {
    const fields = gates().map((g) => g.field);
    expect(fields.filter((f) => !CASES[f])).toEqual([]);
    expect(Object.keys(CASES).filter((f) => !fields.includes(f))).toEqual([]);
  });
});

/** What each case checks, whoever the caller is. */
async function checkCase(
  gate: Gate,
  allowed: boolean,
  caseOrg: SeededOrg,
  actor: SeededMember,
  send: CaseContext['send'],
): Promise<void> {
  const response = await CASES[gate.field]!.run({ actor, org: caseOrg, send });
  const data = (response.body.data ?? {}) as Record<string, unknown>;
  const events = (await t.world.audit(caseOrg, { requestId: response.headers.get('x-request-id')! })).filter(
    (e) => e.action !== 'auth.login',
  );
  const declared = (schema.getMutationType()!.getFields()[gate.field]?.extensions?.audit as { action: string } | undefined)
    ?.action;
  const action = declared ?? specFromPermission(gate.permission!).action;

  if (allowed) {
    expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
    expect(data[gate.field]).not.toBeNull();
    expect(events.map((e) => [e.action, e.outcome])).toEqual(gate.operation === 'mutation' ? [[action, 'success']] : []);
  } else {
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect(data[gate.field] ?? null).toBeNull();
    expect(events.map((e) => [e.action, e.outcome])).toEqual([[action, 'denied']]);
  }
}

describe.each(ACTORS)('%s', (actor) => {
  it.each(gates().map((g) => [g.field, g] as const))('%s', async (_name, gate) => {
    const allowed = gate.ownerOnly ? actor === 'owner' : permissionsOf(actor).includes(gate.permission!);
    let caseOrg = org;
    let member: SeededMember = actor === 'custom' ? custom : org.members[actor];
    if (CASES[gate.field]!.fresh) {
      caseOrg = await t.world.organization(`Fresh ${uid()}`);
      member =
        actor === 'custom' ? (await t.world.customRole(caseOrg, 'Support', CUSTOM_PERMISSIONS)).member : caseOrg.members[actor];
    }
    const token = await t.world.token(member);
    await checkCase(gate, allowed, caseOrg, member, (query, variables) =>
      t.client.request(query, variables, { token, orgId: caseOrg.id }),
    );
  });
});

/**
 * The same matrix for API keys of each system role a key may carry (the Owner role is a
 * person's: a key never holds it, and never the Owner's capabilities). The End User key is
 * confined to the End User's customer. Keys send no X-Organization-Id: they act in their own.
 */
const KEY_ROLES = ['admin', 'developer', 'operator', 'viewer', 'end_user'] as const;
const keysByOrgAndRole = new Map<string, { secret: string; actor: SeededMember }>();

async function keyFor(o: SeededOrg, role: (typeof KEY_ROLES)[number]): Promise<{ secret: string; actor: SeededMember }> {
  const cacheKey = `${o.id}:${role}`;
  const cached = keysByOrgAndRole.get(cacheKey);
  if (cached) return cached;
  const key = await createKey(t.client, await t.world.token(o.members.admin), o.id, {
    name: `${role} key`,
    roleId: await t.world.systemRoleId(o, role),
    customerId: role === 'end_user' ? o.customers[0]!.id : null,
  });
  const userId = await t.world.inOrg(
    o,
    async (db) =>
      (await db.query<{ user_id: string }>('select user_id from service_principals where id = $1', [key.id])).rows[0]!.user_id,
  );
  const entry = { secret: key.secret, actor: { ...o.members[role], userId } };
  keysByOrgAndRole.set(cacheKey, entry);
  return entry;
}

describe.each(KEY_ROLES)('API key with the %s role', (role) => {
  it.each(gates().map((g) => [g.field, g] as const))('%s', async (_name, gate) => {
    const allowed = gate.ownerOnly ? false : permissionsOf(role).includes(gate.permission!);
    const caseOrg = CASES[gate.field]!.fresh ? await t.world.organization(`Fresh ${uid()}`) : org;
    const { secret, actor } = await keyFor(caseOrg, role);
    await checkCase(gate, allowed, caseOrg, actor, (query, variables) => t.client.request(query, variables, { token: secret }));
  });
});
