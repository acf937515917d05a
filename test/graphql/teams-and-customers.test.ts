/**
 * Teams (a team's role adds to its members' permissions, on their next request) and customers
 * (lifecycle, list, limits the resources enforce, the customer's admin as an End User).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEYS } from '../../src/authz/permissions.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectionQuery, expectWalk, type PageArgs } from '../helpers/paging.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

let t: TestGateway;
let org: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Teamwork', { workflows: 1 });
});
afterAll(() => t?.stop());

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}) {
  return t.client.request<Loose>(query, variables, { token: await t.world.token(member), orgId: member.orgId });
}

describe('teams', () => {
  it('a team’s role adds to its members’ permissions, and viewer says where each comes from', async () => {
    const viewer = org.members.viewer;
    const { roleId } = await t.world.customRole(org, 'Deployers', ['workflows.read', 'workflows.deploy_test']);
    const team = expectData(
      await send(org.members.admin, 'mutation($r: ID!) { createTeam(input: { name: "Release crew", roleId: $r }) { id } }', {
        r: roleId,
      }),
    ).createTeam.id as string;
    const deploy = 'mutation($id: ID!) { deployWorkflowToTest(input: { id: $id }) { version } }';
    expect(errorCodes(await send(viewer, deploy, { id: org.workflows[0] }))).toEqual(['FORBIDDEN']);

    expectData(
      await send(
        org.members.admin,
        'mutation($t: ID!, $m: ID!) { addTeamMember(input: { teamId: $t, memberId: $m }) { memberCount } }',
        { t: team, m: viewer.membershipId },
      ),
    );
    expectData(await send(viewer, deploy, { id: org.workflows[0] }));
    const sources = expectData(
      await send(viewer, '{ viewer { permissions permissionSources { permission sources { kind name } } } }'),
    ).viewer;
    expect(sources.permissions).toContain('workflows.deploy_test');
    expect(sources.permissions.length).toBe(8);
    const byPermission = Object.fromEntries(sources.permissionSources.map((p: Loose) => [p.permission, p.sources]));
    expect(byPermission['workflows.deploy_test']).toEqual([{ kind: 'TEAM', name: 'Release crew' }]);
    expect(byPermission['workflows.read']).toEqual(
      expect.arrayContaining([
        { kind: 'ROLE', name: 'Viewer' },
        { kind: 'TEAM', name: 'Release crew' },
      ]),
    );
    expect(sources.permissionSources.map((p: Loose) => p.permission)).toEqual(
      PERMISSION_KEYS.filter((k) => sources.permissions.includes(k)),
    );

    // Leaving the team takes it away on the next request.
    expectData(
      await send(
        org.members.admin,
        'mutation($t: ID!, $m: ID!) { removeTeamMember(input: { teamId: $t, memberId: $m }) { memberCount } }',
        { t: team, m: viewer.membershipId },
      ),
    );
    expect(errorCodes(await send(viewer, deploy, { id: org.workflows[0] }))).toEqual(['FORBIDDEN']);
  });

  it('changing or removing a team’s role applies to its members at once', async () => {
    const member = await t.world.member(org, 'viewer', 'crew');
    const { roleId } = await t.world.customRole(org, 'Runners', ['workflows.execute']);
    const team = expectData(
      await send(org.members.admin, 'mutation($r: ID!) { createTeam(input: { name: "Runners team", roleId: $r }) { id } }', {
        r: roleId,
      }),
    ).createTeam.id as string;
    await send(org.members.admin, 'mutation($t: ID!, $m: ID!) { addTeamMember(input: { teamId: $t, memberId: $m }) { id } }', {
      t: team,
      m: member.membershipId,
    });
    const perms = async () => expectData(await send(member, '{ viewer { permissions } }')).viewer.permissions as string[];
    expect(await perms()).toContain('workflows.execute');
    expectData(
      await send(org.members.admin, 'mutation($id: ID!) { updateTeam(input: { id: $id, removeRole: true }) { role { id } } }', {
        id: team,
      }),
    );
    expect(await perms()).not.toContain('workflows.execute');
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!, $r: ID!) { updateTeam(input: { id: $id, roleId: $r }) { role { name } } }',
        { id: team, r: roleId },
      ),
    );
    expect(await perms()).toContain('workflows.execute');
    // Editing the role itself reaches them too.
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!) { updateRole(input: { id: $id, permissions: ["workflows.execute", "tools.execute"] }) { id } }',
        { id: roleId },
      ),
    );
    expect(await perms()).toContain('tools.execute');
    expectData(
      await send(org.members.admin, 'mutation($id: ID!) { deleteTeam(input: { id: $id }) { deletedTeamId } }', { id: team }),
    );
    expect(await perms()).not.toContain('tools.execute');
  });

  it('lists teams with their members and role; End Users cannot join one', async () => {
    const teams = expectData(
      await send(org.members.developer, '{ teams { name memberCount members { user { name } } role { name } } }'),
    ).teams;
    expect(teams.map((x: Loose) => x.name)).toContain('Release crew');
    const team = teams.find((x: Loose) => x.name === 'Release crew');
    expect(team).toMatchObject({ memberCount: 0, members: [], role: { name: 'Deployers' } });
    const id = expectData(await send(org.members.admin, '{ teams { id name } }')).teams.find(
      (x: Loose) => x.name === 'Release crew',
    ).id;
    const endUser = await send(
      org.members.admin,
      'mutation($t: ID!, $m: ID!) { addTeamMember(input: { teamId: $t, memberId: $m }) { id } }',
      {
        t: id,
        m: org.members.end_user.membershipId,
      },
    );
    expect(errorCodes(endUser)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('teamsConnection (issue 10: every team, page by page)', () => {
  it('pages every team in the order of teams, forwards and backwards, with totalCount', async () => {
    for (const name of ['Paged b', 'paged A', 'Paged c', 'Paged D', 'Paged e']) {
      expectData(await send(org.members.admin, 'mutation($n: String!) { createTeam(input: { name: $n }) { id } }', { n: name }));
    }
    const plain = (expectData(await send(org.members.admin, '{ teams { id name } }')).teams as Loose[]).map((x) => x.id);
    const query = connectionQuery('teamsConnection');
    await expectWalk(
      async (args: PageArgs) => expectData(await send(org.members.developer, query, { ...args })).teamsConnection,
      2,
      plain,
    );
    // Nested fields come through the same loaders as the plain list's.
    const nested = expectData(
      await send(org.members.admin, '{ teamsConnection(first: 100) { edges { node { name memberCount role { name } } } } }'),
    ).teamsConnection.edges.find((e: Loose) => e.node.name === 'Release crew').node;
    expect(nested).toMatchObject({ memberCount: 0, role: { name: 'Deployers' } });
  });

  it('refuses whoever the plain list refuses, the same way; bad paging arguments are BAD_USER_INPUT', async () => {
    const endUser = org.members.end_user;
    const plain = await send(endUser, '{ teams { id } }');
    const paged = await send(endUser, '{ teamsConnection(first: 5) { edges { node { id } } } }');
    expect(plain.body.data).toEqual({ teams: null });
    expect(paged.body.data).toEqual({ teamsConnection: null });
    expect(errorCodes(paged)).toEqual(errorCodes(plain));
    expect(errorCodes(paged)).toEqual(['FORBIDDEN']);
    expect(paged.body.errors![0]!.extensions!.permission).toEqual(plain.body.errors![0]!.extensions!.permission);
    const admin = org.members.admin;
    for (const args of ['first: 101', 'first: -1', 'first: 2, last: 2', 'after: "bm90IGEgY3Vyc29y"', 'last: 2, after: "x"']) {
      expect(errorCodes(await send(admin, `{ teamsConnection(${args}) { edges { node { id } } } }`)), args).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
  });
});

describe('customers', () => {
  it('are created, listed with status and filters, suspended and activated', async () => {
    for (const [name, region] of [
      ['Initech', 'US'],
      ['Umbrella', 'EU'],
      ['Hooli', 'APAC'],
    ]) {
      expectData(
        await send(
          org.members.admin,
          `mutation { createCustomer(input: { name: "${name}", region: ${region}, plan: "enterprise" }) { id slug } }`,
        ),
      );
    }
    const list = async (filter: Loose = {}) =>
      expectData(
        await send(
          org.members.operator,
          'query($f: CustomerFilter) { customers(first: 50, filter: $f) { totalCount edges { node { name status region } } } }',
          { f: filter },
        ),
      ).customers;
    const all = await list();
    expect(all.totalCount).toBe(5);
    expect(all.edges.map((e: Loose) => e.node.name)).toEqual(
      [...all.edges.map((e: Loose) => e.node.name)].sort((x, y) => x.localeCompare(y)),
    );
    expect((await list({ region: 'EU' })).edges.map((e: Loose) => e.node.name)).toEqual(['Umbrella']);
    const umbrella = expectData(
      await send(org.members.admin, '{ customers(first: 1, filter: { search: "umbrella" }) { edges { node { id slug } } } }'),
    ).customers.edges[0].node;
    expect(umbrella.slug).toBe('umbrella');
    expect(
      expectData(
        await send(org.members.admin, 'mutation($id: ID!) { suspendCustomer(input: { id: $id }) { status } }', {
          id: umbrella.id,
        }),
      ),
    ).toEqual({
      suspendCustomer: { status: 'SUSPENDED' },
    });
    expect((await list({ status: 'SUSPENDED' })).edges.map((e: Loose) => e.node.name)).toEqual(['Umbrella']);
    expect(
      errorCodes(
        await send(org.members.admin, 'mutation($id: ID!) { suspendCustomer(input: { id: $id }) { status } }', {
          id: umbrella.id,
        }),
      ),
    ).toEqual(['CONFLICT']);
    expectData(
      await send(org.members.admin, 'mutation($id: ID!) { activateCustomer(input: { id: $id }) { status } }', {
        id: umbrella.id,
      }),
    );
  });

  it('enforce their monthly executions limit, and report usage', async () => {
    const customerId = org.customers[1]!.id;
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxExecutionsPerMonth: 2, maxConnections: 5 }) { limits { maxExecutionsPerMonth maxConnections } } }',
        {
          id: customerId,
        },
      ),
    );
    const run = () =>
      send(org.members.operator, 'mutation($w: ID!, $c: ID!) { executeWorkflow(input: { id: $w, customerId: $c }) { id } }', {
        w: org.workflows[0],
        c: customerId,
      });
    expectData(await run());
    expectData(await run());
    const over = await run();
    expect(errorCodes(over)).toEqual(['CONFLICT']);
    expect(over.body.errors![0]!.extensions).toMatchObject({ limit: 'maxExecutionsPerMonth', max: 2 });
    const customer = expectData(
      await send(
        org.members.viewer,
        'query($id: ID!) { customer(id: $id) { usage { executionsThisMonth } limits { maxExecutionsPerMonth } } }',
        { id: customerId },
      ),
    ).customer;
    expect(customer).toEqual({ usage: { executionsThisMonth: 2 }, limits: { maxExecutionsPerMonth: 2 } });
    // Negative limits are refused; null lifts a limit.
    expect(
      errorCodes(
        await send(
          org.members.admin,
          'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxExecutionsPerMonth: -1 }) { id } }',
          { id: customerId },
        ),
      ),
    ).toEqual(['BAD_USER_INPUT']);
    expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxExecutionsPerMonth: null }) { id } }',
        { id: customerId },
      ),
    );
    expectData(await run());
  });

  it('concurrent runs cannot overshoot the limit', async () => {
    const customerId = await t.world.customer(org, 'Racer');
    await send(
      org.members.admin,
      'mutation($id: ID!) { setCustomerLimits(input: { customerId: $id, maxExecutionsPerMonth: 3 }) { id } }',
      { id: customerId },
    );
    const token = await t.world.token(org.members.operator);
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.client.request(
          'mutation($w: ID!, $c: ID!) { executeWorkflow(input: { id: $w, customerId: $c }) { id } }',
          { w: org.workflows[0], c: customerId },
          { token, orgId: org.id },
        ),
      ),
    );
    expect(results.filter((r) => !r.body.errors).length).toBe(3);
  });

  it('the customer’s admin is invited as an End User of that customer and sees only it', async () => {
    const customerId = await t.world.customer(org, 'Widget Co');
    const admin = await t.world.user('widget-admin');
    const invitation = expectData(
      await send(
        org.members.admin,
        'mutation($c: ID!, $e: String!) { inviteCustomerAdmin(input: { customerId: $c, email: $e }) { id role { key } customer { id } } }',
        {
          c: customerId,
          e: admin.email,
        },
      ),
    ).inviteCustomerAdmin;
    expect(invitation).toMatchObject({ role: { key: 'end_user' }, customer: { id: customerId } });
    const token = await t.world.token(admin);
    expectData(
      await t.client.request(
        'mutation($id: ID!) { acceptInvitation(input: { id: $id }) { id } }',
        { id: invitation.id },
        { token },
      ),
    );
    const seen = expectData(
      await t.client.request<Loose>(
        '{ viewer { role { key } customer { id } } customers(first: 10) { totalCount edges { node { id } } } }',
        {},
        { token },
      ),
    );
    expect(seen.viewer).toEqual({ role: { key: 'end_user' }, customer: { id: customerId } });
    expect(seen.customers.edges.map((e: Loose) => e.node.id)).toEqual([customerId]);
    expect(seen.customers.totalCount).toBe(1);
    // Another customer of the same organization is like a missing one.
    expect(
      errorCodes(await t.client.request('query($id: ID!) { customer(id: $id) { id } }', { id: org.customers[0]!.id }, { token })),
    ).toEqual(['NOT_FOUND']);
  });

  it('invitations for customer roles must name a customer, and staff roles must not', async () => {
    const endUserRole = await t.world.systemRoleId(org, 'end_user');
    const viewerRole = await t.world.systemRoleId(org, 'viewer');
    const missing = await send(
      org.members.admin,
      'mutation($r: ID!) { inviteMember(input: { email: "eu@example.test", roleId: $r }) { id } }',
      { r: endUserRole },
    );
    expect(errorCodes(missing)).toEqual(['BAD_USER_INPUT']);
    expect(missing.body.errors![0]!.extensions!.field).toBe('input.customerId');
    const extra = await send(
      org.members.admin,
      'mutation($r: ID!, $c: ID!) { inviteMember(input: { email: "st@example.test", roleId: $r, customerId: $c }) { id } }',
      {
        r: viewerRole,
        c: org.customers[0]!.id,
      },
    );
    expect(errorCodes(extra)).toEqual(['BAD_USER_INPUT']);
  });
});
