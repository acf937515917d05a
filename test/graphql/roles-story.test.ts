/**
 * The Roles page as a story: duplicate a system role as custom, edit it, read its per-category
 * matrix, assign it, see it take effect, and delete it once nobody holds it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectionQuery, expectWalk, type PageArgs } from '../helpers/paging.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

let t: TestGateway;
let org: SeededOrg;
beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Roleplay', { workflows: 1 });
});
afterAll(() => t?.stop());

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}) {
  return t.client.request<Loose>(query, variables, { token: await t.world.token(member), orgId: member.orgId });
}

it('duplicate → edit → assign → takes effect → delete when free, all in the audit log', async () => {
  const admin = org.members.admin;
  const developerRole = await t.world.systemRoleId(org, 'developer');
  const copy = expectData(
    await send(admin, 'mutation($id: ID!) { duplicateRole(input: { id: $id }) { id name isSystem permissionCount } }', {
      id: developerRole,
    }),
  ).duplicateRole;
  expect(copy).toMatchObject({ name: 'Developer (custom)', isSystem: false, permissionCount: 34 });

  const permissions = expectData(await send(admin, 'query($id: ID!) { role(id: $id) { permissions } }', { id: copy.id })).role
    .permissions as string[];
  const edited = expectData(
    await send(
      admin,
      'mutation($id: ID!, $p: [String!]) { updateRole(input: { id: $id, name: "Builder", permissions: $p }) { name permissionCount categories { category { key } granted total permissions { permission { key } granted } } } }',
      {
        id: copy.id,
        p: permissions.filter((p) => p !== 'workflows.deploy_prod'),
      },
    ),
  ).updateRole;
  expect(edited.name).toBe('Builder');
  expect(edited.permissionCount).toBe(33);
  const workflows = edited.categories.find((c: Loose) => c.category.key === 'workflows');
  expect(`${workflows.granted}/${workflows.total}`).toBe('6/7');
  expect(workflows.permissions.find((p: Loose) => p.permission.key === 'workflows.deploy_prod').granted).toBe(false);

  const dev = org.members.developer;
  const deployProd = 'mutation($id: ID!) { deployWorkflowToProduction(input: { id: $id }) { version } }';
  expectData(await send(dev, deployProd, { id: org.workflows[0] }));
  expectData(
    await send(admin, 'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { role { name } } }', {
      m: dev.membershipId,
      r: copy.id,
    }),
  );
  expect(errorCodes(await send(dev, deployProd, { id: org.workflows[0] }))).toEqual(['FORBIDDEN']);
  expect(
    expectData(await send(admin, '{ roles { name memberCount } }')).roles.find((r: Loose) => r.name === 'Builder').memberCount,
  ).toBe(1);

  const inUse = await send(admin, 'mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', { id: copy.id });
  expect(errorCodes(inUse)).toEqual(['CONFLICT']);
  expect(inUse.body.errors![0]!.message).toContain('1 member');
  expectData(
    await send(admin, 'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }', {
      m: dev.membershipId,
      r: developerRole,
    }),
  );
  expectData(await send(admin, 'mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', { id: copy.id }));
  expectData(await send(dev, deployProd, { id: org.workflows[0] }));

  const log = expectData(
    await send(admin, '{ auditLog(first: 50, filter: { resourceType: "role" }) { edges { node { action outcome } } } }'),
  )
    .auditLog.edges.map((e: Loose) => `${e.node.action} ${e.node.outcome}`)
    .reverse();
  expect(log).toEqual(['role.duplicate SUCCESS', 'role.update SUCCESS', 'role.delete FAILURE', 'role.delete SUCCESS']);
});

it('rolesConnection (issue 10) pages every role in the order of roles: system ones, then custom ones by name', async () => {
  for (const name of ['zeta paged', 'Alpha paged', 'mu paged']) await t.world.customRole(org, name, ['workflows.read']);
  const plain = expectData(await send(org.members.admin, '{ roles { id key name permissionCount } }')).roles as Loose[];
  expect(plain.slice(0, 6).every((r) => r.key !== null)).toBe(true);
  const query = connectionQuery('rolesConnection');
  // Pages of 4: the second page starts in the system roles and ends in the custom ones.
  const fetch = async (args: PageArgs) => expectData(await send(org.members.developer, query, { ...args })).rolesConnection;
  await expectWalk(
    fetch,
    4,
    plain.map((r) => r.id),
  );
  await expectWalk(
    fetch,
    1,
    plain.map((r) => r.id),
  );
  // The same rows as the plain list, permissions included (system ones from the matrix).
  const paged = expectData(
    await send(org.members.admin, '{ rolesConnection(first: 100) { edges { node { id key name permissionCount } } } }'),
  ).rolesConnection.edges.map((e: Loose) => e.node);
  expect(paged).toEqual(plain);

  // The same refusal as the plain list for a role without people.read.
  const endUser = org.members.end_user;
  const [plainDenied, pagedDenied] = [
    await send(endUser, '{ roles { id } }'),
    await send(endUser, '{ rolesConnection(first: 5) { edges { node { id } } } }'),
  ];
  expect(plainDenied.body.data).toEqual({ roles: null });
  expect(pagedDenied.body.data).toEqual({ rolesConnection: null });
  expect(errorCodes(pagedDenied)).toEqual(errorCodes(plainDenied));
  expect(errorCodes(pagedDenied)).toEqual(['FORBIDDEN']);
  // A cursor of another list (or a forged part) is bad input, not an internal error.
  const teamCursor = Buffer.from(JSON.stringify(['x', '00000000-0000-4000-8000-000000000000'])).toString('base64url');
  const forged = Buffer.from(JSON.stringify(['7:x', '00000000-0000-4000-8000-000000000000'])).toString('base64url');
  for (const cursor of [
    teamCursor,
    forged,
    Buffer.from(JSON.stringify(['0:abc', '00000000-0000-4000-8000-000000000000'])).toString('base64url'),
  ]) {
    expect(errorCodes(await send(org.members.admin, query, { first: 2, after: cursor }))).toEqual(['BAD_USER_INPUT']);
  }
});
