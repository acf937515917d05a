/**
 * Isolation as a property. Two organizations × two customers, every kind of object in each;
 * random operations by random principals (staff of either organization, End Users of each
 * customer, staff scoped to one customer, API keys confined to one customer or to one workspace,
 * people acting in a workspace) aimed at random ids
 * from every tenant. Whatever the
 * draw:
 *  - no id of a tenant the principal may not see appears in any answer;
 *  - an operation aimed at another tenant's object answers exactly like one aimed at a missing id;
 *  - nothing outside the principal's reach changed (row hashes before and after, read as a
 *    superuser);
 * and, in SQL as the application's role, random bindings only ever return their own rows.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEYS } from '../../src/authz/permissions.js';
import { asApp } from '../helpers/database.js';
import { startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import { createKey } from '../helpers/keys.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let superuser: pg.Client;

interface Tenant {
  orgId: string;
  /** null: org-internal (staff only). */
  customerId: string | null;
}

/** Every object id we seeded, with the tenant (and, for definitions and what belongs to them, the workspace) it belongs to. */
const owners = new Map<string, Tenant & { personalTo?: string; membershipOf?: string; workspace?: string }>();

interface Principal {
  label: string;
  member: SeededMember;
  orgId: string;
  /** The customer the request is confined to (End Users; staff with X-Customer-Id). */
  customerId: string | null;
  headerCustomer?: string;
  /** A customer-scoped API key: sent instead of a token, with no organization header. */
  keySecret?: string;
  /** The workspace the request acts in (X-Workspace-Id; a workspace-scoped key's own). */
  workspace?: string;
  /** A workspace-scoped key sending X-Workspace-Id (of another workspace: always refused). */
  keyWorkspaceHeader?: string;
}
const principals: Principal[] = [];
const workspacesByOrg = new Map<string, string>();
/** Seeded executions by what they ran: a moved workflow takes its runs along. */
const executionsOf = new Map<string, string[]>();
const orgs: SeededOrg[] = [];

function mayRead(p: Principal, id: string): boolean {
  const owner = owners.get(id);
  if (!owner) return true; // not a seeded tenant object (a user id, a fresh execution…)
  if (owner.membershipOf === p.member.userId) return true; // your own membership is yours
  if (owner.orgId !== p.orgId) return false;
  if (p.workspace && owner.workspace && owner.workspace !== p.workspace) return false;
  if (!p.customerId) return true;
  if (owner.customerId !== p.customerId) return false;
  return !owner.personalTo || owner.personalTo === p.member.userId;
}

async function seed(org: SeededOrg) {
  orgs.push(org);
  const record = (id: string, customerId: string | null, personalTo?: string) =>
    owners.set(id, { orgId: org.id, customerId, personalTo });
  record(org.id, null);
  const defaultWorkspace = await t.world.defaultWorkspace(org);
  const inDefault = (id: string) => owners.set(id, { ...owners.get(id)!, workspace: defaultWorkspace });
  for (const id of org.workflows) {
    record(id, null);
    inDefault(id);
  }
  for (const m of Object.values(org.members))
    owners.set(m.membershipId, { orgId: org.id, customerId: null, membershipOf: m.userId });
  for (const c of org.customers) record(c.id, c.id);
  const connector = await t.world.connector(org, `${org.name} CRM`);
  record(connector, null);
  inDefault(connector);
  const second = await t.world.member(org, 'end_user', `${org.name}-second`);
  // The second End User belongs to the second customer.
  await t.world.inOrg(org, (db) =>
    db.query('update memberships set customer_id = $1 where id = $2', [org.customers[1]!.id, second.membershipId]),
  );
  owners.set(second.membershipId, { orgId: org.id, customerId: null, membershipOf: second.userId });
  const endUsers = [org.members.end_user, second];
  for (const [i, customer] of org.customers.entries()) {
    const endUser = endUsers[i]!;
    const shared = await t.world.connection(org, {
      customerId: customer.id,
      connectorId: connector,
      ownerUserId: endUser.userId,
      shared: true,
    });
    record(shared, customer.id);
    inDefault(shared);
    const personal = await t.world.connection(org, {
      customerId: customer.id,
      connectorId: connector,
      ownerUserId: endUser.userId,
    });
    record(personal, customer.id, endUser.userId);
    inDefault(personal);
    const execution = await t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status) values ($1, $2, 'workflow', $3, 'w', 'failed') returning id`,
        [org.id, customer.id, org.workflows[0]],
      );
      return rows[0]!.id;
    });
    record(execution, customer.id);
    inDefault(execution);
    executionsOf.set(org.workflows[0]!, [...(executionsOf.get(org.workflows[0]!) ?? []), execution]);
    principals.push({ label: `${org.name} end user ${i}`, member: endUser, orgId: org.id, customerId: customer.id });
  }

  // A second workspace with its own workflow, connector, connection and run; an organization
  // Viewer who is Editor there, a project Admin there, and an Admin acting in it.
  const space = await t.world.workspace(org, `${org.name} space`);
  record(space, null); // workspaces themselves are listed to all staff (the switcher)
  const inSpace = (id: string, customerId: string | null) => owners.set(id, { orgId: org.id, customerId, workspace: space });
  const spaceFlow = await t.world.definitionIn(org, space, 'workflow', `${org.name} space flow`);
  inSpace(spaceFlow, null);
  const spaceConnector = await t.world.definitionIn(org, space, 'connector', `${org.name} space connector`);
  inSpace(spaceConnector, null);
  const spaceCustomer = org.customers[0]!.id;
  inSpace(
    await t.world.connection(org, {
      customerId: spaceCustomer,
      connectorId: spaceConnector,
      ownerUserId: org.members.end_user.userId,
      shared: true,
    }),
    spaceCustomer,
  );
  const spaceRun = await t.world.inOrg(org, async (db) => {
    const { rows } = await db.query<{ id: string }>(
      `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status) values ($1, $2, 'workflow', $3, 'w', 'failed') returning id`,
      [org.id, spaceCustomer, spaceFlow],
    );
    return rows[0]!.id;
  });
  inSpace(spaceRun, spaceCustomer);
  executionsOf.set(spaceFlow, [spaceRun]);
  for (const [label, projectRole] of [
    ['editor', 'editor'],
    ['project admin', 'admin'],
  ] as const) {
    const member = await t.world.member(org, 'viewer', `${org.name}-${label}`.replace(/\s/g, '-'));
    owners.set(member.membershipId, { orgId: org.id, customerId: null, membershipOf: member.userId });
    const projectMemberId = await t.world.projectMember(org, space, member, projectRole);
    owners.set(projectMemberId, { orgId: org.id, customerId: null, workspace: space });
    principals.push({
      label: `${org.name} viewer, ${label} in space`,
      member,
      orgId: org.id,
      customerId: null,
      workspace: space,
    });
  }
  principals.push({
    label: `${org.name} admin in space`,
    member: org.members.admin,
    orgId: org.id,
    customerId: null,
    workspace: space,
  });
  workspacesByOrg.set(org.id, space);
  for (const role of ['owner', 'admin', 'developer', 'operator', 'viewer'] as const) {
    principals.push({ label: `${org.name} ${role}`, member: org.members[role], orgId: org.id, customerId: null });
  }
  // Customer-scoped API keys: an End User key, and a staff-role key confined all the same.
  const adminToken = await t.world.token(org.members.admin);
  for (const [i, role] of [
    [0, 'end_user'],
    [1, 'operator'],
  ] as const) {
    const customerId = org.customers[i]!.id;
    const key = await createKey(t.client, adminToken, org.id, {
      name: `${org.name} ${role} key for customer ${i}`,
      roleId: await t.world.systemRoleId(org, role),
      customerId,
    });
    const userId = await t.world.inOrg(
      org,
      async (db) =>
        (await db.query<{ user_id: string }>('select user_id from service_principals where id = $1', [key.id])).rows[0]!.user_id,
    );
    principals.push({
      label: `${org.name} ${role} key in customer ${i}`,
      member: { ...org.members[role], userId },
      orgId: org.id,
      customerId,
      keySecret: key.secret,
    });
  }
  // Workspace-scoped API keys (an Admin's and an Operator's role), confined to the second
  // workspace without sending any header; and the Admin one trying to name the default workspace.
  for (const role of ['admin', 'operator'] as const) {
    const key = await createKey(t.client, adminToken, org.id, {
      name: `${org.name} ${role} key for the space`,
      roleId: await t.world.systemRoleId(org, role),
      workspaceId: space,
    });
    const userId = await t.world.inOrg(
      org,
      async (db) =>
        (await db.query<{ user_id: string }>('select user_id from service_principals where id = $1', [key.id])).rows[0]!.user_id,
    );
    const keyPrincipal: Principal = {
      label: `${org.name} ${role} key scoped to space`,
      member: { ...org.members[role], userId },
      orgId: org.id,
      customerId: null,
      keySecret: key.secret,
      workspace: space,
    };
    principals.push(keyPrincipal);
    if (role === 'admin') {
      principals.push({
        ...keyPrincipal,
        label: `${keyPrincipal.label}, naming the default workspace`,
        keyWorkspaceHeader: defaultWorkspace,
      });
    }
  }
  principals.push({
    label: `${org.name} admin in customer 1`,
    member: org.members.admin,
    orgId: org.id,
    customerId: org.customers[1]!.id,
    headerCustomer: org.customers[1]!.id,
  });
}

/** Hashes of every row that matters, by (organization, customer): what may not change. */
async function snapshot(): Promise<Map<string, string>> {
  // Partitions: (organization, customer, workspace). Definitions and what belongs to them
  // (connections through their connector, runs through what they ran) carry their workspace.
  const { rows } = await superuser.query<{
    org_id: string;
    customer_id: string | null;
    workspace_id: string | null;
    digest: string;
  }>(`
    select org_id, customer_id, workspace_id, md5(string_agg(r, '|' order by r)) as digest from (
      select org_id, null::uuid as customer_id, workspace_id, concat_ws(',', id, kind, name, description, current_version, enabled) as r from app_public.definitions
      union all select org_id, null, null, concat_ws(',', id, role_id, status, customer_id) from app_public.memberships
      union all select org_id, null, null, concat_ws(',', id, name) from app_public.roles
      union all select id, null, null, concat_ws(',', id, name, timezone) from app_public.organizations
      union all select org_id, id, null, concat_ws(',', id, name, slug, status, plan, max_connections) from app_public.customers
      union all select org_id, null, null, concat_ws(',', id, name) from app_public.workspaces
      union all select org_id, null, workspace_id, concat_ws(',', id, membership_id, team_id, system_role_key, project_role_id) from app_public.project_members
      union all select c.org_id, c.customer_id, d.workspace_id, concat_ws(',', c.id, c.name, c.scope, c.owner_user_id, c.status, encode(c.credentials, 'hex'))
        from app_public.connections c join app_public.definitions d on d.org_id = c.org_id and d.id = c.connector_id
      union all select e.org_id, e.customer_id, coalesce(d.workspace_id, cd.workspace_id), concat_ws(',', e.id, e.status, e.definition_id, e.connection_id)
        from app_public.executions e
        left join app_public.definitions d on d.org_id = e.org_id and d.id = e.definition_id
        left join app_public.connections c on c.org_id = e.org_id and c.id = e.connection_id
        left join app_public.definitions cd on cd.org_id = c.org_id and cd.id = c.connector_id
        where e.retry_of is null and e.requested_by is null
    ) rows group by org_id, customer_id, workspace_id`);
  return new Map(rows.map((r) => [`${r.org_id}|${r.customer_id ?? ''}|${r.workspace_id ?? ''}`, r.digest]));
}

function mayWrite(p: Principal, partition: string): boolean {
  const [orgId, customerId, workspace] = partition.split('|');
  if (orgId !== p.orgId) return false;
  // In a workspace, nothing of another workspace; what belongs to no workspace (people,
  // customers, the organization) follows the organization role as usual.
  if (p.workspace && workspace) return workspace === p.workspace;
  if (!p.customerId) return true;
  return customerId === p.customerId;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

type Operation = { name: string; query: string; vars: (id: string) => Record<string, unknown> };

const OPERATIONS: Operation[] = [
  { name: 'workflow', query: 'query($id: ID!) { workflow(id: $id) { id name createdBy { id } } }', vars: (id) => ({ id }) },
  { name: 'connector', query: 'query($id: ID!) { connector(id: $id) { id name } }', vars: (id) => ({ id }) },
  {
    name: 'customer',
    query: 'query($id: ID!) { customer(id: $id) { id name usage { executionsThisMonth } } }',
    vars: (id) => ({ id }),
  },
  { name: 'member', query: 'query($id: ID!) { member(id: $id) { id user { id email } role { id } } }', vars: (id) => ({ id }) },
  {
    name: 'connection',
    query: 'query($id: ID!) { connection(id: $id) { id name customer { id } owner { id } } }',
    vars: (id) => ({ id }),
  },
  {
    name: 'execution',
    query: 'query($id: ID!) { execution(id: $id) { id targetId customer { id } connection { id } } }',
    vars: (id) => ({ id }),
  },
  {
    name: 'updateWorkflow',
    query: 'mutation($id: ID!) { updateWorkflow(input: { id: $id, description: "touched" }) { id } }',
    vars: (id) => ({ id }),
  },
  {
    name: 'updateConnection',
    query: 'mutation($id: ID!) { updateConnection(input: { id: $id, name: "touched" }) { id } }',
    vars: (id) => ({ id }),
  },
  { name: 'shareConnection', query: 'mutation($id: ID!) { shareConnection(input: { id: $id }) { id } }', vars: (id) => ({ id }) },
  {
    name: 'deleteConnection',
    query: 'mutation($id: ID!) { deleteConnection(input: { id: $id }) { deletedConnectionId } }',
    vars: (id) => ({ id }),
  },
  { name: 'suspendCustomer', query: 'mutation($id: ID!) { suspendCustomer(input: { id: $id }) { id } }', vars: (id) => ({ id }) },
  {
    name: 'deactivateMember',
    query: 'mutation($id: ID!) { deactivateMember(input: { memberId: $id }) { id } }',
    vars: (id) => ({ id }),
  },
  { name: 'retryExecution', query: 'mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }', vars: (id) => ({ id }) },
  {
    name: 'createConnection',
    query:
      'mutation($c: ID!, $k: ID!) { createConnection(input: { customerId: $c, connectorId: $k, name: "probe", shared: true, credentials: { apiKey: "x" } }) { id } }',
    vars: (id) => ({ c: id, k: id }),
  },
  {
    name: 'moveWorkflow',
    query: 'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { id } }',
    vars: (id) => ({ id, w: [...workspacesByOrg.values()][0] }),
  },
  {
    name: 'setWorkflowEnabled',
    query: 'mutation($id: ID!) { setWorkflowEnabled(input: { id: $id, enabled: false }) { id } }',
    vars: (id) => ({ id }),
  },
  {
    name: 'changeProjectMemberRole',
    query: 'mutation($id: ID!) { changeProjectMemberRole(input: { id: $id, roleId: "viewer" }) { id } }',
    vars: (id) => ({ id }),
  },
  {
    name: 'workspace lists',
    query: '{ projectMembers { id memberId teamId } workspaces { id } }',
    vars: () => ({}),
  },
  {
    name: 'lists',
    query:
      '{ customers(first: 50) { edges { node { id } } } connections(first: 50) { edges { node { id customer { id } } } } executions(first: 50) { edges { node { id customer { id } } } } }',
    vars: () => ({}),
  },
  {
    name: 'org lists',
    query:
      '{ workflows(first: 50) { edges { node { id } } } people(first: 50) { edges { node { id } } } connectors(first: 50) { edges { node { id } } } }',
    vars: () => ({}),
  },
];

async function run(p: Principal, op: Operation, id: string): Promise<GraphQLResponse> {
  if (p.keySecret) {
    const headers: Record<string, string> = p.keyWorkspaceHeader ? { 'x-workspace-id': p.keyWorkspaceHeader } : {};
    return t.client.request(op.query, op.vars(id), { token: p.keySecret, headers });
  }
  return t.client.request(op.query, op.vars(id), {
    token: await t.world.token(p.member),
    orgId: p.orgId,
    customerId: p.headerCustomer,
    headers: p.workspace ? { 'x-workspace-id': p.workspace } : {},
  });
}

beforeAll(async () => {
  t = await startTestGateway();
  superuser = new pg.Client({ connectionString: t.db.superuserUrl });
  await superuser.connect();
  for (const name of ['Alpha', 'Beta']) await seed(await t.world.organization(name, { workflows: 2, customers: 2 }));
}, 120_000);
afterAll(async () => {
  await superuser?.end();
  await t?.stop();
});

describe('through GraphQL', () => {
  it('random principals × operations × targets never cross a tenant', async () => {
    const ids = [...owners.keys()];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...principals),
        fc.constantFrom(...OPERATIONS),
        fc.constantFrom(...ids),
        async (p, op, target) => {
          const before = await snapshot();
          const response = await run(p, op, target);
          const after = await snapshot();

          // 1. No id from beyond the principal's reach in the answer.
          const leaked = (JSON.stringify(response.body.data ?? {}).match(UUID) ?? []).filter((id) => !mayRead(p, id));
          expect(leaked, `${p.label} ${op.name} → ${JSON.stringify(response.body)}`).toEqual([]);

          // 2. Aimed at another tenant's object: exactly like a missing one.
          if (!mayRead(p, target) && !op.name.endsWith('lists')) {
            expect(
              response.body.data ? Object.values(response.body.data).every((v) => v === null) : true,
              `${p.label} ${op.name} succeeded on a foreign id`,
            ).toBe(true);
            const missing = await run(p, op, randomUUID());
            const strip = (r: GraphQLResponse) => JSON.stringify(r.body).replace(UUID, 'ID');
            expect(strip(response), `${p.label} ${op.name}`).toBe(strip(missing));
          }

          // Keep the model in step: a successful share makes a personal connection the customer's.
          if (
            op.name === 'shareConnection' &&
            (response.body.data as { shareConnection?: unknown } | undefined)?.shareConnection
          ) {
            owners.set(target, { ...owners.get(target)!, personalTo: undefined });
          }

          // A successful move takes the workflow (and its runs) to the other workspace.
          if (op.name === 'moveWorkflow' && (response.body.data as { moveWorkflow?: unknown } | undefined)?.moveWorkflow) {
            const to = op.vars(target).w as string;
            for (const id of [target, ...(executionsOf.get(target) ?? [])]) owners.set(id, { ...owners.get(id)!, workspace: to });
          }

          // 3. Nothing outside the principal's reach changed.
          for (const [partition, digest] of before) {
            if (!mayWrite(p, partition)) expect(after.get(partition), `${p.label} ${op.name} changed ${partition}`).toBe(digest);
          }
        },
      ),
      { numRuns: 150, seed: Number(process.env.PROPERTY_SEED ?? Date.now() % 1e9), verbose: true },
    );
  }, 300_000);
});

describe('through SQL, as the application role', () => {
  const TABLES = [
    'definitions',
    'definition_versions',
    'roles',
    'memberships',
    'customers',
    'connections',
    'executions',
    'teams',
    'invitations',
    'audit_events',
    'service_principals',
  ];
  const CUSTOMER_SCOPED = new Set(['customers', 'connections', 'executions']);

  it('random bindings return only their own rows', async () => {
    const tenants = orgs.flatMap((o) => [
      { orgId: o.id, customerId: null as string | null, userId: o.members.owner.userId },
      ...o.customers.map((c, i) => ({
        orgId: o.id,
        customerId: c.id,
        userId: (i === 0 ? o.members.end_user : o.members.viewer).userId,
      })),
    ]);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...tenants), fc.constantFrom(...TABLES), async (tenant, table) => {
        const binding = {
          userId: tenant.userId,
          orgId: tenant.orgId,
          role: tenant.customerId ? 'customer' : 'staff',
          tenantId: tenant.customerId,
          // Every permission: isolation must not depend on what the binding may do.
          permissions: PERMISSION_KEYS,
        };
        // The app role may not read a key's secret hash at all (column grants): list the rest.
        const columns = table === 'service_principals' ? 'org_id, id, customer_id, name' : '*';
        const rows = await asApp(t.world.pool, binding, async (c) => (await c.query(`select ${columns} from ${table}`)).rows);
        for (const row of rows) {
          // Everyone sees their own memberships (the organization switcher), whatever the binding.
          if (table === 'memberships' && row.user_id === tenant.userId) continue;
          expect(row.org_id ?? row.id, table).toBe(tenant.orgId);
          if (tenant.customerId) {
            expect(CUSTOMER_SCOPED.has(table), `${table} is org-internal`).toBe(true);
            expect(table === 'customers' ? row.id : row.customer_id).toBe(tenant.customerId);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('random workspace bindings return only that workspace’s definitions, connections and runs', async () => {
    const workspaces = (await superuser.query<{ org_id: string; id: string }>('select org_id, id from app_public.workspaces'))
      .rows;
    const bindings = orgs.flatMap((o) =>
      [...workspaces.map((w) => w.id), randomUUID(), 'not-a-uuid'].map((workspaceId) => ({ org: o, workspaceId })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...bindings),
        fc.constantFrom('definitions', 'connections', 'executions', 'definition_versions', 'project_members'),
        async ({ org, workspaceId }, table) => {
          const rows = await asApp(
            t.world.pool,
            { userId: org.members.owner.userId, orgId: org.id, role: 'staff', workspaceId },
            async (c) => {
              const workspaceOf = {
                definitions: 'select workspace_id as ws, org_id from definitions',
                definition_versions:
                  'select (select workspace_id from app_public.definitions d where d.org_id = v.org_id and d.id = v.definition_id) as ws, v.org_id from definition_versions v',
                project_members: 'select workspace_id as ws, org_id from project_members',
                connections:
                  'select (select workspace_id from app_public.definitions d where d.org_id = c.org_id and d.id = c.connector_id) as ws, c.org_id from connections c',
                executions: `select coalesce(
                  (select workspace_id from app_public.definitions d where d.org_id = e.org_id and d.id = e.definition_id),
                  (select d.workspace_id from app_public.connections cn join app_public.definitions d on d.org_id = cn.org_id and d.id = cn.connector_id
                   where cn.org_id = e.org_id and cn.id = e.connection_id)) as ws, e.org_id from executions e`,
              }[table]!;
              return (await c.query<{ ws: string | null; org_id: string }>(workspaceOf)).rows;
            },
          );
          for (const row of rows) {
            expect(row.org_id, table).toBe(org.id);
            expect(row.ws, `${table} outside the bound workspace`).toBe(workspaceId);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
