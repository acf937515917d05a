/**
 * Workspaces end to end: the default one every organization gets, create / rename / delete when
 * empty, counts, moving definitions (update permission in both), the X-Workspace-Id context
 * (only that workspace's definitions, and the connections and runs that belong to them), other
 * organizations' and unknown workspace ids, and "Toggle Flows".
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectionQuery, expectWalk, type ConnectionData, type PageArgs } from '../helpers/paging.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let acme: SeededOrg;
let other: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  acme = await t.world.organization('Acme', { workflows: 2 });
  other = await t.world.organization('Other', { workflows: 1 });
});
afterAll(() => t?.stop());

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}, workspaceId?: string) {
  return t.client.request(query, variables, {
    token: await t.world.token(member),
    orgId: member.orgId,
    headers: workspaceId ? { 'x-workspace-id': workspaceId } : {},
  });
}

const LIST = '{ workspaces { id name isDefault workflowCount connectorCount projectMemberCount } }';

describe('the default workspace', () => {
  it('exists for every organization and holds its existing definitions', async () => {
    const { workspaces } = expectData(await send(acme.members.viewer, LIST)) as {
      workspaces: { id: string; name: string; isDefault: boolean; workflowCount: number }[];
    };
    expect(workspaces).toEqual([expect.objectContaining({ name: 'Default', isDefault: true, workflowCount: 2 })]);
  });

  it('is created with an organization made through the API', async () => {
    const user = await t.world.user('founder');
    const token = await t.world.token(user);
    const created = expectData(
      await t.client.request('mutation { createOrganization(input: { name: "Founded" }) { id } }', {}, { token }),
    ) as { createOrganization: { id: string } };
    const listed = expectData(await t.client.request(LIST, {}, { token, orgId: created.createOrganization.id })) as {
      workspaces: { name: string; isDefault: boolean }[];
    };
    expect(listed.workspaces).toEqual([expect.objectContaining({ name: 'Default', isDefault: true })]);
  });

  it('receives new definitions unless told otherwise', async () => {
    const defaultId = await t.world.defaultWorkspace(acme);
    const created = expectData(
      await send(acme.members.developer, 'mutation($n: String!) { createWorkflow(input: { name: $n }) { workspaceId } }', {
        n: `wf ${randomUUID()}`,
      }),
    ) as { createWorkflow: { workspaceId: string } };
    expect(created.createWorkflow.workspaceId).toBe(defaultId);
  });
});

describe('managing workspaces (settings.manage)', () => {
  it('creates, renames, refuses duplicates and deletes only when empty', async () => {
    const admin = acme.members.admin;
    const name = `Sales ${randomUUID().slice(0, 6)}`;
    const { createWorkspace } = expectData(
      await send(admin, 'mutation($n: String!) { createWorkspace(input: { name: $n }) { id name isDefault } }', { n: name }),
    ) as { createWorkspace: { id: string; isDefault: boolean } };
    expect(createWorkspace.isDefault).toBe(false);
    const duplicate = await send(admin, 'mutation($n: String!) { createWorkspace(input: { name: $n }) { id } }', {
      n: name.toUpperCase(),
    });
    expect(errorCodes(duplicate)).toEqual(['CONFLICT']);

    const renamed = expectData(
      await send(admin, 'mutation($id: ID!) { renameWorkspace(input: { id: $id, name: "Renamed space" }) { name } }', {
        id: createWorkspace.id,
      }),
    ) as { renameWorkspace: { name: string } };
    expect(renamed.renameWorkspace.name).toBe('Renamed space');

    const workflow = await t.world.definitionIn(acme, createWorkspace.id);
    const refused = await send(admin, 'mutation($id: ID!) { deleteWorkspace(input: { id: $id }) { deletedWorkspaceId } }', {
      id: createWorkspace.id,
    });
    expect(errorCodes(refused)).toEqual(['CONFLICT']);
    expect(refused.body.errors![0]!.message).toMatch(/still holds 1 definition/);

    await send(admin, 'mutation($id: ID!) { deleteWorkflow(input: { id: $id }) { deletedWorkflowId } }', { id: workflow });
    expectData(
      await send(admin, 'mutation($id: ID!) { deleteWorkspace(input: { id: $id }) { deletedWorkspaceId } }', {
        id: createWorkspace.id,
      }),
    );
    const events = (await t.world.audit(acme)).filter((e) => e.action.startsWith('workspace.'));
    expect(events.map((e) => [e.action, e.outcome])).toEqual([
      ['workspace.create', 'success'],
      ['workspace.create', 'failure'],
      ['workspace.rename', 'success'],
      ['workspace.delete', 'failure'],
      ['workspace.delete', 'success'],
    ]);
  });

  it('never deletes the default workspace', async () => {
    const response = await send(
      acme.members.owner,
      'mutation($id: ID!) { deleteWorkspace(input: { id: $id }) { deletedWorkspaceId } }',
      {
        id: await t.world.defaultWorkspace(acme),
      },
    );
    expect(errorCodes(response)).toEqual(['CONFLICT']);
  });

  it('is denied to roles without settings.manage', async () => {
    const response = await send(acme.members.developer, 'mutation { createWorkspace(input: { name: "Nope" }) { id } }');
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });
});

describe('moving definitions', () => {
  it('moves a workflow and its counts follow; another organization’s workspace is missing', async () => {
    const target = await t.world.workspace(acme);
    const workflow = await t.world.workflow(acme);
    const moved = expectData(
      await send(
        acme.members.developer,
        'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { workspaceId } }',
        {
          id: workflow,
          w: target,
        },
      ),
    ) as { moveWorkflow: { workspaceId: string } };
    expect(moved.moveWorkflow.workspaceId).toBe(target);
    const foreign = await send(
      acme.members.developer,
      'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { workspaceId } }',
      { id: workflow, w: await t.world.defaultWorkspace(other) },
    );
    const missing = await send(
      acme.members.developer,
      'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { workspaceId } }',
      { id: workflow, w: randomUUID() },
    );
    expect(errorCodes(foreign)).toEqual(['NOT_FOUND']);
    expect(JSON.stringify(foreign.body).replace(/[0-9a-f-]{36}/g, 'ID')).toBe(
      JSON.stringify(missing.body).replace(/[0-9a-f-]{36}/g, 'ID'),
    );
  });

  it('needs the update permission in both workspaces', async () => {
    const source = await t.world.workspace(acme);
    const target = await t.world.workspace(acme);
    const viewer = await t.world.member(acme, 'viewer', 'mover');
    await t.world.projectMember(acme, source, viewer, 'editor');
    const workflow = await t.world.definitionIn(acme, source);
    const query = 'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { workspaceId } }';
    const refused = await send(viewer, query, { id: workflow, w: target }, source);
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    expect(refused.body.errors![0]!.message).toMatch(/workflows.update in the target workspace/);
    await t.world.projectMember(acme, target, viewer, 'editor');
    const allowed = expectData(await send(viewer, query, { id: workflow, w: target }, source)) as {
      moveWorkflow: { workspaceId: string };
    };
    expect(allowed.moveWorkflow.workspaceId).toBe(target);
  });
});

describe('workspacesConnection (issue 10: every workspace, page by page)', () => {
  it('pages every workspace in the order of workspaces (the default one first, then by name), both ways', async () => {
    for (const name of ['paged Zulu', 'Paged alpha', 'paged Mike', 'PAGED bravo']) {
      expectData(
        await send(acme.members.admin, 'mutation($n: String!) { createWorkspace(input: { name: $n }) { id } }', {
          n: `${name} ${randomUUID().slice(0, 4)}`,
        }),
      );
    }
    const plain = (expectData(await send(acme.members.viewer, '{ workspaces { id } }')) as { workspaces: { id: string }[] })
      .workspaces;
    expect(plain[0]!.id).toBe(await t.world.defaultWorkspace(acme));
    const query = connectionQuery('workspacesConnection');
    const fetch = async (args: PageArgs) =>
      (expectData(await send(acme.members.viewer, query, { ...args })) as { workspacesConnection: ConnectionData })
        .workspacesConnection;
    // Pages of 2: the first holds the default workspace and the first by name.
    await expectWalk(
      fetch,
      2,
      plain.map((w) => w.id),
    );
    await expectWalk(
      fetch,
      1,
      plain.map((w) => w.id),
    );
    // Counts come through the plain list's loader; another organization's workspaces never show.
    const listed = expectData(
      await send(acme.members.viewer, '{ workspacesConnection(first: 100) { edges { node { id isDefault workflowCount } } } }'),
    ) as { workspacesConnection: { edges: { node: { id: string; isDefault: boolean; workflowCount: number } }[] } };
    expect(listed.workspacesConnection.edges[0]!.node).toMatchObject({ isDefault: true });
    expect(listed.workspacesConnection.edges.map((e) => e.node.id)).not.toContain(await t.world.defaultWorkspace(other));
  });

  it('answers another organization’s workspace (X-Workspace-Id) exactly like a missing one', async () => {
    const query = '{ workspacesConnection(first: 5) { edges { node { id } } } }';
    const foreign = await send(acme.members.owner, query, {}, await t.world.defaultWorkspace(other));
    const unknown = await send(acme.members.owner, query, {}, randomUUID());
    expect([foreign.status, unknown.status]).toEqual([403, 403]);
    expect(foreign.body).toEqual(unknown.body);
    const plain = await send(acme.members.owner, '{ workspaces { id } }', {}, await t.world.defaultWorkspace(other));
    expect(plain.status).toBe(403);
    expect(plain.body).toEqual(unknown.body);
  });
});

describe('the workspace context (X-Workspace-Id)', () => {
  it('shows that workspace’s definitions, connections and runs only', async () => {
    const space = await t.world.workspace(acme);
    const inside = await t.world.definitionIn(acme, space);
    const connectorInside = await t.world.definitionIn(acme, space, 'connector');
    const connectorOutside = await t.world.connector(acme);
    const customerId = acme.customers[0]!.id;
    const owner = acme.members.owner;
    const connIn = await t.world.connection(acme, {
      customerId,
      connectorId: connectorInside,
      ownerUserId: owner.userId,
      shared: true,
    });
    const connOut = await t.world.connection(acme, {
      customerId,
      connectorId: connectorOutside,
      ownerUserId: owner.userId,
      shared: true,
    });
    const runIn = expectData(
      await send(owner, 'mutation($id: ID!, $c: ID!) { executeWorkflow(input: { id: $id, customerId: $c }) { id } }', {
        id: inside,
        c: customerId,
      }),
    ) as { executeWorkflow: { id: string } };
    const runOut = expectData(
      await send(owner, 'mutation($id: ID!, $c: ID!) { executeWorkflow(input: { id: $id, customerId: $c }) { id } }', {
        id: acme.workflows[0],
        c: customerId,
      }),
    ) as { executeWorkflow: { id: string } };

    const lists =
      '{ workflows(first: 30) { edges { node { id } } } connectors(first: 30) { edges { node { id } } } connections(first: 30) { edges { node { id } } } executions(first: 30) { edges { node { id } } } }';
    type Lists = Record<'workflows' | 'connectors' | 'connections' | 'executions', { edges: { node: { id: string } }[] }>;
    const ids = (data: Lists, key: keyof Lists) => data[key].edges.map((e) => e.node.id).sort();
    const scoped = expectData(await send(owner, lists, {}, space)) as Lists;
    expect(ids(scoped, 'workflows')).toEqual([inside]);
    expect(ids(scoped, 'connectors')).toEqual([connectorInside]);
    expect(ids(scoped, 'connections')).toEqual([connIn]);
    expect(ids(scoped, 'executions')).toEqual([runIn.executeWorkflow.id]);

    const everything = expectData(await send(owner, lists)) as Lists;
    expect(ids(everything, 'workflows')).toEqual(expect.arrayContaining([inside, acme.workflows[0]!]));
    expect(ids(everything, 'connections')).toEqual(expect.arrayContaining([connIn, connOut]));
    expect(ids(everything, 'executions')).toEqual(expect.arrayContaining([runIn.executeWorkflow.id, runOut.executeWorkflow.id]));

    // Another workspace's workflow answers like a missing one there; new ones land in it.
    const probe = await send(owner, 'query($id: ID!) { workflow(id: $id) { id } }', { id: acme.workflows[0] }, space);
    const missing = await send(owner, 'query($id: ID!) { workflow(id: $id) { id } }', { id: randomUUID() }, space);
    expect(errorCodes(probe)).toEqual(['NOT_FOUND']);
    expect(JSON.stringify(probe.body).replace(/[0-9a-f-]{36}/g, 'ID')).toBe(
      JSON.stringify(missing.body).replace(/[0-9a-f-]{36}/g, 'ID'),
    );
    const created = expectData(
      await send(
        owner,
        'mutation($n: String!) { createWorkflow(input: { name: $n }) { workspaceId } }',
        { n: `in ${randomUUID()}` },
        space,
      ),
    ) as { createWorkflow: { workspaceId: string } };
    expect(created.createWorkflow.workspaceId).toBe(space);
  });

  it('answers an unknown or another organization’s workspace like a foreign organization (403), a malformed one 400', async () => {
    const foreign = await send(acme.members.owner, '{ viewer { user { id } } }', {}, await t.world.defaultWorkspace(other));
    const unknown = await send(acme.members.owner, '{ viewer { user { id } } }', {}, randomUUID());
    const foreignOrg = await t.client.request(
      '{ viewer { user { id } } }',
      {},
      {
        token: await t.world.token(acme.members.owner),
        orgId: other.id,
      },
    );
    expect([foreign.status, unknown.status, foreignOrg.status]).toEqual([403, 403, 403]);
    expect(errorCodes(foreign)).toEqual(['FORBIDDEN']);
    expect(foreign.body).toEqual(unknown.body);
    const malformed = await send(acme.members.owner, '{ viewer { user { id } } }', {}, 'not-a-uuid');
    expect(errorCodes(malformed)).toEqual(['BAD_USER_INPUT']);
  });

  it('counts a customer’s limits across every workspace (a workspace context cannot bypass them)', async () => {
    const space = await t.world.workspace(acme);
    const inside = await t.world.definitionIn(acme, space);
    const connectorInside = await t.world.definitionIn(acme, space, 'connector');
    const customerId = await t.world.customer(acme);
    const owner = acme.members.owner;
    await t.world.inOrg(acme, (db) =>
      db.query('update customers set max_executions_per_month = 1, max_connections = 1 where id = $1', [customerId]),
    );
    const run = 'mutation($id: ID!, $c: ID!) { executeWorkflow(input: { id: $id, customerId: $c }) { id } }';
    expectData(await send(owner, run, { id: acme.workflows[0], c: customerId }));
    const overRun = await send(owner, run, { id: inside, c: customerId }, space);
    expect(errorCodes(overRun)).toEqual(['CONFLICT']);
    expect(overRun.body.errors![0]!.extensions!.limit).toBe('maxExecutionsPerMonth');
    const usage = expectData(
      await send(owner, 'query($id: ID!) { customer(id: $id) { usage { executionsThisMonth } } }', { id: customerId }, space),
    ) as { customer: { usage: { executionsThisMonth: number } } };
    expect(usage.customer.usage.executionsThisMonth).toBe(1);

    await t.world.connection(acme, {
      customerId,
      connectorId: await t.world.connector(acme),
      ownerUserId: owner.userId,
      shared: true,
    });
    const overConnect = await send(
      owner,
      'mutation($k: ID!, $c: ID!) { createConnection(input: { connectorId: $k, customerId: $c, name: "Two", shared: true, credentials: { apiKey: "k" } }) { id } }',
      { k: connectorInside, c: customerId },
      space,
    );
    expect(errorCodes(overConnect)).toEqual(['CONFLICT']);
    expect(overConnect.body.errors![0]!.extensions!.limit).toBe('maxConnections');
  });

  it('is part of an Idempotency-Key’s request: the same body in another workspace is another request', async () => {
    const [one, two] = [await t.world.workspace(acme), await t.world.workspace(acme)];
    const key = randomUUID();
    const create = 'mutation($n: String!) { createWorkflow(input: { name: $n }) { workspaceId } }';
    const name = `idem ${randomUUID()}`;
    const headersFor = (workspaceId: string) => ({ 'x-workspace-id': workspaceId, 'idempotency-key': key });
    const token = await t.world.token(acme.members.owner);
    const first = await t.client.request(create, { n: name }, { token, orgId: acme.id, headers: headersFor(one) });
    expect((expectData(first) as { createWorkflow: { workspaceId: string } }).createWorkflow.workspaceId).toBe(one);
    const elsewhere = await t.client.request(create, { n: name }, { token, orgId: acme.id, headers: headersFor(two) });
    expect(errorCodes(elsewhere)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
  });

  it('is refused in a customer’s context', async () => {
    const response = await send(acme.members.end_user, '{ viewer { user { id } } }', {}, await t.world.defaultWorkspace(acme));
    expect(response.status).toBe(403);
  });
});

describe('Toggle Flows', () => {
  it('disables a workflow (it no longer runs) and enables it again; audited', async () => {
    const workflow = await t.world.workflow(acme);
    const toggle = 'mutation($id: ID!, $on: Boolean!) { setWorkflowEnabled(input: { id: $id, enabled: $on }) { enabled } }';
    const off = expectData(await send(acme.members.developer, toggle, { id: workflow, on: false })) as {
      setWorkflowEnabled: { enabled: boolean };
    };
    expect(off.setWorkflowEnabled.enabled).toBe(false);
    const run = await send(
      acme.members.developer,
      'mutation($id: ID!, $c: ID!) { executeWorkflow(input: { id: $id, customerId: $c }) { id } }',
      {
        id: workflow,
        c: acme.customers[0]!.id,
      },
    );
    expect(errorCodes(run)).toEqual(['CONFLICT']);
    const failedRun = await t.world.inOrg(acme, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status) values ($1, $2, 'workflow', $3, 'w', 'failed') returning id`,
        [acme.id, acme.customers[0]!.id, workflow],
      );
      return rows[0]!.id;
    });
    const retry = await send(acme.members.developer, 'mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }', {
      id: failedRun,
    });
    expect(errorCodes(retry)).toEqual(['CONFLICT']);
    expectData(await send(acme.members.developer, toggle, { id: workflow, on: true }));
    expect(errorCodes(await send(acme.members.operator, toggle, { id: workflow, on: false }))).toEqual(['FORBIDDEN']);
  });
});
