/**
 * The workflows slice end to end: every system role against every operation (the expectation
 * comes from the matrix module, not from this file), tenant isolation, audit events, input
 * errors, pagination and batching of nested lookups.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PERMISSIONS, SYSTEM_ROLES, type Permission, type SystemRoleKey } from '../../src/authz/permissions.js';
import { RequestDatabase } from '../../src/db/request-database.js';
import { schema } from '../../src/schema/index.js';
import { errorCodes, expectData, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';
import {
  CreateWorkflow,
  DeleteWorkflow,
  DeployWorkflowToProduction,
  DeployWorkflowToTest,
  ExecuteWorkflow,
  UpdateWorkflow,
  WorkflowQuery,
  WorkflowsQuery,
} from './operations.js';

let t: TestGateway;
let a: SeededOrg;
let b: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  a = await t.world.organization('Alpha', { workflows: 2 });
  b = await t.world.organization('Beta', { workflows: 2 });
});
afterAll(() => t?.stop());

async function as(member: SeededMember) {
  return { token: await t.world.token(member), orgId: member.orgId };
}

interface Operation {
  field: string;
  permission: Permission;
  /** Runs the operation as `member` against a fresh target in `org`. */
  run(member: SeededMember, org: SeededOrg): Promise<GraphQLResponse>;
}

const OPERATIONS: Operation[] = [
  {
    field: 'workflows',
    permission: 'workflows.read',
    run: async (m) => t.client.request(WorkflowsQuery, { first: 5 }, await as(m)),
  },
  {
    field: 'workflow',
    permission: 'workflows.read',
    run: async (m, org) => t.client.request(WorkflowQuery, { id: org.workflows[0]! }, await as(m)),
  },
  {
    field: 'createWorkflow',
    permission: 'workflows.create',
    run: async (m) => t.client.request(CreateWorkflow, { input: { name: `new ${randomUUID()}` } }, await as(m)),
  },
  {
    field: 'updateWorkflow',
    permission: 'workflows.update',
    run: async (m, org) =>
      t.client.request(
        UpdateWorkflow,
        { input: { id: await t.world.workflow(org), name: `renamed ${randomUUID()}` } },
        await as(m),
      ),
  },
  {
    field: 'deleteWorkflow',
    permission: 'workflows.delete',
    run: async (m, org) => t.client.request(DeleteWorkflow, { input: { id: await t.world.workflow(org) } }, await as(m)),
  },
  {
    field: 'executeWorkflow',
    permission: 'workflows.execute',
    run: async (m, org) =>
      t.client.request(
        ExecuteWorkflow,
        { input: { id: org.workflows[0]!, customerId: org.customers[0]!.id, parameters: { a: 1 } } },
        await as(m),
      ),
  },
  {
    field: 'deployWorkflowToTest',
    permission: 'workflows.deploy_test',
    run: async (m, org) => t.client.request(DeployWorkflowToTest, { input: { id: await t.world.workflow(org) } }, await as(m)),
  },
  {
    field: 'deployWorkflowToProduction',
    permission: 'workflows.deploy_prod',
    run: async (m, org) =>
      t.client.request(DeployWorkflowToProduction, { input: { id: await t.world.workflow(org) } }, await as(m)),
  },
  {
    field: 'setWorkflowEnabled',
    permission: 'workflows.deploy_prod',
    run: async (m, org) =>
      t.client.request(
        'mutation($id: ID!) { setWorkflowEnabled(input: { id: $id, enabled: false }) { id enabled } }',
        { id: await t.world.workflow(org) },
        await as(m),
      ),
  },
  {
    field: 'moveWorkflow',
    permission: 'workflows.update',
    run: async (m, org) =>
      t.client.request(
        'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { id workspaceId } }',
        { id: await t.world.workflow(org), w: await t.world.workspace(org) },
        await as(m),
      ),
  },
];

describe('the matrix: each system role × each workflow operation', () => {
  it('covers every workflows.* permission and every workflow field of the schema', () => {
    const workflowPermissions = PERMISSIONS.filter((p) => p.category === 'workflows').map((p) => p.key);
    expect(new Set(OPERATIONS.map((o) => o.permission))).toEqual(new Set(workflowPermissions));
    const rootFields = [schema.getQueryType()!, schema.getMutationType()!].flatMap((root) =>
      Object.values(root.getFields())
        .filter((f) =>
          String(
            (f.extensions?.pothosOptions as { authScopes?: { permission?: string } }).authScopes?.permission ?? '',
          ).startsWith('workflows.'),
        )
        .map((f) => f.name),
    );
    expect(new Set(OPERATIONS.map((o) => o.field))).toEqual(new Set(rootFields));
  });

  const cases = SYSTEM_ROLES.flatMap((role) =>
    OPERATIONS.map((op) => ({ role: role.key, op, allowed: role.permissions.includes(op.permission) })),
  );

  it.each(cases.map((c) => [c.role, c.op.field, c.allowed ? 'allowed' : 'denied', c] as const))(
    '%s → %s: %s',
    async (role, field, _label, { op, allowed }) => {
      const response = await op.run(a.members[role as SystemRoleKey], a);
      const requestId = response.headers.get('x-request-id')!;
      // auth.login (each minted token is a new sign-in session) is tested on its own.
      const events = (await t.world.audit(a, { requestId })).filter((e) => e.action !== 'auth.login');
      const isMutation = Boolean(schema.getMutationType()!.getFields()[field]);
      const declared = (schema.getMutationType()!.getFields()[op.field]?.extensions?.audit as { action: string } | undefined)
        ?.action;
      const action = declared ?? `workflow.${op.permission.split('.')[1]}`;
      if (allowed) {
        expect(response.body.errors, JSON.stringify(response.body.errors)).toBeUndefined();
        expect((response.body.data as Record<string, unknown>)[field]).not.toBeNull();
        // A gated mutation leaves exactly one Success event; a permitted read leaves none.
        expect(events.map((e) => [e.action, e.outcome])).toEqual(isMutation ? [[action, 'success']] : []);
      } else {
        expect(errorCodes(response)).toEqual(['FORBIDDEN']);
        expect(response.body.errors![0]!.extensions!.permission).toBe(op.permission);
        expect((response.body.data as Record<string, unknown>)[field]).toBeNull();
        expect(events.map((e) => [e.action, e.outcome, e.details.permission])).toEqual([[action, 'denied', op.permission]]);
      }
      for (const event of events) expect(event.actor_user_id).toBe(a.members[role as SystemRoleKey].userId);
    },
  );
});

describe('isolation: another organization’s ids answer exactly like missing ones', () => {
  it.each([
    ['workflow', (id: string) => t.client.request(WorkflowQuery, { id }, ctxA)],
    ['updateWorkflow', (id: string) => t.client.request(UpdateWorkflow, { input: { id, name: 'pwned' } }, ctxA)],
    ['deleteWorkflow', (id: string) => t.client.request(DeleteWorkflow, { input: { id } }, ctxA)],
    ['deployWorkflowToProduction', (id: string) => t.client.request(DeployWorkflowToProduction, { input: { id } }, ctxA)],
    [
      'executeWorkflow',
      (id: string) => t.client.request(ExecuteWorkflow, { input: { id, customerId: a.customers[0]!.id } }, ctxA),
    ],
  ] as const)('%s', async (_field, run) => {
    const foreign = await run(b.workflows[0]!);
    const missing = await run(randomUUID());
    expect(errorCodes(foreign)).toEqual(['NOT_FOUND']);
    const strip = (r: GraphQLResponse) => JSON.stringify(r.body).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID');
    expect(strip(foreign)).toBe(strip(missing));
    expect(foreign.status).toBe(missing.status);
  });

  let ctxA: { token: string; orgId: string };
  beforeAll(async () => {
    ctxA = await as(a.members.admin);
  });

  it('leaves the other organization’s workflow untouched', async () => {
    const data = expectData(await t.client.request(WorkflowQuery, { id: b.workflows[0]! }, await as(b.members.viewer)));
    expect(data.workflow!.name).toBe('Beta workflow 1');
  });

  it('another organization’s customer cannot be named in an execution', async () => {
    const response = await t.client.request(
      ExecuteWorkflow,
      { input: { id: a.workflows[0]!, customerId: b.customers[0]!.id } },
      ctxA,
    );
    expect(errorCodes(response)).toEqual(['NOT_FOUND']);
    expect(response.body.errors![0]!.message).toBe('Customer not found.');
  });

  it('lists never include another organization’s workflows', async () => {
    const data = expectData(await t.client.request(WorkflowsQuery, { first: 100 }, ctxA));
    const ids = data.workflows!.edges.map((e) => e.node.id);
    expect(ids).not.toContain(b.workflows[0]);
    expect(ids).toContain(a.workflows[0]);
  });

  it('a member of A naming organization B in the header is refused (403)', async () => {
    const response = await t.client.request(WorkflowsQuery, { first: 1 }, { token: ctxA.token, orgId: b.id });
    expect(response.status).toBe(403);
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    const unknown = await t.client.request(WorkflowsQuery, { first: 1 }, { token: ctxA.token, orgId: randomUUID() });
    expect(unknown.body).toEqual(response.body);
  });
});

describe('mutations', () => {
  let dev: { token: string; orgId: string };
  beforeAll(async () => {
    dev = await as(a.members.developer);
  });

  it('create → update with a new definition makes version 2; deploy pins versions per environment', async () => {
    const created = expectData(
      await t.client.request(CreateWorkflow, { input: { name: 'Versioned', definition: { v: 1 } } }, dev),
    ).createWorkflow!;
    expect(created).toMatchObject({ name: 'Versioned', version: 1, createdBy: { id: a.members.developer.userId } });
    const updated = expectData(
      await t.client.request(UpdateWorkflow, { input: { id: created.id, definition: { v: 2 } } }, dev),
    ).updateWorkflow!;
    expect(updated).toMatchObject({ version: 2, definition: { v: 2 } });
    await t.client.request(DeployWorkflowToProduction, { input: { id: created.id, version: 1 } }, dev);
    await t.client.request(DeployWorkflowToTest, { input: { id: created.id } }, dev);
    const list = expectData(await t.client.request(WorkflowsQuery, { first: 1, filter: { search: 'Versioned' } }, dev));
    expect(list.workflows!.edges[0]!.node.deployments).toEqual([
      { environment: 'PRODUCTION', version: 1 },
      { environment: 'TEST', version: 2 },
    ]);
    const badVersion = await t.client.request(DeployWorkflowToProduction, { input: { id: created.id, version: 7 } }, dev);
    expect(errorCodes(badVersion)).toEqual(['BAD_USER_INPUT']);
  });

  it('bad input names the field, writes nothing, and leaves a Failure event', async () => {
    const before = expectData(await t.client.request(WorkflowsQuery, { first: 1 }, dev)).workflows!.totalCount;
    const response = await t.client.request(CreateWorkflow, { input: { name: '   ' } }, dev);
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]!.extensions!.field).toBe('input.name');
    expect(expectData(await t.client.request(WorkflowsQuery, { first: 1 }, dev)).workflows!.totalCount).toBe(before);
    const events = (await t.world.audit(a, { requestId: response.headers.get('x-request-id')! })).filter(
      (e) => e.action !== 'auth.login',
    );
    expect(events.map((e) => [e.action, e.outcome, e.details.code])).toEqual([['workflow.create', 'failure', 'BAD_USER_INPUT']]);
  });

  it('a duplicate name (any case) is a CONFLICT and changes nothing', async () => {
    await t.client.request(CreateWorkflow, { input: { name: 'Unique name' } }, dev);
    const response = await t.client.request(CreateWorkflow, { input: { name: 'UNIQUE NAME' } }, dev);
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect(response.body.errors![0]!.extensions!.field).toBe('name');
    const list = expectData(await t.client.request(WorkflowsQuery, { first: 10, filter: { search: 'unique name' } }, dev));
    expect(list.workflows!.totalCount).toBe(1);
  });

  it('the same name in another organization is fine (uniqueness is per organization)', async () => {
    const inB = expectData(
      await t.client.request(CreateWorkflow, { input: { name: 'Unique name' } }, await as(b.members.developer)),
    );
    expect(inB.createWorkflow!.name).toBe('Unique name');
  });

  it('in one operation, a failing mutation does not undo the one before it', async () => {
    const name = `kept ${randomUUID()}`;
    const response = await t.client.request(
      `mutation { ok: createWorkflow(input: { name: "${name}" }) { id } bad: createWorkflow(input: { name: "" }) { id } }`,
      {},
      dev,
    );
    const data = response.body.data as { ok: { id: string } | null; bad: null };
    expect(data.ok).not.toBeNull();
    expect(data.bad).toBeNull();
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    const found = expectData(await t.client.request(WorkflowQuery, { id: data.ok!.id }, dev));
    expect(found.workflow!.name).toBe(name);
    const events = (await t.world.audit(a, { requestId: response.headers.get('x-request-id')! })).filter(
      (e) => e.action !== 'auth.login',
    );
    expect(events.map((e) => e.outcome)).toEqual(['success', 'failure']);
  });

  it('a variable inside a JSON literal is the variable’s value', async () => {
    const document = `mutation ($name: String!, $steps: JSON!) {
      createWorkflow(input: { name: $name, definition: { steps: $steps, kind: "literal", nested: [{ at: $steps }] } }) { definition }
    }`;
    for (let run = 0; run < 3; run++) {
      const steps = [{ run, do: 'send' }];
      const created = expectData(
        await t.client.request<{ createWorkflow: { definition: unknown } }>(
          document,
          { name: `json ${randomUUID()}`, steps },
          dev,
        ),
      ).createWorkflow;
      expect(created.definition, `run ${run}`).toEqual({ steps, kind: 'literal', nested: [{ at: steps }] });
    }
  });

  it('executing queues a run for an active customer, and refuses a suspended one', async () => {
    const run = expectData(
      await t.client.request(
        ExecuteWorkflow,
        { input: { id: a.workflows[1]!, customerId: a.customers[1]!.id } },
        await as(a.members.operator),
      ),
    ).executeWorkflow!;
    expect(run).toMatchObject({
      status: 'QUEUED',
      targetName: 'Alpha workflow 2',
      targetVersion: 1,
      customer: { id: a.customers[1]!.id },
    });
    await t.world.inOrg(a, (db) => db.query(`update customers set status = 'suspended' where id = $1`, [a.customers[1]!.id]));
    const refused = await t.client.request(
      ExecuteWorkflow,
      { input: { id: a.workflows[1]!, customerId: a.customers[1]!.id } },
      dev,
    );
    expect(errorCodes(refused)).toEqual(['CONFLICT']);
    await t.world.inOrg(a, (db) => db.query(`update customers set status = 'active' where id = $1`, [a.customers[1]!.id]));
  });

  it('malformed ids are BAD_USER_INPUT naming the argument', async () => {
    const response = await t.client.request(WorkflowQuery, { id: 'nope' }, dev);
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]!.extensions!.field).toBe('id');
  });
});

describe('listing', () => {
  let org: SeededOrg;
  let viewer: { token: string; orgId: string };
  beforeAll(async () => {
    org = await t.world.organization('Paged', { workflows: 25 });
    viewer = await as(org.members.viewer);
  });

  const listPage = async (after: string | null) =>
    expectData(await t.client.request(WorkflowsQuery, { first: 10, after }, viewer)).workflows!;

  it('a page showing only id, name and createdBy (read from fewer columns) answers what a full read answers', async () => {
    type Node = { id: string; name: string; createdBy: { id: string; name: string | null } | null; description?: string };
    const read = async (nodeSelection: string) =>
      expectData(
        await t.client.request<{ workflows: { edges: { cursor: string; node: Node }[] } }>(
          `query { workflows(first: 25, orderBy: {field: NAME, direction: ASC}) { edges { cursor node { ${nodeSelection} } } } }`,
          {},
          viewer,
        ),
      ).workflows.edges;
    const light = await read('__typename id name createdBy { id name }');
    const full = await read('id name createdBy { id name } description version createdAt');
    const viaFragment = await read('id name createdBy { id name } ... on Workflow { updatedAt }');
    expect(light).toHaveLength(25);
    const strip = (edges: { cursor: string; node: Node }[]) =>
      edges.map(({ cursor, node }) => ({ cursor, id: node.id, name: node.name, createdBy: node.createdBy }));
    expect(strip(light)).toEqual(strip(full));
    expect(strip(viaFragment)).toEqual(strip(full));
    expect(light.every((e) => e.node.name && e.node.createdBy?.id)).toBe(true);
  });

  it('pages forward through every workflow once, newest first, stable across pages', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    for (;;) {
      const page: NonNullable<Awaited<ReturnType<typeof listPage>>> = await listPage(after);
      sizes.push(page.edges.length);
      seen.push(...page.edges.map((e) => e.node.name));
      expect(page.totalCount).toBe(25);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(sizes).toEqual([10, 10, 5]);
    expect(new Set(seen).size).toBe(25);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `Paged workflow ${25 - i}`));
  });

  it('pages backward with last/before', async () => {
    const last = expectData(await t.client.request(WorkflowsQuery, { last: 5 }, viewer)).workflows!;
    expect(last.edges.map((e) => e.node.name)).toEqual([5, 4, 3, 2, 1].map((n) => `Paged workflow ${n}`));
    expect(last.pageInfo.hasPreviousPage).toBe(true);
    const before = expectData(
      await t.client.request(WorkflowsQuery, { last: 2, before: last.pageInfo.startCursor }, viewer),
    ).workflows!;
    expect(before.edges.map((e) => e.node.name)).toEqual(['Paged workflow 7', 'Paged workflow 6']);
  });

  it('orders by name and filters by text and by deployment', async () => {
    const byName = expectData(
      await t.client.request(WorkflowsQuery, { first: 3, orderBy: { field: 'NAME', direction: 'ASC' } }, viewer),
    ).workflows!;
    expect(byName.edges.map((e) => e.node.name)).toEqual(['Paged workflow 1', 'Paged workflow 10', 'Paged workflow 11']);
    const search = expectData(
      await t.client.request(WorkflowsQuery, { first: 30, filter: { search: 'workflow 2' } }, viewer),
    ).workflows!;
    expect(search.totalCount).toBe(7); // 2, 20–25
    await t.world.inOrg(org, (db) =>
      db.query(
        `insert into definition_deployments (org_id, definition_id, kind, environment, version) values ($1, $2, 'workflow', 'production', 1)`,
        [org.id, org.workflows[3]],
      ),
    );
    const live = expectData(
      await t.client.request(WorkflowsQuery, { first: 30, filter: { deployedTo: 'PRODUCTION' } }, viewer),
    ).workflows!;
    expect(live.edges.map((e) => e.node.id)).toEqual([org.workflows[3]]);
  });

  it('rejects a forged cursor and an oversized page with BAD_USER_INPUT', async () => {
    expect(errorCodes(await t.client.request(WorkflowsQuery, { first: 5, after: 'bm9wZQ' }, viewer))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.client.request(WorkflowsQuery, { first: 500 }, viewer))).toEqual(['BAD_USER_INPUT']);
  });

  it('batches nested lookups: the number of queries does not grow with the page', async () => {
    const spy = vi.spyOn(RequestDatabase.prototype, 'query');
    const count = async (first: number) => {
      spy.mockClear();
      expectData(await t.client.request(WorkflowsQuery, { first }, viewer));
      return spy.mock.calls.length;
    };
    const small = await count(2);
    const large = await count(25);
    spy.mockRestore();
    expect(large).toBe(small);
    expect(large).toBeLessThanOrEqual(4); // list, count, users, deployments
  });
});
