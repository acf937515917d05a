/**
 * Guards of the administration pages. Each refusal: a clear error with a stable code, nothing
 * half-written, and a Denied (for FORBIDDEN) or Failure event in the audit trail.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemRole } from '../../src/authz/permissions.js';
import { asApp } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let org: SeededOrg;
let other: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Guarded');
  other = await t.world.organization('Elsewhere');
});
afterAll(() => t?.stop());

// Untyped operations (many one-offs); the answers' shapes are asserted below.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}) {
  return t.client.request<Loose>(query, variables, { token: await t.world.token(member), orgId: member.orgId });
}

/** The request's own audit events (sign-ins aside). */
async function eventsOf(response: GraphQLResponse, inOrg: SeededOrg = org) {
  return (await t.world.audit(inOrg, { requestId: response.headers.get('x-request-id')! }))
    .filter((e) => e.action !== 'auth.login')
    .map((e) => [e.action, e.outcome, e.details.code ?? null]);
}

const count = (table: string, o: SeededOrg = org) =>
  asApp(
    t.world.pool,
    { userId: o.members.owner.userId, orgId: o.id, role: 'staff' },
    async (c) => (await c.query(`select count(*)::int as n from ${table}`)).rows[0].n as number,
  );

describe('exactly one Owner', () => {
  it('the Owner cannot be deactivated, demoted or re-roled; nobody is made Owner by assignment', async () => {
    const owner = org.members.owner.membershipId;
    const adminRole = await t.world.systemRoleId(org, 'admin');
    const ownerRole = await t.world.systemRoleId(org, 'owner');
    const deactivate = await send(org.members.admin, 'mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { id } }', {
      m: owner,
    });
    expect(errorCodes(deactivate)).toEqual(['CONFLICT']);
    expect(await eventsOf(deactivate)).toEqual([['member.deactivate', 'failure', 'CONFLICT']]);
    const demote = await send(
      org.members.admin,
      'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }',
      { m: owner, r: adminRole },
    );
    expect(errorCodes(demote)).toEqual(['CONFLICT']);
    const promote = await send(
      org.members.admin,
      'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }',
      {
        m: org.members.viewer.membershipId,
        r: ownerRole,
      },
    );
    expect(errorCodes(promote)).toEqual(['BAD_USER_INPUT']);
    const self = await send(org.members.owner, 'mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { id } }', {
      m: owner,
    });
    expect(errorCodes(self)).toEqual(['CONFLICT']);
  });

  it('ownership goes only to an active staff member, only from the Owner', async () => {
    const byAdmin = await send(
      org.members.admin,
      'mutation($m: ID!) { transferOwnership(input: { memberId: $m }) { newOwner { id } } }',
      {
        m: org.members.admin.membershipId,
      },
    );
    expect(errorCodes(byAdmin)).toEqual(['FORBIDDEN']);
    expect(await eventsOf(byAdmin)).toEqual([['organization.transfer_ownership', 'denied', null]]);
    const toEndUser = await send(
      org.members.owner,
      'mutation($m: ID!) { transferOwnership(input: { memberId: $m }) { newOwner { id } } }',
      {
        m: org.members.end_user.membershipId,
      },
    );
    expect(errorCodes(toEndUser)).toEqual(['CONFLICT']);
  });

  it('a transfer swaps Owner and Admin in one step; the database refuses a second Owner', async () => {
    const fresh = await t.world.organization('Handover');
    const response = await send(
      fresh.members.owner,
      'mutation($m: ID!) { transferOwnership(input: { memberId: $m }) { previousOwner { role { key } } newOwner { role { key } } } }',
      {
        m: fresh.members.developer.membershipId,
      },
    );
    expect(expectData(response)).toEqual({
      transferOwnership: { previousOwner: { role: { key: 'admin' } }, newOwner: { role: { key: 'owner' } } },
    });
    const ownerRole = await t.world.systemRoleId(fresh, 'owner');
    const promote = (who: SeededMember, permissions: readonly string[]) =>
      asApp(
        t.world.pool,
        { userId: who.userId, orgId: fresh.id, role: 'staff', permissions },
        (c) => c.query('update memberships set role_id = $1 where id = $2', [ownerRole, fresh.members.viewer.membershipId]),
        { commit: true },
      );
    // An Admin may not hand out the Owner role at all (the row policies refuse it)…
    await expect(promote(fresh.members.admin, systemRole('admin').permissions)).rejects.toThrow(/row-level security/);
    // …and the new Owner making a second one is refused at commit.
    await expect(promote(fresh.members.developer, systemRole('owner').permissions)).rejects.toThrow(/active owners/);
  });
});

describe('no privilege escalation', () => {
  let manager: SeededMember;
  let adminRole: string;
  beforeAll(async () => {
    // Manages people and roles, but holds no billing or settings permission.
    manager = (
      await t.world.customRole(org, 'People manager', ['people.read', 'people.manage', 'roles.manage', 'workflows.read'])
    ).member;
    adminRole = await t.world.systemRoleId(org, 'admin');
  });

  it('cannot create or edit a role holding a permission they lack', async () => {
    const before = await count('roles');
    const create = await send(
      manager,
      'mutation { createRole(input: { name: "Sneaky", permissions: ["workflows.read", "billing.manage"] }) { id } }',
    );
    expect(errorCodes(create)).toEqual(['FORBIDDEN']);
    expect(create.body.errors![0]!.extensions!.missing).toEqual(['billing.manage']);
    expect(await eventsOf(create)).toEqual([['role.create', 'denied', 'FORBIDDEN']]);
    const duplicate = await send(manager, 'mutation($id: ID!) { duplicateRole(input: { id: $id, name: "Admin copy" }) { id } }', {
      id: adminRole,
    });
    expect(errorCodes(duplicate)).toEqual(['FORBIDDEN']);
    expect(await count('roles')).toBe(before);
  });

  it('cannot assign one: by role change, invitation, team or auto-approve', async () => {
    const attempts = [
      await send(manager, 'mutation($m: ID!, $r: ID!) { changeMemberRole(input: { memberId: $m, roleId: $r }) { id } }', {
        m: org.members.viewer.membershipId,
        r: adminRole,
      }),
      await send(manager, 'mutation($r: ID!) { inviteMember(input: { email: "x@example.test", roleId: $r }) { id } }', {
        r: adminRole,
      }),
      await send(manager, 'mutation($r: ID!) { createTeam(input: { name: "Admins", roleId: $r }) { id } }', { r: adminRole }),
    ];
    for (const response of attempts) expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect(await count('invitations')).toBe(0);
    expect(await count('teams')).toBe(0);
    const roleOfViewer = expectData(
      await send(org.members.owner, 'query($m: ID!) { member(id: $m) { role { key } } }', { m: org.members.viewer.membershipId }),
    );
    expect(roleOfViewer).toEqual({ member: { role: { key: 'viewer' } } });
  });

  it('cannot touch a member more privileged than they are', async () => {
    const response = await send(manager, 'mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { id } }', {
      m: org.members.admin.membershipId,
    });
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect(await eventsOf(response)).toEqual([['member.deactivate', 'denied', 'FORBIDDEN']]);
  });

  it('cannot join a team that carries a role beyond their own, or put others on it', async () => {
    const team = expectData(
      await send(org.members.owner, 'mutation($r: ID!) { createTeam(input: { name: "Billing team", roleId: $r }) { id } }', {
        r: adminRole,
      }),
    );
    const response = await send(
      manager,
      'mutation($t: ID!, $m: ID!) { addTeamMember(input: { teamId: $t, memberId: $m }) { id } }',
      {
        t: team.createTeam!.id,
        m: manager.membershipId,
      },
    );
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    await send(org.members.owner, 'mutation($id: ID!) { deleteTeam(input: { id: $id }) { deletedTeamId } }', {
      id: team.createTeam!.id,
    });
  });
});

describe('names and keys', () => {
  it('a custom role may not take a system role’s name, nor an existing name in another case', async () => {
    for (const name of ['admin', 'End User', 'OWNER']) {
      const response = await send(
        org.members.admin,
        'mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }',
        { n: name },
      );
      expect(errorCodes(response), name).toEqual(['CONFLICT']);
    }
    expectData(
      await send(
        org.members.admin,
        'mutation { createRole(input: { name: "Support", permissions: ["customers.read"] }) { id } }',
      ),
    );
    const again = await send(org.members.admin, 'mutation { createRole(input: { name: "  SUPPORT ", permissions: [] }) { id } }');
    expect(errorCodes(again)).toEqual(['CONFLICT']);
    expect(again.body.errors![0]!.extensions!.field).toBe('input.name');
    expect(await eventsOf(again)).toEqual([['role.create', 'failure', 'CONFLICT']]);
  });

  it('unknown permission keys are named', async () => {
    const response = await send(
      org.members.admin,
      'mutation { createRole(input: { name: "Typo", permissions: ["workflows.raed"] }) { id } }',
    );
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.errors![0]!.message).toContain('"workflows.raed"');
  });

  it('teams, customer slugs and pending invitations are unique per organization', async () => {
    expectData(await send(org.members.admin, 'mutation { createTeam(input: { name: "Platform" }) { id } }'));
    expect(errorCodes(await send(org.members.admin, 'mutation { createTeam(input: { name: "platform" }) { id } }'))).toEqual([
      'CONFLICT',
    ]);
    expectData(await send(org.members.admin, 'mutation { createCustomer(input: { name: "Globex", slug: "globex" }) { id } }'));
    expect(
      errorCodes(
        await send(org.members.admin, 'mutation { createCustomer(input: { name: "Globex 2", slug: "globex" }) { id } }'),
      ),
    ).toEqual(['CONFLICT']);
    // The same slug in another organization is fine.
    expectData(await send(other.members.admin, 'mutation { createCustomer(input: { name: "Globex", slug: "globex" }) { id } }'));
    const viewerRole = await t.world.systemRoleId(org, 'viewer');
    expectData(
      await send(
        org.members.admin,
        'mutation($r: ID!) { inviteMember(input: { email: "twice@example.test", roleId: $r }) { id } }',
        { r: viewerRole },
      ),
    );
    expect(
      errorCodes(
        await send(
          org.members.admin,
          'mutation($r: ID!) { inviteMember(input: { email: "TWICE@example.test", roleId: $r }) { id } }',
          { r: viewerRole },
        ),
      ),
    ).toEqual(['CONFLICT']);
    const member = await send(
      org.members.admin,
      'mutation($e: String!, $r: ID!) { inviteMember(input: { email: $e, roleId: $r }) { id } }',
      {
        e: org.members.developer.email,
        r: viewerRole,
      },
    );
    expect(errorCodes(member)).toEqual(['CONFLICT']);
  });
});

describe('roles', () => {
  it('system roles are immutable', async () => {
    const developerRole = await t.world.systemRoleId(org, 'developer');
    const update = await send(org.members.owner, 'mutation($id: ID!) { updateRole(input: { id: $id, name: "Dev" }) { id } }', {
      id: developerRole,
    });
    expect(errorCodes(update)).toEqual(['FORBIDDEN']);
    expect(await eventsOf(update)).toEqual([['role.update', 'denied', 'FORBIDDEN']]);
    expect(
      errorCodes(
        await send(org.members.owner, 'mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', {
          id: developerRole,
        }),
      ),
    ).toEqual(['FORBIDDEN']);
  });

  it('a role in use cannot be deleted, and the error says who holds it', async () => {
    const { roleId } = await t.world.customRole(org, 'Auditor', ['audit_log.read']);
    const second = await t.world.member(org, 'viewer', 'second-auditor');
    await t.world.inOrg(org, async (db) => {
      await db.query('update memberships set role_id = $1 where id = $2', [roleId, second.membershipId]);
      await db.query(`insert into teams (org_id, name, role_id) values ($1, 'Audit team', $2)`, [org.id, roleId]);
    });
    const response = await send(org.members.owner, 'mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', {
      id: roleId,
    });
    expect(errorCodes(response)).toEqual(['CONFLICT']);
    expect(response.body.errors![0]!.message).toBe(
      'This role is in use by 2 members and 1 team; move them to another role first.',
    );
    expect(response.body.errors![0]!.extensions).toMatchObject({ memberCount: 2, teamCount: 1 });
    expect(await eventsOf(response)).toEqual([['role.delete', 'failure', 'CONFLICT']]);
    expect(
      expectData(await send(org.members.owner, 'query($id: ID!) { role(id: $id) { usage { members teams } } }', { id: roleId })),
    ).toEqual({
      role: { usage: { members: 2, teams: 1 } },
    });
  });
});

describe('invitations', () => {
  let invitationId: string;
  beforeAll(async () => {
    const viewerRole = await t.world.systemRoleId(org, 'viewer');
    invitationId = expectData(
      await send(
        org.members.admin,
        'mutation($r: ID!) { inviteMember(input: { email: "intended@example.test", roleId: $r }) { id } }',
        { r: viewerRole },
      ),
    ).inviteMember!.id as string;
  });

  it('someone else cannot accept it: it answers like a missing one, and a Denied event lands in that organization', async () => {
    const stranger = await t.world.user('stranger');
    const token = await t.world.token(stranger);
    const accept = (id: string) =>
      t.client.request('mutation($id: ID!) { acceptInvitation(input: { id: $id }) { id } }', { id }, { token });
    const response = await accept(invitationId);
    expect(errorCodes(response)).toEqual(['NOT_FOUND']);
    const missing = await accept(randomUUID());
    expect(JSON.stringify(response.body).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID')).toBe(
      JSON.stringify(missing.body).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID'),
    );
    expect(await eventsOf(response)).toEqual([['member.accept_invitation', 'denied', 'NOT_FOUND']]);
    const pending = expectData(
      await send(org.members.admin, 'query($id: ID!) { invitation(id: $id) { status } }', { id: invitationId }),
    );
    expect(pending).toEqual({ invitation: { status: 'PENDING' } });
  });

  it('an unverified email cannot accept it, even the right one', async () => {
    const intended = await t.world.user('intended');
    const token = await t.world.issuer.mint({ sub: intended.subject, email: 'intended@example.test', emailVerified: false });
    const response = await t.client.request(
      'mutation($id: ID!) { acceptInvitation(input: { id: $id }) { id } }',
      { id: invitationId },
      { token },
    );
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });

  it('revoked and expired invitations cannot be accepted; unknown ones are NOT_FOUND', async () => {
    const viewerRole = await t.world.systemRoleId(org, 'viewer');
    const revoked = expectData(
      await send(
        org.members.admin,
        'mutation($r: ID!) { inviteMember(input: { email: "revoked@example.test", roleId: $r }) { id } }',
        { r: viewerRole },
      ),
    ).inviteMember!.id as string;
    expectData(
      await send(org.members.admin, 'mutation($id: ID!) { revokeInvitation(input: { id: $id }) { status } }', { id: revoked }),
    );
    const user = await t.world.user('revoked');
    const token = await t.world.issuer.mint({ sub: user.subject, email: 'revoked@example.test' });
    const accept = (id: string, tok = token) =>
      t.client.request('mutation($id: ID!) { acceptInvitation(input: { id: $id }) { id } }', { id }, { token: tok });
    const refused = await accept(revoked);
    expect(errorCodes(refused)).toEqual(['CONFLICT']);
    expect(await eventsOf(refused)).toEqual([['member.accept_invitation', 'failure', 'CONFLICT']]);
    const expiring = expectData(
      await send(
        org.members.admin,
        'mutation($r: ID!) { inviteMember(input: { email: "late@example.test", roleId: $r }) { id } }',
        { r: viewerRole },
      ),
    ).inviteMember!.id as string;
    await t.world.inOrg(org, (db) =>
      db.query(`update invitations set expires_at = now() - interval '1 minute' where id = $1`, [expiring]),
    );
    const late = await t.world.user('late');
    expect(
      errorCodes(await accept(expiring, await t.world.issuer.mint({ sub: late.subject, email: 'late@example.test' }))),
    ).toEqual(['CONFLICT']);
    expect(errorCodes(await accept(randomUUID()))).toEqual(['NOT_FOUND']);
    // Resending revives an expired invitation.
    expect(
      expectData(
        await send(org.members.admin, 'mutation($id: ID!) { resendInvitation(input: { id: $id }) { status sendCount } }', {
          id: expiring,
        }),
      ),
    ).toEqual({
      resendInvitation: { status: 'PENDING', sendCount: 2 },
    });
  });
});

describe('another organization’s ids answer exactly like missing ones', () => {
  const cases: [string, string, () => Record<string, unknown>][] = [
    ['member', 'query($id: ID!) { member(id: $id) { id } }', () => ({ id: other.members.viewer.membershipId })],
    ['role', 'query($id: ID!) { role(id: $id) { id } }', () => ({ id: otherRoleId })],
    ['customer', 'query($id: ID!) { customer(id: $id) { id } }', () => ({ id: other.customers[0]!.id })],
    [
      'changeMemberRole',
      'mutation($id: ID!, $r: ID!) { changeMemberRole(input: { memberId: $id, roleId: $r }) { id } }',
      () => ({ id: other.members.viewer.membershipId, r: ownViewerRole }),
    ],
    [
      'deactivateMember',
      'mutation($id: ID!) { deactivateMember(input: { memberId: $id }) { id } }',
      () => ({ id: other.members.viewer.membershipId }),
    ],
    [
      'suspendCustomer',
      'mutation($id: ID!) { suspendCustomer(input: { id: $id }) { id } }',
      () => ({ id: other.customers[0]!.id }),
    ],
    ['deleteRole', 'mutation($id: ID!) { deleteRole(input: { id: $id }) { deletedRoleId } }', () => ({ id: otherRoleId })],
    [
      'inviteMember with their role',
      'mutation($id: ID!) { inviteMember(input: { email: "z@example.test", roleId: $id }) { id } }',
      () => ({ id: otherRoleId }),
    ],
  ];
  let otherRoleId: string;
  let ownViewerRole: string;
  beforeAll(async () => {
    otherRoleId = (await t.world.customRole(other, 'Theirs', ['workflows.read'])).roleId;
    ownViewerRole = await t.world.systemRoleId(org, 'viewer');
  });

  it.each(cases)('%s', async (_name, query, variables) => {
    const vars = variables();
    const foreign = await send(org.members.owner, query, vars);
    const missing = await send(
      org.members.owner,
      query,
      Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, k === 'r' ? v : randomUUID()])),
    );
    expect(errorCodes(foreign)).toEqual(['NOT_FOUND']);
    const strip = (r: GraphQLResponse) => JSON.stringify(r.body).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID');
    expect(strip(foreign)).toBe(strip(missing));
  });

  it('and nothing of theirs changed', async () => {
    const viewer = expectData(
      await send(other.members.owner, 'query($id: ID!) { member(id: $id) { status role { key } } }', {
        id: other.members.viewer.membershipId,
      }),
    );
    expect(viewer).toEqual({ member: { status: 'ACTIVE', role: { key: 'viewer' } } });
    const customer = expectData(
      await send(other.members.owner, 'query($id: ID!) { customer(id: $id) { status } }', { id: other.customers[0]!.id }),
    );
    expect(customer).toEqual({ customer: { status: 'ACTIVE' } });
  });
});

describe('findings of the review, kept fixed', () => {
  it('auto-approval cannot be turned on into a role the caller does not hold', async () => {
    const fresh = await t.world.organization('AutoApprove');
    const adminRole = await t.world.systemRoleId(fresh, 'admin');
    expectData(
      await send(
        fresh.members.owner,
        'mutation($r: ID!) { updateOrganizationSettings(input: { autoApproveRoleId: $r }) { id } }',
        { r: adminRole },
      ),
    );
    const settingsOnly = (await t.world.customRole(fresh, 'Settings only', ['settings.manage'])).member;
    const response = await send(
      settingsOnly,
      'mutation { updateOrganizationSettings(input: { emailDomain: "evil.test", autoApproveDomainUsers: true }) { id } }',
    );
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    // Nor into the default (Viewer) role, whose reads they lack.
    expectData(
      await send(fresh.members.owner, 'mutation { updateOrganizationSettings(input: { autoApproveRoleId: null }) { id } }'),
    );
    await t.world.inOrg(fresh, (db) =>
      db.query('update organizations set auto_approve_role_id = null where id = $1', [fresh.id]),
    );
    expect(
      errorCodes(
        await send(
          settingsOnly,
          'mutation { updateOrganizationSettings(input: { emailDomain: "evil.test", autoApproveDomainUsers: true }) { id } }',
        ),
      ),
    ).toEqual(['FORBIDDEN']);
    // Changing something else (the timezone) is fine.
    expectData(await send(settingsOnly, 'mutation { updateOrganizationSettings(input: { timezone: "Asia/Tokyo" }) { id } }'));
  });

  it('a member made powerful by a team is out of reach of a less powerful manager', async () => {
    const fresh = await t.world.organization('Powerful');
    const adminRole = await t.world.systemRoleId(fresh, 'admin');
    await t.world.inOrg(fresh, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into teams (org_id, name, role_id) values ($1, 'Admins', $2) returning id`,
        [fresh.id, adminRole],
      );
      await db.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [
        fresh.id,
        rows[0]!.id,
        fresh.members.viewer.membershipId,
      ]);
    });
    const hr = (
      await t.world.customRole(fresh, 'HR', [
        'people.read',
        'people.manage',
        'connectors.read',
        'connections.read',
        'workflows.read',
        'agents.read',
        'tools.read',
        'executions.read',
        'customers.read',
      ])
    ).member;
    const response = await send(hr, 'mutation($m: ID!) { deactivateMember(input: { memberId: $m }) { id } }', {
      m: fresh.members.viewer.membershipId,
    });
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });

  it('a custom role that may execute but not read executions still gets its result, and one Success event', async () => {
    const fresh = await t.world.organization('Runner', { workflows: 1 });
    const runner = (await t.world.customRole(fresh, 'Runner only', ['workflows.read', 'workflows.execute'])).member;
    const response = await send(
      runner,
      'mutation($w: ID!, $c: ID!) { executeWorkflow(input: { id: $w, customerId: $c }) { id status } }',
      {
        w: fresh.workflows[0],
        c: fresh.customers[0]!.id,
      },
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data!.executeWorkflow.status).toBe('QUEUED');
    expect(await eventsOf(response, fresh)).toEqual([['workflow.execute', 'success', null]]);
    // Nested fields keep their own rules.
    const nested = await send(
      runner,
      'mutation($w: ID!, $c: ID!) { executeWorkflow(input: { id: $w, customerId: $c }) { id customer { name } } }',
      {
        w: fresh.workflows[0],
        c: fresh.customers[0]!.id,
      },
    );
    expect(nested.body.data!.executeWorkflow.customer).toBeNull();
    expect(errorCodes(nested)).toEqual(['FORBIDDEN']);
  });

  it('distinct failures in one operation are each recorded', async () => {
    const response = await send(
      org.members.admin,
      'mutation { a: createWorkflow(input: { name: "" }) { id } b: createWorkflow(input: { name: " " }) { id } }',
    );
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT', 'BAD_USER_INPUT']);
    expect(await eventsOf(response)).toEqual([
      ['workflow.create', 'failure', 'BAD_USER_INPUT'],
      ['workflow.create', 'failure', 'BAD_USER_INPUT'],
    ]);
  });

  it('a forged cursor of the right shape is BAD_USER_INPUT, and does not break the other fields', async () => {
    const forged = Buffer.from(JSON.stringify(['not a date', randomUUID()])).toString('base64url');
    const response = await send(
      org.members.admin,
      'query($c: String) { workflows(first: 2, after: $c) { totalCount } roles { id } }',
      { c: forged },
    );
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.body.data!.roles.length).toBeGreaterThan(0);
  });
});
