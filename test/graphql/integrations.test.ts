/**
 * Integration resources end to end: connectors (versions, deployments, the catalogue), agents
 * and tools, customers' connections (personal vs shared, test, actions, token refresh by a user
 * and by the system, limits), executions (filters, detail, retry), and staff acting in one
 * customer's context.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshDueTokens, LocalTokenRefresher } from '../../src/integrations/token-refresh.js';
import { PERMISSION_KEYS } from '../../src/authz/permissions.js';
import { asApp, asSuperuser, silentLogger } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

let t: TestGateway;
let org: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Integrated', { workflows: 1 });
});
afterAll(() => t?.stop());

async function send(
  member: SeededMember,
  query: string,
  variables: Record<string, unknown> = {},
  options: { customerId?: string } = {},
) {
  return t.client.request<Loose>(query, variables, { token: await t.world.token(member), orgId: member.orgId, ...options });
}

describe('connectors', () => {
  let crm: string;

  it('are versioned and deployed; the catalogue lists those live in production', async () => {
    const dev = org.members.developer;
    crm = expectData(
      await send(
        dev,
        'mutation { createConnector(input: { name: "HubSpot", authKind: OAUTH2, logoUrl: "https://cdn.example/hubspot.svg", definition: { actions: ["contacts.list"] } }) { id version authKind } }',
      ),
    ).createConnector.id;
    expectData(
      await send(
        dev,
        'mutation($id: ID!) { updateConnector(input: { id: $id, definition: { actions: ["contacts.list", "deals.list"] } }) { version } }',
        { id: crm },
      ),
    );
    expectData(
      await send(dev, 'mutation($id: ID!) { deployConnectorToProduction(input: { id: $id, version: 1 }) { version } }', {
        id: crm,
      }),
    );
    const draft = expectData(await send(dev, 'mutation { createConnector(input: { name: "Draft", authKind: API_KEY }) { id } }'))
      .createConnector.id;
    const connector = expectData(
      await send(
        org.members.viewer,
        'query($id: ID!) { connector(id: $id) { name version authKind logoUrl deployments { environment version } } }',
        { id: crm },
      ),
    );
    expect(connector.connector).toEqual({
      name: 'HubSpot',
      version: 2,
      authKind: 'OAUTH2',
      logoUrl: 'https://cdn.example/hubspot.svg',
      deployments: [{ environment: 'PRODUCTION', version: 1 }],
    });
    const catalogue = expectData(
      await send(org.members.end_user, '{ connectorCatalogue { id name logoUrl authKind } }'),
    ).connectorCatalogue;
    expect(catalogue).toEqual([{ id: crm, name: 'HubSpot', logoUrl: 'https://cdn.example/hubspot.svg', authKind: 'OAUTH2' }]);
    expect(catalogue.map((c: Loose) => c.id)).not.toContain(draft);
    // End Users never read connector definitions.
    expect(
      errorCodes(await send(org.members.end_user, 'query($id: ID!) { connector(id: $id) { definition } }', { id: crm })),
    ).toEqual(['FORBIDDEN']);
  });

  it('validate their inputs', async () => {
    const missing = await send(
      org.members.developer,
      'mutation { createConnector(input: { name: "X", logoUrl: "http://insecure" , authKind: NONE }) { id } }',
    );
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
    expect(missing.body.errors![0]!.extensions!.field).toBe('input.logoUrl');
  });

  it('cannot be deleted while customers are connected to them', async () => {
    await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: crm,
      ownerUserId: org.members.end_user.userId,
    });
    const response = await send(
      org.members.developer,
      'mutation($id: ID!) { deleteConnector(input: { id: $id }) { deletedConnectorId } }',
      { id: crm },
    );
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect(response.body.errors![0]!.extensions!.connectionCount).toBe(1);
  });
});

describe('agents and tools', () => {
  it('are created, edited, executed for a customer and deleted; names are unique per kind', async () => {
    const dev = org.members.developer;
    const agent = expectData(
      await send(dev, 'mutation { createAgent(input: { name: "Support bot", definition: { model: "x" } }) { id version } }'),
    ).createAgent;
    const tool = expectData(await send(dev, 'mutation { createTool(input: { name: "Support bot" }) { id } }')).createTool;
    expect(errorCodes(await send(dev, 'mutation { createAgent(input: { name: "support BOT" }) { id } }'))).toEqual(['CONFLICT']);
    expectData(
      await send(dev, 'mutation($id: ID!) { updateAgent(input: { id: $id, definition: { model: "y" } }) { version } }', {
        id: agent.id,
      }),
    );
    const run = expectData(
      await send(
        org.members.operator,
        'mutation($id: ID!, $c: ID!) { executeAgent(input: { id: $id, customerId: $c, parameters: { q: 1 } }) { status targetKind targetName targetVersion targetId } }',
        {
          id: agent.id,
          c: org.customers[0]!.id,
        },
      ),
    ).executeAgent;
    expect(run).toEqual({
      status: 'QUEUED',
      targetKind: 'AGENT',
      targetName: 'Support bot',
      targetVersion: 2,
      targetId: agent.id,
    });
    // An agent's id is not a tool's.
    expect(errorCodes(await send(dev, 'query($id: ID!) { tool(id: $id) { id } }', { id: agent.id }))).toEqual(['NOT_FOUND']);
    expectData(await send(dev, 'mutation($id: ID!) { deleteTool(input: { id: $id }) { deletedToolId } }', { id: tool.id }));
    // History survives the deletion of what ran.
    expectData(await send(dev, 'mutation($id: ID!) { deleteAgent(input: { id: $id }) { deletedAgentId } }', { id: agent.id }));
    const executions = expectData(
      await send(
        org.members.viewer,
        '{ executions(first: 10, filter: { targetKind: AGENT }) { edges { node { targetName targetId } } } }',
      ),
    ).executions;
    expect(executions.edges[0].node).toEqual({ targetName: 'Support bot', targetId: null });
  });
});

describe('connections', () => {
  let connector: string;
  let colleague: SeededMember;
  beforeAll(async () => {
    connector = await t.world.connector(org, 'Salesforce');
    colleague = await t.world.member(org, 'end_user', 'colleague'); // same customer as org.members.end_user
  });

  it('personal ones are seen by their owner and staff only; sharing shows them to the whole customer', async () => {
    const me = org.members.end_user;
    const created = expectData(
      await send(
        me,
        'mutation($k: ID!) { createConnection(input: { connectorId: $k, name: "My Salesforce", credentials: { accessToken: "a", refreshToken: "r" } }) { id scope hasCredentials owner { id } customer { id } connector { name } } }',
        {
          k: connector,
        },
      ),
    ).createConnection;
    expect(created).toMatchObject({
      scope: 'PERSONAL',
      hasCredentials: true,
      owner: { id: me.userId },
      customer: { id: org.customers[0]!.id },
      connector: { name: 'Salesforce' },
    });
    const theirs = (m: SeededMember) => send(m, 'query($id: ID!) { connection(id: $id) { id scope } }', { id: created.id });
    expect(errorCodes(await theirs(colleague))).toEqual(['NOT_FOUND']);
    expectData(await theirs(org.members.admin));
    expectData(await send(me, 'mutation($id: ID!) { shareConnection(input: { id: $id }) { scope } }', { id: created.id }));
    expect(expectData(await theirs(colleague)).connection.scope).toBe('SHARED');
    expectData(await send(me, 'mutation($id: ID!) { unshareConnection(input: { id: $id }) { scope } }', { id: created.id }));
    expect(errorCodes(await theirs(colleague))).toEqual(['NOT_FOUND']);
  });

  it('the connections limit counts everyone’s personal connections, not just those the caller sees', async () => {
    const customer = org.customers[0]!.id;
    const used = Number(
      (
        await t.world.inOrg(org, (db) =>
          db.query<{ n: number }>('select count(*)::int as n from connections where customer_id = $1', [customer]),
        )
      ).rows[0]!.n,
    );
    await send(
      org.members.admin,
      'mutation($id: ID!, $n: Int) { setCustomerLimits(input: { customerId: $id, maxConnections: $n }) { id } }',
      { id: customer, n: used + 1 },
    );
    expectData(
      await send(
        colleague,
        'mutation($k: ID!) { createConnection(input: { connectorId: $k, name: "Mine", credentials: { apiKey: "k" } }) { id } }',
        { k: connector },
      ),
    );
    const over = await send(
      org.members.end_user,
      'mutation($k: ID!) { createConnection(input: { connectorId: $k, name: "Mine too", credentials: { apiKey: "k" } }) { id } }',
      {
        k: connector,
      },
    );
    expect(errorCodes(over)).toEqual(['CONFLICT']);
    await send(
      org.members.admin,
      'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxConnections: null }) { id } }',
      { id: customer },
    );
  });

  it('only its owner takes a shared connection back (a clear FORBIDDEN, not an internal error)', async () => {
    const id = await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: connector,
      ownerUserId: org.members.end_user.userId,
      shared: true,
    });
    expect(
      errorCodes(await send(colleague, 'mutation($id: ID!) { unshareConnection(input: { id: $id }) { scope } }', { id })),
    ).toEqual(['FORBIDDEN']);
    expect(
      expectData(
        await send(org.members.end_user, 'mutation($id: ID!) { unshareConnection(input: { id: $id }) { scope } }', { id }),
      ).unshareConnection.scope,
    ).toBe('PERSONAL');
  });

  it('an End User cannot connect for another customer', async () => {
    const response = await send(
      org.members.end_user,
      'mutation($k: ID!, $c: ID!) { createConnection(input: { connectorId: $k, customerId: $c, name: "x", credentials: { a: 1 } }) { id } }',
      {
        k: connector,
        c: org.customers[1]!.id,
      },
    );
    expect(errorCodes(response)).toEqual(['NOT_FOUND']);
  });

  it('test reports incomplete or expired credentials and marks the connection', async () => {
    const id = await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: connector,
      ownerUserId: org.members.end_user.userId,
      credentials: { accessToken: 'a', refreshToken: 'r', expiresAt: new Date(Date.now() - 60_000).toISOString() },
    });
    const tested = expectData(
      await send(
        org.members.end_user,
        'mutation($id: ID!) { testConnection(input: { id: $id }) { ok message connection { status lastError } } }',
        { id },
      ),
    ).testConnection;
    expect(tested).toMatchObject({ ok: false, connection: { status: 'ERROR' } });
    expect(tested.message).toMatch(/expired/);
    // A user refreshes it: new token, status back to active, credential.token_refresh by them.
    const refreshed = await send(
      org.members.end_user,
      'mutation($id: ID!) { refreshConnectionToken(input: { id: $id }) { status tokenExpiresAt } }',
      { id },
    );
    expect(expectData(refreshed).refreshConnectionToken.status).toBe('ACTIVE');
    expect(new Date(expectData(refreshed).refreshConnectionToken.tokenExpiresAt).getTime()).toBeGreaterThan(
      Date.now() + 30 * 60_000,
    );
    const events = await t.world.audit(org, { requestId: refreshed.headers.get('x-request-id')! });
    expect(events.filter((e) => e.action !== 'auth.login').map((e) => [e.action, e.outcome, e.actor_user_id])).toEqual([
      ['credential.token_refresh', 'success', org.members.end_user.userId],
    ]);
    expect(
      expectData(await send(org.members.end_user, 'mutation($id: ID!) { testConnection(input: { id: $id }) { ok } }', { id }))
        .testConnection.ok,
    ).toBe(true);
  });

  it('the refresher renews tokens about to expire, recorded as the system', async () => {
    const id = await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: connector,
      ownerUserId: org.members.end_user.userId,
      shared: true,
      credentials: { accessToken: 'old', refreshToken: 'r', expiresAt: new Date(Date.now() + 60_000).toISOString() },
    });
    const noRefreshToken = await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: connector,
      ownerUserId: org.members.end_user.userId,
      credentials: { accessToken: 'old', expiresAt: new Date(Date.now() + 60_000).toISOString() },
    });
    const tally = await refreshDueTokens({
      pool: t.world.pool,
      auditKey: t.gateway.sealingKey,
      cipher: t.cipher,
      refresher: new LocalTokenRefresher(),
      logger: silentLogger,
    });
    expect(tally).toMatchObject({ refreshed: 1, failed: 1 });
    const events = (await t.world.audit(org)).filter((e) => e.action === 'credential.token_refresh' && e.actor_user_id === null);
    expect(events.map((e) => [e.resource_id, e.outcome])).toEqual(
      expect.arrayContaining([
        [id, 'success'],
        [noRefreshToken, 'failure'],
      ]),
    );
    const log = expectData(
      await send(
        org.members.admin,
        '{ auditLog(first: 20, filter: { system: true }) { edges { node { action actor { type name } } } } }',
      ),
    ).auditLog;
    expect(log.edges[0].node).toEqual({ action: 'credential.token_refresh', actor: { type: 'SYSTEM', name: 'system' } });
    const state = expectData(
      await send(
        org.members.admin,
        'query($a: ID!, $b: ID!) { a: connection(id: $a) { status tokenExpiresAt } b: connection(id: $b) { status lastError } }',
        { a: id, b: noRefreshToken },
      ),
    );
    expect(state.a.status).toBe('ACTIVE');
    expect(new Date(state.a.tokenExpiresAt).getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect(state.b).toEqual({ status: 'ERROR', lastError: 'Token refresh failed; reconnect the app.' });
    // Nothing is due any more.
    expect(
      await refreshDueTokens({
        pool: t.world.pool,
        auditKey: t.gateway.sealingKey,
        cipher: t.cipher,
        refresher: new LocalTokenRefresher(),
        logger: silentLogger,
      }),
    ).toMatchObject({ refreshed: 0 });
  });

  it('a customer’s connections limit is enforced with a clear error', async () => {
    const customer = await t.world.customer(org, 'Small plan');
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxConnections: 1 }) { id } }',
        { id: customer },
      ),
    );
    const create = () =>
      send(
        org.members.admin,
        'mutation($k: ID!, $c: ID!) { createConnection(input: { connectorId: $k, customerId: $c, name: "x", shared: true, credentials: { apiKey: "k" } }) { id } }',
        {
          k: connector,
          c: customer,
        },
      );
    expectData(await create());
    const over = await create();
    expect(errorCodes(over)).toEqual(['CONFLICT']);
    expect(over.body.errors![0]!.extensions).toMatchObject({ limit: 'maxConnections', max: 1 });
  });

  it('actions run as executions of the customer; End Users see their sync status and runs', async () => {
    const id = await t.world.connection(org, {
      customerId: org.customers[0]!.id,
      connectorId: connector,
      ownerUserId: org.members.end_user.userId,
      shared: true,
    });
    await t.world.inOrg(org, (db) =>
      db.query(`update connections set sync_status = 'succeeded', last_synced_at = now() where id = $1`, [id]),
    );
    const run = expectData(
      await send(
        org.members.end_user,
        'mutation($id: ID!) { runConnectionAction(input: { id: $id, action: "contacts.list", parameters: { limit: 10 } }) { id targetKind targetName connection { id } parameters } }',
        { id },
      ),
    ).runConnectionAction;
    expect(run).toMatchObject({
      targetKind: 'CONNECTION',
      connection: { id },
      parameters: { action: 'contacts.list', limit: 10 },
    });
    const mine = expectData(
      await send(
        org.members.end_user,
        '{ connections(first: 50) { edges { node { id syncStatus lastSyncedAt customer { id } } } } }',
      ),
    ).connections;
    expect(mine.edges.every((e: Loose) => e.node.customer.id === org.customers[0]!.id)).toBe(true);
    expect(mine.edges.find((e: Loose) => e.node.id === id).node.syncStatus).toBe('SUCCEEDED');
  });
});

describe('executions', () => {
  it('list with filters, show detail, and retry a finished one (linked to it)', async () => {
    const [c0, c1] = [org.customers[0]!.id, org.customers[1]!.id];
    const start = new Date().toISOString();
    for (const c of [c0, c1, c1]) {
      expectData(
        await send(
          org.members.operator,
          'mutation($w: ID!, $c: ID!) { executeWorkflow(input: { id: $w, customerId: $c }) { id } }',
          { w: org.workflows[0], c },
        ),
      );
    }
    const q =
      'query($f: ExecutionFilter) { executions(first: 50, filter: $f) { totalCount edges { node { id status customer { id } } } } }';
    const inWindow = { from: start, targetKind: 'WORKFLOW' };
    expect(expectData(await send(org.members.viewer, q, { f: inWindow })).executions.totalCount).toBe(3);
    expect(expectData(await send(org.members.viewer, q, { f: { ...inWindow, customerId: c1 } })).executions.totalCount).toBe(2);
    expect(
      expectData(await send(org.members.viewer, q, { f: { ...inWindow, targetId: org.workflows[0] } })).executions.totalCount,
    ).toBe(3);
    expect(expectData(await send(org.members.viewer, q, { f: { ...inWindow, status: 'FAILED' } })).executions.totalCount).toBe(0);
    expect(
      expectData(await send(org.members.viewer, q, { f: { to: start, from: new Date(0).toISOString(), targetKind: 'TOOL' } }))
        .executions.totalCount,
    ).toBe(0);
    // The End User sees only their customer's.
    const theirs = expectData(await send(org.members.end_user, q, { f: inWindow })).executions;
    expect(theirs.edges.map((e: Loose) => e.node.customer.id)).toEqual([c0]);

    const first = theirs.edges[0].node.id as string;
    expect(
      errorCodes(
        await send(org.members.end_user, 'mutation($id: ID!) { retryExecution(input: { id: $id }) { id } }', { id: first }),
      ),
    ).toEqual(['CONFLICT']);
    // A run's outcome is a runner's to report (migration 016: no raw update by the app role).
    await asSuperuser(t.db, (c) =>
      c.query(`update app_public.executions set status = 'failed', error = 'timeout', finished_at = now() where id = $1`, [
        first,
      ]),
    );
    const retried = expectData(
      await send(
        org.members.end_user,
        'mutation($id: ID!) { retryExecution(input: { id: $id }) { status retryOf { id status error } } }',
        { id: first },
      ),
    ).retryExecution;
    expect(retried).toEqual({ status: 'QUEUED', retryOf: { id: first, status: 'FAILED', error: 'timeout' } });
    // Another customer's execution answers like a missing one.
    const other = expectData(await send(org.members.viewer, q, { f: { ...inWindow, customerId: c1 } })).executions.edges[0].node
      .id;
    expect(errorCodes(await send(org.members.end_user, 'query($id: ID!) { execution(id: $id) { id } }', { id: other }))).toEqual([
      'NOT_FOUND',
    ]);
  });
});

describe('staff in one customer’s context (X-Customer-Id)', () => {
  it('are confined by the database like an End User', async () => {
    const c1 = org.customers[1]!.id;
    const scoped = await send(
      org.members.admin,
      '{ viewer { customer { id } } customers(first: 10) { edges { node { id } } } executions(first: 50) { edges { node { customer { id } } } } workflows(first: 5) { totalCount } }',
      {},
      { customerId: c1 },
    );
    const data = scoped.body.data as Loose;
    expect(data.viewer.customer).toEqual({ id: c1 });
    expect(data.customers.edges.map((e: Loose) => e.node.id)).toEqual([c1]);
    expect(data.executions.edges.every((e: Loose) => e.node.customer.id === c1)).toBe(true);
    // Org-internal data is out of reach in a customer's context, whatever the role: refused
    // outright (the database would show nothing anyway).
    expect(data.workflows).toBeNull();
    expect(errorCodes(scoped)).toEqual(['FORBIDDEN']);
    expect(scoped.body.errors![0]!.message).toMatch(/customer's context/);
  });

  it('organization-level changes are refused in a customer’s context, not silently dropped', async () => {
    const fresh = await t.world.organization('Contextual');
    const inCustomer = { customerId: fresh.customers[0]!.id };
    const del = await send(
      fresh.members.owner,
      'mutation($n: String!) { deleteOrganization(input: { confirmName: $n }) { deletedOrganizationId } }',
      { n: fresh.name },
      inCustomer,
    );
    expect(errorCodes(del)).toEqual(['FORBIDDEN']);
    const settings = await send(
      fresh.members.owner,
      'mutation { updateOrganizationSettings(input: { name: "Renamed" }) { id } }',
      {},
      inCustomer,
    );
    expect(errorCodes(settings)).toEqual(['FORBIDDEN']);
    const limits = await send(
      fresh.members.admin,
      'mutation($c: ID!) { setCustomerLimits(input: { customerId: $c, maxConnections: 1 }) { id } }',
      { c: fresh.customers[0]!.id },
      inCustomer,
    );
    expect(errorCodes(limits)).toEqual(['FORBIDDEN']);
    const events = (await t.world.audit(fresh, { requestId: del.headers.get('x-request-id')! })).filter(
      (e) => e.action !== 'auth.login',
    );
    expect(events.map((e) => [e.action, e.outcome])).toEqual([['organization.delete', 'denied']]);
    expect(expectData(await send(fresh.members.owner, '{ viewer { organization { name } } }')).viewer.organization.name).toBe(
      fresh.name,
    );
  });

  it('naming another organization’s customer, or none that exists, is refused', async () => {
    const other = await t.world.organization('Other customers');
    for (const customerId of [other.customers[0]!.id, '00000000-0000-4000-8000-000000000000']) {
      const response = await send(org.members.admin, '{ viewer { customer { id } } }', {}, { customerId });
      expect(response.status).toBe(403);
      expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    }
  });

  it('the database agrees: a customer-scoped binding sees no org-internal rows', async () => {
    const seen = await asApp(
      t.world.pool,
      // Every permission bound: the customer scope alone hides org-internal rows.
      {
        userId: org.members.admin.userId,
        orgId: org.id,
        role: 'customer',
        tenantId: org.customers[1]!.id,
        permissions: PERMISSION_KEYS,
      },
      async (c) => ({
        definitions: (await c.query('select count(*)::int as n from definitions')).rows[0].n,
        roles: (await c.query('select count(*)::int as n from roles')).rows[0].n,
        otherCustomers: (await c.query('select count(*)::int as n from customers where id <> $1', [org.customers[1]!.id])).rows[0]
          .n,
      }),
    );
    expect(seen).toEqual({ definitions: 0, roles: 0, otherCustomers: 0 });
  });
});
