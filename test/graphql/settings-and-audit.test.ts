/**
 * Settings (and joining by email domain), deleting an organization (its trail stays until
 * retention), the audit log's filters and pages, and auth.login once per sign-in session.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeAuditEvents } from '../../src/audit/retention.js';
import { asApp } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectionQuery, expectWalk, type PageArgs } from '../helpers/paging.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

let t: TestGateway;
let org: SeededOrg;

beforeAll(async () => {
  t = await startTestGateway();
  org = await t.world.organization('Settled');
});
afterAll(() => t?.stop());

async function send(member: SeededMember, query: string, variables: Record<string, unknown> = {}, token?: string) {
  return t.client.request<Loose>(query, variables, { token: token ?? (await t.world.token(member)), orgId: member.orgId });
}

describe('settings', () => {
  it('reads and updates name, timezone, email domain and auto-approve', async () => {
    const updated = expectData(
      await send(
        org.members.admin,
        `mutation { updateOrganizationSettings(input: { name: "Settled GmbH", timezone: "Europe/Berlin", emailDomain: "@Settled.Example" }) {
           name settings { timezone emailDomain autoApproveDomainUsers autoApproveRole { key } } } }`,
      ),
    );
    expect(updated.updateOrganizationSettings).toEqual({
      name: 'Settled GmbH',
      settings: {
        timezone: 'Europe/Berlin',
        emailDomain: 'settled.example',
        autoApproveDomainUsers: false,
        autoApproveRole: null,
      },
    });
  });

  it('refuses bad values, naming the field, and changes nothing', async () => {
    for (const [input, field] of [
      ['{ timezone: "Mars/Olympus" }', 'input.timezone'],
      ['{ emailDomain: "not a domain" }', 'input.emailDomain'],
      ['{ name: "" }', 'input.name'],
    ] as const) {
      const response = await send(org.members.admin, `mutation { updateOrganizationSettings(input: ${input}) { id } }`);
      expect(errorCodes(response), input).toEqual(['BAD_USER_INPUT']);
      expect(response.body.errors![0]!.extensions!.field).toBe(field);
    }
    const ownerRole = await t.world.systemRoleId(org, 'owner');
    const owner = await send(
      org.members.admin,
      'mutation($r: ID!) { updateOrganizationSettings(input: { autoApproveRoleId: $r }) { id } }',
      { r: ownerRole },
    );
    expect(errorCodes(owner)).toEqual(['BAD_USER_INPUT']);
    const settings = expectData(
      await send(org.members.admin, '{ viewer { organization { name settings { timezone emailDomain } } } }'),
    );
    expect(settings.viewer.organization).toEqual({
      name: 'Settled GmbH',
      settings: { timezone: 'Europe/Berlin', emailDomain: 'settled.example' },
    });
  });

  it('are hidden from members without settings.manage', async () => {
    const response = await send(org.members.developer, '{ viewer { organization { name settings { timezone } } } }');
    expect(response.body.data?.viewer.organization).toEqual({ name: 'Settled GmbH', settings: null });
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });
});

describe('joining by email domain', () => {
  it('without auto-approve: a request, approved by an admin with a role', async () => {
    const asker = await t.world.user('asker');
    const token = await t.world.issuer.mint({ sub: asker.subject, email: 'newcomer@settled.example', name: 'New Comer' });
    const joinable = expectData(
      await t.client.request<Loose>('{ viewer { joinableOrganizations { id name autoApprove } } }', {}, { token }),
    );
    expect(joinable.viewer.joinableOrganizations).toEqual([{ id: org.id, name: 'Settled GmbH', autoApprove: false }]);
    const asked = await t.client.request<Loose>(
      'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status } }',
      { o: org.id },
      { token },
    );
    expect(expectData(asked)).toEqual({ requestToJoin: { status: 'REQUESTED' } });
    const again = await t.client.request(
      'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status } }',
      { o: org.id },
      { token },
    );
    expect(errorCodes(again)).toEqual(['CONFLICT']);
    const requests = expectData(await send(org.members.admin, '{ joinRequests { id email name status } }')).joinRequests;
    expect(requests).toEqual([
      { id: expect.any(String), email: 'newcomer@settled.example', name: 'New Comer', status: 'PENDING' },
    ]);
    const developerRole = await t.world.systemRoleId(org, 'developer');
    const approved = expectData(
      await send(
        org.members.admin,
        'mutation($id: ID!, $r: ID!) { approveJoinRequest(input: { id: $id, roleId: $r }) { role { key } user { email } } }',
        {
          id: requests[0].id,
          r: developerRole,
        },
      ),
    );
    expect(approved.approveJoinRequest).toEqual({ role: { key: 'developer' }, user: { email: 'newcomer@settled.example' } });
    const viewer = expectData(await t.client.request<Loose>('{ viewer { role { key } organization { id } } }', {}, { token }));
    expect(viewer.viewer).toEqual({ role: { key: 'developer' }, organization: { id: org.id } });
  });

  it('joinRequestsConnection (issue 10) pages every request with a status, newest first, both ways; the same refusal', async () => {
    // An organization of its own: the audit log of this file's organization is checked below.
    const org = await t.world.organization('Paged joins');
    const domain = `paged-${Math.random().toString(36).slice(2, 8)}.example`;
    expectData(
      await send(org.members.admin, 'mutation($d: String!) { updateOrganizationSettings(input: { emailDomain: $d }) { id } }', {
        d: domain,
      }),
    );
    for (let i = 0; i < 5; i++) {
      const asker = await t.world.user(`paged asker ${i}`);
      const token = await t.world.issuer.mint({ sub: asker.subject, email: `paged${i}@${domain}`, name: `Paged ${i}` });
      expectData(
        await t.client.request(
          'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status } }',
          { o: org.id },
          { token },
        ),
      );
    }
    const pending = expectData(await send(org.members.admin, '{ joinRequests { id email } }')).joinRequests as Loose[];
    expect(pending.map((r) => r.email)).toEqual([4, 3, 2, 1, 0].map((i) => `paged${i}@${domain}`));
    expectData(
      await send(org.members.admin, 'mutation($id: ID!) { rejectJoinRequest(input: { id: $id }) { status } }', {
        id: pending[2]!.id,
      }),
    );
    const query = connectionQuery('joinRequestsConnection', { declare: '$status: JoinRequestStatus!', pass: 'status: $status' });
    for (const status of ['PENDING', 'REJECTED', 'APPROVED']) {
      const plain = (
        expectData(
          await send(org.members.admin, 'query($s: JoinRequestStatus!) { joinRequests(status: $s) { id } }', { s: status }),
        ).joinRequests as Loose[]
      ).map((r) => r.id);
      const fetch = async (args: PageArgs) =>
        expectData(await send(org.members.developer, query, { ...args, status })).joinRequestsConnection;
      if (plain.length > 2) await expectWalk(fetch, 2, plain);
      else {
        const page = await fetch({ first: 10 });
        expect(page.edges.map((e: Loose) => e.node.id)).toEqual(plain);
        expect(page.totalCount).toBe(plain.length);
      }
    }
    // The default status is PENDING, as for the plain list.
    const defaulted = expectData(await send(org.members.admin, '{ joinRequestsConnection(first: 10) { totalCount } }'));
    expect(defaulted.joinRequestsConnection.totalCount).toBe(4);
    expect(
      expectData(await send(org.members.admin, '{ joinRequestsConnection(status: APPROVED, first: 10) { totalCount } }')),
    ).toEqual({ joinRequestsConnection: { totalCount: 0 } });

    const viewer = org.members.viewer;
    const [plainDenied, pagedDenied] = [
      await send(viewer, '{ joinRequests { id } }'),
      await send(viewer, '{ joinRequestsConnection(first: 5) { edges { node { id } } } }'),
    ];
    expect(plainDenied.body.data).toEqual({ joinRequests: null });
    expect(pagedDenied.body.data).toEqual({ joinRequestsConnection: null });
    expect(errorCodes(pagedDenied)).toEqual(errorCodes(plainDenied));
    expect(errorCodes(pagedDenied)).toEqual(['FORBIDDEN']);
  });

  it('with auto-approve: joins at once with the configured role; other domains may not', async () => {
    const operatorRole = await t.world.systemRoleId(org, 'operator');
    expectData(
      await send(
        org.members.owner,
        'mutation($r: ID!) { updateOrganizationSettings(input: { autoApproveDomainUsers: true, autoApproveRoleId: $r }) { id } }',
        { r: operatorRole },
      ),
    );
    const user = await t.world.user('auto');
    const token = await t.world.issuer.mint({ sub: user.subject, email: 'auto@SETTLED.example', name: 'Auto' });
    const joined = await t.client.request<Loose>(
      'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status organizationId } }',
      { o: org.id },
      { token },
    );
    expect(expectData(joined)).toEqual({ requestToJoin: { status: 'JOINED', organizationId: org.id } });
    expect(expectData(await t.client.request<Loose>('{ viewer { role { key } } }', {}, { token })).viewer.role.key).toBe(
      'operator',
    );

    const outsider = await t.world.user('outsider');
    const foreign = await t.world.issuer.mint({ sub: outsider.subject, email: 'someone@elsewhere.example' });
    const refused = await t.client.request(
      'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status } }',
      { o: org.id },
      { token: foreign },
    );
    expect(errorCodes(refused)).toEqual(['FORBIDDEN']);
    const unverified = await t.world.issuer.mint({
      sub: outsider.subject,
      email: 'sneaky@settled.example',
      emailVerified: false,
    });
    expect(
      errorCodes(
        await t.client.request(
          'mutation($o: ID!) { requestToJoin(input: { organizationId: $o }) { status } }',
          { o: org.id },
          { token: unverified },
        ),
      ),
    ).toEqual(['FORBIDDEN']);
  });
});

describe('the audit log', () => {
  let viewerToken: string;
  beforeAll(async () => {
    viewerToken = await t.world.token(org.members.viewer);
    // One session, several requests, on two replicas.
    const replica = await startTestGateway({}, { db: t.db, issuer: t.issuer });
    for (const gateway of [t, replica, t, replica]) {
      expect((await gateway.client.request('{ viewer { permissions } }', {}, { token: viewerToken, orgId: org.id })).status).toBe(
        200,
      );
    }
    await replica.stop();
  });

  it('records auth.login once per sign-in session, whatever the replica', async () => {
    const log = expectData(
      await send(
        org.members.owner,
        'query($u: ID!) { auditLog(first: 50, filter: { userId: $u, action: "auth.login" }) { totalCount } }',
        {
          u: org.members.viewer.userId,
        },
      ),
    ).auditLog;
    expect(log.totalCount).toBe(1);
    // A new token (a new session) is a new sign-in.
    await send(org.members.viewer, '{ viewer { permissions } }');
    const after = expectData(
      await send(
        org.members.owner,
        'query($u: ID!) { auditLog(first: 50, filter: { userId: $u, action: "auth.login" }) { totalCount } }',
        {
          u: org.members.viewer.userId,
        },
      ),
    ).auditLog;
    expect(after.totalCount).toBe(2);
  });

  it('filters by user, system, action, resource type, outcome and date range; newest first; pages with a cursor', async () => {
    // One token throughout: a new one would be a new sign-in, adding events while we page.
    const token = await t.world.token(org.members.admin);
    const send = (_m: SeededMember, query: string, variables: Record<string, unknown> = {}) =>
      t.client.request<Loose>(query, variables, { token, orgId: org.id });
    await send(org.members.admin, '{ viewer { permissions } }');
    const q = `query($f: AuditLogFilter, $after: String) { auditLog(first: 3, after: $after, filter: $f) {
      totalCount edges { node { occurredAt action outcome resourceType actor { type name user { id } } } } pageInfo { hasNextPage endCursor } } }`;
    const all = expectData(await send(org.members.admin, q)).auditLog;
    expect(all.totalCount).toBeGreaterThan(5);
    const pages: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Loose = expectData(await send(org.members.admin, q, { after })).auditLog;
      pages.push(...page.edges.map((e: Loose) => e.node.occurredAt));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toHaveLength(all.totalCount);
    expect([...pages].sort().reverse()).toEqual(pages);

    const bySettings = expectData(await send(org.members.admin, q, { f: { action: 'organization.update_settings' } })).auditLog;
    expect(bySettings.edges.every((e: Loose) => e.node.action === 'organization.update_settings')).toBe(true);
    const denied = expectData(await send(org.members.admin, q, { f: { outcome: 'DENIED' } })).auditLog;
    // The developer's attempt to read the settings, above.
    expect(denied.edges.every((e: Loose) => e.node.outcome === 'DENIED')).toBe(true);
    const deniedActions = expectData(
      await send(org.members.admin, 'query { auditLog(first: 50, filter: { outcome: DENIED }) { edges { node { action } } } }'),
    ).auditLog;
    expect(deniedActions.edges.map((e: Loose) => e.node.action)).toContain('settings.manage');
    const byType = expectData(await send(org.members.admin, q, { f: { resourceType: 'join_request' } })).auditLog;
    expect(byType.edges.map((e: Loose) => e.node.action).sort()).toEqual(['member.approve_join_request', 'member.request_join']);
    const future = expectData(
      await send(org.members.admin, q, { f: { from: new Date(Date.now() + 3_600_000).toISOString() } }),
    ).auditLog;
    expect(future.totalCount).toBe(0);
    const system = expectData(await send(org.members.admin, q, { f: { system: true } })).auditLog;
    expect(system.totalCount).toBe(0);
    const facets = expectData(await send(org.members.admin, '{ auditLogFacets { actions resourceTypes } }')).auditLogFacets;
    expect(facets.actions).toContain('auth.login');
    expect(facets.resourceTypes).toContain('organization');
    expect(
      errorCodes(await send(org.members.admin, q, { f: { from: '2030-01-02T00:00:00Z', to: '2030-01-01T00:00:00Z' } })),
    ).toEqual(['BAD_USER_INPUT']);
  });

  it('is denied, and the denial recorded, without audit_log.read', async () => {
    const response = await send(org.members.viewer, '{ auditLog(first: 1) { totalCount } }');
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    const denials = expectData(
      await send(
        org.members.owner,
        'query($u: ID!) { auditLog(first: 5, filter: { userId: $u, outcome: DENIED }) { edges { node { action } } } }',
        {
          u: org.members.viewer.userId,
        },
      ),
    ).auditLog;
    expect(denials.edges.map((e: Loose) => e.node.action)).toContain('audit_log.read');
  });
});

describe('deleting the organization', () => {
  it('needs its exact name, removes its data, and keeps its audit trail until retention', async () => {
    const doomed = await t.world.organization('Doomed Inc', { workflows: 2 });
    const wrong = await send(
      doomed.members.owner,
      'mutation { deleteOrganization(input: { confirmName: "doomed inc" }) { deletedOrganizationId } }',
    );
    expect(errorCodes(wrong)).toEqual(['BAD_USER_INPUT']);
    expect(
      expectData(
        await send(
          doomed.members.owner,
          'mutation { deleteOrganization(input: { confirmName: "Doomed Inc" }) { deletedOrganizationId } }',
        ),
      ),
    ).toEqual({
      deleteOrganization: { deletedOrganizationId: doomed.id },
    });

    // Its members are no longer members; its data is gone (checked through RLS as its staff).
    const after = await t.client.request(
      '{ viewer { organization { id } } }',
      {},
      { token: await t.world.token(doomed.members.admin), orgId: doomed.id },
    );
    expect(after.status).toBe(403);
    const remaining = await asApp(
      t.world.pool,
      // Bound with audit_log.read explicitly: the trail outlives the memberships that granted it.
      { userId: doomed.members.owner.userId, orgId: doomed.id, role: 'staff', permissions: ['audit_log.read'] },
      async (c) => ({
        definitions: (await c.query('select count(*)::int as n from definitions')).rows[0].n,
        customers: (await c.query('select count(*)::int as n from customers')).rows[0].n,
        memberships: (await c.query('select count(*)::int as n from memberships')).rows[0].n,
        roles: (await c.query('select count(*)::int as n from roles')).rows[0].n,
        audit: (await c.query(`select array_agg(action order by occurred_at) as a from audit_events`)).rows[0].a,
      }),
    );
    expect(remaining).toMatchObject({ definitions: 0, customers: 0, memberships: 0, roles: 0 });
    expect(remaining.audit).toEqual(expect.arrayContaining(['organization.delete']));

    // Retention: backdate the trail (as a superuser; nobody else can) and purge as the owner.
    const superuser = new pg.Client({ connectionString: t.db.superuserUrl });
    await superuser.connect();
    await superuser.query(`update app_public.audit_events set occurred_at = now() - interval '500 days' where org_id = $1`, [
      doomed.id,
    ]);
    await superuser.end();
    const purged = await purgeAuditEvents(t.db.ownerUrl, 400, t.gateway.sealingKey);
    expect(purged.events).toBeGreaterThan(0);
    const left = await asApp(
      t.world.pool,
      { orgId: doomed.id, role: 'staff', permissions: ['audit_log.read'] },
      async (c) => (await c.query('select count(*)::int as n from audit_events')).rows[0].n,
    );
    expect(left).toBe(0);
    // Other organizations' recent events are untouched.
    expect((await t.world.audit(org)).length).toBeGreaterThan(0);
  });

  it('audit events cannot be backdated by the gateway role', async () => {
    const occurred = await asApp(
      t.world.pool,
      // audit_log.read: RETURNING reads the row back.
      { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['audit_log.read'] },
      async (c) =>
        (
          await c.query(
            `insert into audit_events (org_id, actor_type, actor_user_id, action, resource_type, outcome, occurred_at)
           values ($1, 'user', $2, 'x.y', 'x', 'success', '2001-01-01') returning occurred_at`,
            [org.id, org.members.owner.userId],
          )
        ).rows[0].occurred_at as Date,
    );
    expect(Date.now() - occurred.getTime()).toBeLessThan(60_000);
  });
});
