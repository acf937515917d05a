/**
 * Isolation as a property. Two organizations × two customers, every kind of object in each;
 * random operations by random principals (staff of either organization, End Users of each
 * customer, staff scoped to one customer) aimed at random ids from every tenant. Whatever the
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
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let superuser: pg.Client;

interface Tenant {
  orgId: string;
  /** null: org-internal (staff only). */
  customerId: string | null;
}

/** Every object id we seeded, with the tenant it belongs to. */
const owners = new Map<string, Tenant & { personalTo?: string; membershipOf?: string }>();

interface Principal {
  label: string;
  member: SeededMember;
  orgId: string;
  /** The customer the request is confined to (End Users; staff with X-Customer-Id). */
  customerId: string | null;
  headerCustomer?: string;
}
const principals: Principal[] = [];
const orgs: SeededOrg[] = [];

function mayRead(p: Principal, id: string): boolean {
  const owner = owners.get(id);
  if (!owner) return true; // not a seeded tenant object (a user id, a fresh execution…)
  if (owner.membershipOf === p.member.userId) return true; // your own membership is yours
  if (owner.orgId !== p.orgId) return false;
  if (!p.customerId) return true;
  if (owner.customerId !== p.customerId) return false;
  return !owner.personalTo || owner.personalTo === p.member.userId;
}

async function seed(org: SeededOrg) {
  orgs.push(org);
  const record = (id: string, customerId: string | null, personalTo?: string) =>
    owners.set(id, { orgId: org.id, customerId, personalTo });
  record(org.id, null);
  for (const id of org.workflows) record(id, null);
  for (const m of Object.values(org.members))
    owners.set(m.membershipId, { orgId: org.id, customerId: null, membershipOf: m.userId });
  for (const c of org.customers) record(c.id, c.id);
  const connector = await t.world.connector(org, `${org.name} CRM`);
  record(connector, null);
  const second = await t.world.member(org, 'end_user', `${org.name}-second`);
  // The second End User belongs to the second customer.
  await t.world.inOrg(org, (db) =>
    db.query('update memberships set customer_id = $1 where id = $2', [org.customers[1]!.id, second.membershipId]),
  );
  owners.set(second.membershipId, { orgId: org.id, customerId: null, membershipOf: second.userId });
  const endUsers = [org.members.end_user, second];
  for (const [i, customer] of org.customers.entries()) {
    const endUser = endUsers[i]!;
    record(
      await t.world.connection(org, {
        customerId: customer.id,
        connectorId: connector,
        ownerUserId: endUser.userId,
        shared: true,
      }),
      customer.id,
    );
    record(
      await t.world.connection(org, { customerId: customer.id, connectorId: connector, ownerUserId: endUser.userId }),
      customer.id,
      endUser.userId,
    );
    const execution = await t.world.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status) values ($1, $2, 'workflow', $3, 'w', 'failed') returning id`,
        [org.id, customer.id, org.workflows[0]],
      );
      return rows[0]!.id;
    });
    record(execution, customer.id);
    principals.push({ label: `${org.name} end user ${i}`, member: endUser, orgId: org.id, customerId: customer.id });
  }
  for (const role of ['owner', 'admin', 'developer', 'operator', 'viewer'] as const) {
    principals.push({ label: `${org.name} ${role}`, member: org.members[role], orgId: org.id, customerId: null });
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
  const { rows } = await superuser.query<{ org_id: string; customer_id: string | null; digest: string }>(`
    select org_id, customer_id, md5(string_agg(r, '|' order by r)) as digest from (
      select org_id, null::uuid as customer_id, concat_ws(',', id, kind, name, description, current_version) as r from app_public.definitions
      union all select org_id, null, concat_ws(',', id, role_id, status, customer_id) from app_public.memberships
      union all select org_id, null, concat_ws(',', id, name) from app_public.roles
      union all select id, null, concat_ws(',', id, name, timezone) from app_public.organizations
      union all select org_id, id, concat_ws(',', id, name, slug, status, plan, max_connections) from app_public.customers
      union all select org_id, customer_id, concat_ws(',', id, name, scope, owner_user_id, status, encode(credentials, 'hex')) from app_public.connections
      union all select org_id, customer_id, concat_ws(',', id, status, definition_id, connection_id) from app_public.executions where retry_of is null and requested_by is null
    ) rows group by org_id, customer_id`);
  return new Map(rows.map((r) => [`${r.org_id}|${r.customer_id ?? ''}`, r.digest]));
}

function mayWrite(p: Principal, partition: string): boolean {
  const [orgId, customerId] = partition.split('|');
  if (orgId !== p.orgId) return false;
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
  return t.client.request(op.query, op.vars(id), {
    token: await t.world.token(p.member),
    orgId: p.orgId,
    customerId: p.headerCustomer,
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
          if (!mayRead(p, target) && op.name !== 'lists' && op.name !== 'org lists') {
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
        const rows = await asApp(t.world.pool, binding, async (c) => (await c.query(`select * from ${table}`)).rows);
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
});
