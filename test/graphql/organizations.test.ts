import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { CatalogueQuery, CreateOrganization, RolesQuery, ViewerQuery, WorkflowsQuery } from './operations.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t?.stop());

describe('createOrganization', () => {
  it('makes any signed-in user the Owner of a new organization, with six system roles', async () => {
    const user = await t.world.user('founder');
    const token = await t.world.token(user);
    const created = expectData(
      await t.client.request(CreateOrganization, { input: { name: '  Founders Inc  ' } }, { token }),
    ).createOrganization!;
    expect(created.name).toBe('Founders Inc');

    // Their only organization is the default one…
    const viewer = expectData(await t.client.request(ViewerQuery, {}, { token })).viewer!;
    expect(viewer.organization).toEqual({ id: created.id, name: 'Founders Inc' });
    expect(viewer.role).toEqual({ key: 'owner', name: 'Owner', permissionCount: 39 });
    expect(viewer.permissions).toHaveLength(39);

    const roles = expectData(await t.client.request(RolesQuery, {}, { token })).roles!;
    expect(roles.map((r) => [r.key, r.permissionCount, r.memberCount])).toEqual([
      ['owner', 39, 1],
      ['admin', 39, 0],
      ['developer', 34, 0],
      ['operator', 18, 0],
      ['viewer', 7, 0],
      ['end_user', 9, 0],
    ]);
    expect(
      roles
        .find((r) => r.key === 'developer')!
        .categories.slice(0, 5)
        .map((c) => `${c.category.key} ${c.granted}/${c.total}`),
    ).toEqual(['connectors 6/6', 'connections 6/6', 'workflows 7/7', 'agents 5/5', 'tools 5/5']);

    // …and the creation is in its audit trail, attributed to them.
    const events = await t.world.auditOf(created.id, viewer.user.id);
    expect(events.map((e) => [e.action, e.outcome, e.resource_id, e.actor_user_id])).toEqual([
      ['organization.create', 'success', created.id, viewer.user.id],
      ['auth.login', 'success', expect.any(String), viewer.user.id],
    ]);
  });

  it('with several organizations, the X-Organization-Id header picks one (and no header picks none)', async () => {
    const user = await t.world.user('multi');
    const token = await t.world.token(user);
    const first = expectData(
      await t.client.request(CreateOrganization, { input: { name: 'First' } }, { token }),
    ).createOrganization!;
    const second = expectData(
      await t.client.request(CreateOrganization, { input: { name: 'Second' } }, { token }),
    ).createOrganization!;

    const none = expectData(await t.client.request(ViewerQuery, {}, { token })).viewer!;
    expect(none.organization).toBeNull();
    expect(none.organizations.map((m) => m.organization.name)).toEqual(['First', 'Second']);
    const gated = await t.client.request(WorkflowsQuery, { first: 1 }, { token });
    expect(errorCodes(gated)).toEqual(['FORBIDDEN']);
    expect(gated.body.errors![0]!.message).toMatch(/X-Organization-Id/);

    for (const org of [first, second]) {
      const picked = expectData(await t.client.request(ViewerQuery, {}, { token, orgId: org.id })).viewer!;
      expect(picked.organization!.id).toBe(org.id);
    }
  });

  it('refuses a blank name with BAD_USER_INPUT and creates nothing', async () => {
    const user = await t.world.user('blank');
    const token = await t.world.token(user);
    const response = await t.client.request(CreateOrganization, { input: { name: ' ' } }, { token });
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    const viewer = expectData(await t.client.request(ViewerQuery, {}, { token })).viewer!;
    expect(viewer.organizations).toEqual([]);
  });

  it('needs a token', async () => {
    const response = await t.client.request(CreateOrganization, { input: { name: 'Anon' } });
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('organization selection', () => {
  it('a header naming an unknown or foreign organization is a 403, the same for both', async () => {
    const org = await t.world.organization('Selective');
    const outsider = await t.world.user('outsider');
    const token = await t.world.token(outsider);
    const foreign = await t.client.request(ViewerQuery, {}, { token, orgId: org.id });
    const unknown = await t.client.request(ViewerQuery, {}, { token, orgId: randomUUID() });
    const malformed = await t.client.request(ViewerQuery, {}, { token, orgId: 'acme' });
    for (const response of [foreign, unknown, malformed]) {
      expect(response.status).toBe(403);
      expect(response.body).toEqual(foreign.body);
    }
  });

  it('End Users see their customer and their nine permissions, nothing org-internal', async () => {
    const org = await t.world.organization('Widgets');
    const token = await t.world.token(org.members.end_user);
    const viewer = expectData(await t.client.request(ViewerQuery, {}, { token })).viewer!;
    expect(viewer.role!.key).toBe('end_user');
    expect(viewer.permissions).toHaveLength(9);
    expect(viewer.customer).toEqual({ id: org.customers[0]!.id, name: org.customers[0]!.name });
    expect(errorCodes(await t.client.request(RolesQuery, {}, { token }))).toEqual(['FORBIDDEN']);
  });
});

describe('the permission catalogue', () => {
  it('is public and lists 39 permissions in 12 categories, the five resource ones first', async () => {
    const catalogue = expectData(await t.client.request(CatalogueQuery, {})).permissionCatalogue;
    expect(catalogue.flatMap((c) => c.permissions)).toHaveLength(39);
    expect(catalogue.slice(0, 5).map((c) => [c.key, c.group, c.total])).toEqual([
      ['connectors', 'RESOURCE', 6],
      ['connections', 'RESOURCE', 6],
      ['workflows', 'RESOURCE', 7],
      ['agents', 'RESOURCE', 5],
      ['tools', 'RESOURCE', 5],
    ]);
  });
});
