/**
 * The People page as a story: an owner creates an organization, invites people with different
 * roles (and a customer's admin), they accept, each can do exactly what the matrix says, a role
 * change and a deactivation take effect on the very next request (on another replica, too),
 * and the audit log shows every step with its outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRole } from '../../src/authz/permissions.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededUser } from '../helpers/world.js';

let a: TestGateway; // replica A
let b: TestGateway; // replica B: same database, same issuer

beforeAll(async () => {
  a = await startTestGateway();
  b = await startTestGateway({}, { db: a.db, issuer: a.issuer });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

const people: Record<string, SeededUser> = {};
const tokens: Record<string, string> = {};
let orgId: string;
let customerId: string;
const roleIds: Record<string, string> = {};
const memberIds: Record<string, string> = {};
let buildersTeam: string;

async function gql<T = Record<string, unknown>>(
  who: string,
  query: string,
  variables: Record<string, unknown> = {},
  replica = a,
) {
  return replica.client.request<T>(query, variables, { token: tokens[who], orgId });
}

describe('story', () => {
  it('1. the owner creates an organization, a customer and a team', async () => {
    for (const who of ['owner', 'admin', 'developer', 'operator', 'viewer', 'customerAdmin']) {
      people[who] = await a.world.user(who);
      tokens[who] = await a.world.token(people[who]!);
    }
    const created = expectData(
      await a.client.request<{ createOrganization: { id: string } }>(
        'mutation { createOrganization(input: { name: "Story Co" }) { id } }',
        {},
        { token: tokens.owner },
      ),
    );
    orgId = created.createOrganization.id;
    const roles = expectData(await gql<{ roles: { id: string; key: string }[] }>('owner', '{ roles { id key } }')).roles;
    for (const role of roles) roleIds[role.key] = role.id;
    customerId = expectData(
      await gql<{ createCustomer: { id: string } }>(
        'owner',
        'mutation { createCustomer(input: { name: "Acme Corp", region: EU }) { id slug } }',
      ),
    ).createCustomer.id;
    const team = expectData(
      await gql<{ createTeam: { id: string } }>(
        'owner',
        'mutation($r: ID!) { createTeam(input: { name: "Builders", roleId: $r }) { id } }',
        {
          r: roleIds.viewer,
        },
      ),
    );
    buildersTeam = team.createTeam.id;
  });

  it('2. invites people with their roles (one into a team) and the customer’s admin as an End User', async () => {
    for (const who of ['admin', 'developer', 'operator', 'viewer']) {
      const response = await gql(
        'owner',
        'mutation($e: String!, $r: ID!, $t: [ID!]) { inviteMember(input: { email: $e, roleId: $r, teamIds: $t }) { id status } }',
        {
          e: people[who]!.email.toUpperCase(), // emails are matched case-insensitively
          r: roleIds[who],
          t: who === 'developer' ? [buildersTeam] : [],
        },
      );
      expect(expectData(response)).toMatchObject({ inviteMember: { status: 'PENDING' } });
    }
    expectData(
      await gql('owner', 'mutation($c: ID!, $e: String!) { inviteCustomerAdmin(input: { customerId: $c, email: $e }) { id } }', {
        c: customerId,
        e: people.customerAdmin!.email,
      }),
    );
    const invited = expectData(
      await gql<{ people: { totalCount: number } }>('owner', '{ people(first: 50, filter: { status: INVITED }) { totalCount } }'),
    );
    expect(invited.people.totalCount).toBe(5);
  });

  it('3. each invitee sees the invitation and accepts it', async () => {
    for (const who of ['admin', 'developer', 'operator', 'viewer', 'customerAdmin']) {
      const viewer = expectData(
        await a.client.request<{ viewer: { invitations: { id: string; organizationName: string }[] } }>(
          '{ viewer { invitations { id organizationName roleName } } }',
          {},
          { token: tokens[who] },
        ),
      ).viewer;
      expect(viewer.invitations).toHaveLength(1);
      expect(viewer.invitations[0]!.organizationName).toBe('Story Co');
      const accepted = await a.client.request(
        'mutation($id: ID!) { acceptInvitation(input: { id: $id }) { id name } }',
        { id: viewer.invitations[0]!.id },
        { token: tokens[who] },
      );
      expect(expectData(accepted)).toEqual({ acceptInvitation: { id: orgId, name: 'Story Co' } });
    }
    const members = expectData(
      await gql<{
        people: { edges: { node: { name: string; status: string; role: { key: string }; member: { id: string } } }[] };
      }>('admin', '{ people(first: 50) { edges { node { name status role { key } member { id } } } } }'),
    ).people.edges.map((e) => e.node);
    expect(members).toHaveLength(6);
    expect(members.every((m) => m.status === 'ACTIVE')).toBe(true);
    for (const [who, user] of Object.entries(people)) memberIds[who] = members.find((m) => m.name === user.name)!.member.id;
  });

  it('4. each sees exactly what the matrix lets them see', async () => {
    const expected: Record<string, number> = { owner: 39, admin: 39, developer: 34, operator: 18, viewer: 7, customerAdmin: 9 };
    for (const [who, count] of Object.entries(expected)) {
      const viewer = expectData(
        await gql<{ viewer: { permissions: string[]; role: { key: string } } }>(who, '{ viewer { permissions role { key } } }'),
      ).viewer;
      expect(viewer.permissions, who).toHaveLength(count);
    }
    // The customer's admin is confined to their customer.
    const widget = expectData(
      await gql<{ customers: { edges: { node: { id: string } }[] } }>(
        'customerAdmin',
        '{ customers(first: 10) { edges { node { id } } } }',
      ),
    );
    expect(widget.customers.edges.map((e) => e.node.id)).toEqual([customerId]);
    expect(errorCodes(await gql('customerAdmin', '{ people(first: 1) { totalCount } }'))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await gql('viewer', 'mutation { createWorkflow(input: { name: "nope" }) { id } }'))).toEqual(['FORBIDDEN']);
    expectData(await gql('developer', 'mutation { createWorkflow(input: { name: "Built by dev" }) { id } }'));
  });

  it('5. filters: by role, team, status, and text search', async () => {
    const q = '($f: PeopleFilter) { people(first: 50, filter: $f) { edges { node { name } } } }';
    const names = async (filter: Record<string, unknown>) =>
      expectData(
        await gql<{ people: { edges: { node: { name: string } }[] } }>('admin', `query${q}`, { f: filter }),
      ).people.edges.map((e) => e.node.name);
    expect(await names({ roleId: roleIds.operator })).toEqual([people.operator!.name]);
    expect(await names({ teamId: buildersTeam })).toEqual([people.developer!.name]);
    expect(await names({ search: people.viewer!.email.slice(0, 12).toUpperCase() })).toEqual([people.viewer!.name]);
    expect(await names({ status: 'INACTIVE' })).toEqual([]);
  });

  it('6. a role change applies on the very next request — on another replica too', async () => {
    // Warm replica B's cache with the developer's current role.
    expectData(await gql('developer', '{ workflows(first: 1) { totalCount } }', {}, b));
    expectData(
      await gql('admin', 'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }', {
        m: memberIds.developer,
        r: roleIds.viewer,
      }),
    );
    const denied = await gql('developer', 'mutation { createWorkflow(input: { name: "after demotion" }) { id } }', {}, b);
    expect(errorCodes(denied)).toEqual(['FORBIDDEN']);
    const viewer = expectData(
      await gql<{ viewer: { permissions: string[] } }>('developer', '{ viewer { permissions } }', {}, b),
    ).viewer;
    expect(viewer.permissions).toEqual([...systemRole('viewer').permissions]);
  });

  it('7. deactivation refuses the member’s next request at once; reactivation restores it', async () => {
    expectData(await gql('operator', '{ viewer { permissions } }', {}, b));
    expectData(
      await gql('admin', 'mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { status } }', { m: memberIds.operator }),
    );
    const refused = await gql('operator', '{ viewer { permissions } }', {}, b);
    expect(refused.status).toBe(403);
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    expectData(
      await gql('admin', 'mutation($m: ID!) { reactivateMember(input: { memberId: $m }) { status } }', { m: memberIds.operator }),
    );
    expect((await gql('operator', '{ viewer { permissions } }', {}, b)).status).toBe(200);
  });

  it('8. last active is recorded, without a write on every request', async () => {
    const read = async () =>
      expectData(
        await gql<{ member: { lastActiveAt: string | null } }>('admin', 'query($m: ID!) { member(id: $m) { lastActiveAt } }', {
          m: memberIds.viewer,
        }),
      ).member.lastActiveAt;
    const first = await read();
    expect(first).not.toBeNull();
    await gql('viewer', '{ viewer { permissions } }');
    await gql('viewer', '{ viewer { permissions } }');
    expect(await read()).toBe(first);
  });

  it('9. the audit log shows every step with its outcome', async () => {
    const log = expectData(
      await gql<{
        auditLog: { totalCount: number; edges: { node: { action: string; outcome: string; actor: { name: string } } }[] };
      }>('owner', '{ auditLog(first: 100) { totalCount edges { node { action outcome actor { name } } } } }'),
    ).auditLog;
    const steps = log.edges
      .map((e) => e.node)
      .filter((e) => e.action !== 'auth.login')
      .reverse()
      .map((e) => `${e.action} ${e.outcome.toLowerCase()}`);
    expect(steps).toEqual([
      'organization.create success',
      'customer.create success',
      'team.create success',
      'member.invite success',
      'member.invite success',
      'member.invite success',
      'member.invite success',
      'customer.invite_admin success',
      'member.accept_invitation success',
      'member.accept_invitation success',
      'member.accept_invitation success',
      'member.accept_invitation success',
      'member.accept_invitation success',
      'member.read denied', // the customer's admin on the People page
      'workflow.create denied', // the viewer
      'workflow.create success', // the developer
      'member.change_role success',
      'workflow.create denied', // the demoted developer, on replica B
      'member.deactivate success',
      'member.reactivate success',
    ]);
    // One sign-in per token session and organization, each attributed.
    const logins = log.edges.filter((e) => e.node.action === 'auth.login');
    expect(new Set(logins.map((e) => e.node.actor.name)).size).toBe(6);
  });
});
