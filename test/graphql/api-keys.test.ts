/**
 * API keys end to end: lifecycle (create, list, use, rotate, revoke), the escalation guard,
 * TEST keys without production deployments, every bad-key variant answering exactly like a bad
 * token, revocation and role changes on the very next request across two replicas, keys in the
 * audit log, a customer-scoped key confined like an End User, keys in a workspace, and
 * workspace-scoped keys (confined to one workspace, nothing organization-wide, no escape).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEYS, isWorkspaceScopedPermission, systemRole, type Permission } from '../../src/authz/permissions.js';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { bindingSql } from '../../src/db/request-database.js';
import { asApp, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import { createKey } from '../helpers/keys.js';
import type { SeededOrg } from '../helpers/world.js';

let db: TestDatabase;
let issuer: DevIssuer;
let a: TestGateway;
let b: TestGateway;
let org: SeededOrg;
let other: SeededOrg;
let adminToken: string;

beforeAll(async () => {
  db = await createTestDatabase();
  issuer = await startDevIssuer({ port: 0 });
  a = await startTestGateway({}, { db, issuer });
  b = await startTestGateway({}, { db, issuer });
  org = await a.world.organization('Keys', { workflows: 1 });
  other = await a.world.organization('Elsewhere', { workflows: 1 });
  adminToken = await a.world.token(org.members.admin);
});
afterAll(async () => {
  if (process.env.DEBUG_LOGS) console.log([...a.logs, ...b.logs].filter((l) => l.includes('"level":50')).join('\n'));
  await a?.stop();
  await b?.stop();
  await issuer?.stop();
  await db?.drop();
});

const WORKFLOWS = '{ workflows(first: 5) { totalCount edges { node { id name createdBy { id name } } } } }';
const CREATE_WORKFLOW = 'mutation($n: String!) { createWorkflow(input: { name: $n }) { id createdBy { id name } } }';

function expectBadCredential(response: GraphQLResponse) {
  expect(response.status).toBe(401);
  expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  expect(response.body.data ?? null).toBeNull();
}

/** The whole answer to a bad credential, minus what differs per request. */
function shape(response: GraphQLResponse) {
  return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: response.body };
}

async function developerRole(o: SeededOrg = org) {
  return a.world.systemRoleId(o, 'developer');
}

describe('lifecycle', () => {
  it('create shows the secret once; the list shows prefix, role, scope, creator, last used, expiry and status', async () => {
    const key = await createKey(a.client, adminToken, org.id, { name: 'CI deploys', roleId: await developerRole() });
    const list = expectData(
      await a.client.request<{
        apiKeys: {
          totalCount: number;
          edges: {
            node: {
              id: string;
              name: string;
              prefix: string;
              status: string;
              environment: string;
              role: { name: string };
              customer: null;
              createdBy: { id: string };
              lastUsedAt: string | null;
              expiresAt: string | null;
            };
          }[];
        };
      }>(
        '{ apiKeys(first: 50) { totalCount edges { node { id name prefix status environment role { name } customer { id } createdBy { id } lastUsedAt expiresAt } } } }',
        {},
        { token: adminToken, orgId: org.id },
      ),
    );
    const row = list.apiKeys.edges.find((e) => e.node.id === key.id)!.node;
    expect(row).toMatchObject({ name: 'CI deploys', status: 'ACTIVE', environment: 'LIVE', role: { name: 'Developer' } });
    expect(row.createdBy.id).toBe(org.members.admin.userId);
    expect(key.secret.startsWith(`${row.prefix}_`)).toBe(true);
    expect(row.lastUsedAt).toBeNull();
    // Nowhere else: the list, the audit trail and the database hold no secret.
    expect(JSON.stringify(list)).not.toContain(key.secret.split('_').at(-1));
    const audit = await a.world.audit(org);
    expect(JSON.stringify(audit)).not.toContain(key.secret.split('_').at(-1));
    expect(audit.filter((e) => e.action === 'api_key.create' && e.resource_id === key.id)).toHaveLength(1);

    // The key acts in its organization without X-Organization-Id, as its own identity.
    const created = expectData(
      await a.client.request<{ createWorkflow: { id: string; createdBy: { id: string; name: string } } }>(
        CREATE_WORKFLOW,
        { n: 'Made by a key' },
        { token: key.secret },
      ),
    );
    expect(created.createWorkflow.createdBy.name).toBe('CI deploys');
    const used = expectData(
      await a.client.request<{ apiKey: { lastUsedAt: string | null } }>(
        'query($id: ID!) { apiKey(id: $id) { lastUsedAt } }',
        { id: key.id },
        { token: adminToken, orgId: org.id },
      ),
    );
    expect(used.apiKey.lastUsedAt).not.toBeNull();

    // Later requests write nothing: the row version (xmin) stays as it is (read as a superuser:
    // the app role has column grants only, and xmin is not among them).
    const version = async () => {
      const superuser = new pg.Client({ connectionString: db.superuserUrl });
      await superuser.connect();
      try {
        const { rows } = await superuser.query<{ xmin: string }>('select xmin from app_public.service_principals where id = $1', [
          key.id,
        ]);
        return rows[0]!.xmin;
      } finally {
        await superuser.end();
      }
    };
    const before = await version();
    for (let i = 0; i < 5; i++) expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
    expect(await version()).toBe(before);
  });

  it('the audit log names the key and its creator, and filters by it', async () => {
    const key = await createKey(a.client, adminToken, org.id, { name: 'Auditor', roleId: await developerRole() });
    expectData(await a.client.request(CREATE_WORKFLOW, { n: 'audited by key' }, { token: key.secret }));
    const log = expectData(
      await a.client.request<{
        auditLog: {
          edges: {
            node: {
              action: string;
              actor: {
                type: string;
                name: string;
                servicePrincipal: { id: string; name: string; kind: string; createdBy: { id: string } };
              };
            };
          }[];
        };
      }>(
        'query($id: ID!) { auditLog(first: 10, filter: { servicePrincipalId: $id }) { edges { node { action actor { type name servicePrincipal { id name kind createdBy { id } } } } } } }',
        { id: key.id },
        { token: adminToken, orgId: org.id },
      ),
    );
    expect(log.auditLog.edges.map((e) => e.node.action)).toEqual(['workflow.create']);
    expect(log.auditLog.edges[0]!.node.actor).toEqual({
      type: 'SERVICE',
      name: 'Auditor',
      servicePrincipal: { id: key.id, name: 'Auditor', kind: 'API_KEY', createdBy: { id: org.members.admin.userId } },
    });
  });

  it('rotation: the new secret works, the old one answers like a bad token, on both replicas', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    expectData(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    const rotated = expectData(
      await a.client.request<{ rotateApiKey: { secret: string } }>(
        'mutation($id: ID!) { rotateApiKey(input: { id: $id }) { secret apiKey { id } } }',
        { id: key.id },
        { token: adminToken, orgId: org.id },
      ),
    ).rotateApiKey.secret;
    expect(rotated).not.toBe(key.secret);
    expectBadCredential(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(await b.client.request(WORKFLOWS, {}, { token: rotated }));
  });

  it('a TEST key never holds *.deploy_prod, whatever its role', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole(), environment: 'TEST' });
    expect(key.permissions.filter((p) => p.endsWith('.deploy_prod'))).toEqual([]);
    expect(key.permissions).toContain('workflows.deploy_test');
    const response = await a.client.request(
      'mutation($id: ID!) { deployWorkflowToProduction(input: { id: $id }) { version } }',
      { id: org.workflows[0] },
      { token: key.secret },
    );
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expectData(
      await a.client.request(
        'mutation($id: ID!) { deployWorkflowToTest(input: { id: $id }) { version } }',
        { id: org.workflows[0] },
        {
          token: key.secret,
        },
      ),
    );
  });

  it('keys never transfer ownership or create organizations, whatever their role', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await a.world.systemRoleId(org, 'admin') });
    const transfer = await a.client.request(
      'mutation($m: ID!) { transferOwnership(input: { memberId: $m }) { newOwner { id } } }',
      { m: org.members.admin.membershipId },
      { token: key.secret },
    );
    expect(errorCodes(transfer)).toEqual(['FORBIDDEN']);
    const create = await a.client.request(
      'mutation { createOrganization(input: { name: "By a key" }) { id } }',
      {},
      {
        token: key.secret,
      },
    );
    expect(errorCodes(create)).toEqual(['FORBIDDEN']);
  });
});

describe('in the database', () => {
  it('the application role can write a key’s hash but never read it', async () => {
    const binding = { userId: org.members.admin.userId, orgId: org.id, role: 'staff', tenantId: null };
    await expect(asApp(a.world.pool, binding, (c) => c.query('select secret_hash from service_principals'))).rejects.toThrow(
      /permission denied/,
    );
    const { rows } = await asApp(a.world.pool, binding, (c) => c.query('select id, public_id from service_principals'));
    expect(rows.length).toBeGreaterThan(0);
  });

  it('inside a request’s transaction, no key’s hash and no other principal can be looked up', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    const publicId = key.secret.split('_')[2]!;
    // Unbound (how authentication looks a key up): found.
    expect((await a.world.pool.query('select * from app_private.find_api_key($1)', [publicId])).rowCount).toBe(1);
    const binding = { userId: org.members.admin.userId, orgId: org.id, role: 'staff', tenantId: null };
    const bound = await asApp(a.world.pool, binding, async (c) => ({
      hash: (await c.query('select * from app_private.find_api_key($1)', [publicId])).rowCount,
      principal: (await c.query('select * from app_private.resolve_service_principal($1, $2)', [org.id, key.id])).rowCount,
    }));
    expect(bound).toEqual({ hash: 0, principal: 0 });
  });

  it('no escalation in raw SQL: a key’s role holds only bound permissions (a TEST key’s without *.deploy_prod)', async () => {
    const insert = async (permissions: string[], role: 'developer' | 'viewer', environment: 'test' | 'live') => {
      const client = await a.world.pool.connect();
      try {
        const binding = {
          userId: org.members.admin.userId,
          orgId: org.id,
          access: 'staff' as const,
          tenantId: null,
          permissions,
        };
        await client.query(`begin; ${bindingSql(binding)}`);
        const id = randomUUID();
        const { rowCount } = await client.query(
          `insert into service_principals (org_id, id, kind, name, user_id, role_id, environment, public_id, secret_hash)
           values (app_public.current_org_id(), $1, 'api_key', 'raw', app_private.create_service_identity($1, 'raw'),
                   (select id from roles where system_key = $2), $3, substr(md5($1::text), 1, 16), sha256('s'::bytea))`,
          [id, role, environment],
        );
        return rowCount;
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    const developer = systemRole('developer').permissions;
    const withoutProd = developer.filter((p) => !p.endsWith('.deploy_prod'));
    await expect(insert(['settings.manage', ...systemRole('viewer').permissions], 'developer', 'live')).rejects.toThrow(
      /row-level security/,
    );
    await expect(insert(['settings.manage', ...withoutProd], 'developer', 'live')).rejects.toThrow(/row-level security/);
    expect(await insert(['settings.manage', ...withoutProd], 'developer', 'test')).toBe(1);
    expect(await insert(['settings.manage', ...developer], 'developer', 'live')).toBe(1);
  });

  it('another organization’s staff see none of its keys', async () => {
    await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    const binding = { userId: other.members.owner.userId, orgId: other.id, role: 'staff', tenantId: null };
    const { rows } = await asApp(a.world.pool, binding, (c) =>
      c.query<{ org_id: string }>('select org_id from service_principals'),
    );
    expect(rows.filter((r) => r.org_id !== other.id)).toEqual([]);
  });
});

describe('deleting an organization', () => {
  it('takes its keys with it', async () => {
    const doomed = await a.world.organization('Doomed');
    const ownerToken = await a.world.token(doomed.members.owner);
    const key = await createKey(a.client, ownerToken, doomed.id, { roleId: await a.world.systemRoleId(doomed, 'viewer') });
    expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(
      await a.client.request(
        'mutation($n: String!) { deleteOrganization(input: { confirmName: $n }) { deletedOrganizationId } }',
        { n: 'Doomed' },
        { token: ownerToken, orgId: doomed.id },
      ),
    );
    expectBadCredential(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
  });
});

describe('the escalation guard', () => {
  it('nobody creates a key with a role holding more than they do', async () => {
    const { member } = await a.world.customRole(org, 'Key manager', ['settings.manage', ...systemRole('viewer').permissions]);
    const token = await a.world.token(member);
    const response = await a.client.request(
      'mutation($r: ID!) { createApiKey(input: { name: "too much", roleId: $r, environment: LIVE }) { secret } }',
      { r: await developerRole() },
      { token, orgId: org.id },
    );
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
    expect((response.body.errors![0]!.extensions!.missing as string[]).length).toBeGreaterThan(0);
    const viewerKey = await createKey(a.client, token, org.id, { roleId: await a.world.systemRoleId(org, 'viewer') });
    expect(viewerKey.secret).toBeTruthy();
    const denied = (await a.world.audit(org)).filter((e) => e.action === 'api_key.create' && e.outcome === 'denied');
    expect(denied.length).toBeGreaterThan(0);
  });

  it('the Owner role is a person’s; an End User role needs a customer', async () => {
    const owner = await a.client.request(
      'mutation($r: ID!) { createApiKey(input: { name: "owner", roleId: $r, environment: LIVE }) { secret } }',
      { r: await a.world.systemRoleId(org, 'owner') },
      { token: adminToken, orgId: org.id },
    );
    expect(errorCodes(owner)).toEqual(['BAD_USER_INPUT']);
    const endUser = await a.client.request(
      'mutation($r: ID!) { createApiKey(input: { name: "eu", roleId: $r, environment: LIVE }) { secret } }',
      { r: await a.world.systemRoleId(org, 'end_user') },
      { token: adminToken, orgId: org.id },
    );
    expect(errorCodes(endUser)).toEqual(['BAD_USER_INPUT']);
    expect(endUser.body.errors![0]!.extensions!.field).toBe('input.customerId');
  });

  it('members without settings.manage cannot list or create keys', async () => {
    const token = await a.world.token(org.members.developer);
    const response = await a.client.request('{ apiKeys(first: 1) { totalCount } }', {}, { token, orgId: org.id });
    expect(errorCodes(response)).toEqual(['FORBIDDEN']);
  });
});

describe('every bad key answers exactly like a bad token', () => {
  it('malformed, unknown, wrong secret, wrong kind, revoked, expired: same status, body and challenge', async () => {
    const reference = shape(await a.client.request(WORKFLOWS, {}, { token: 'not.a.jwt' }));
    expect(reference.status).toBe(401);
    const good = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    const [prefix, env, publicId, ...rest] = good.secret.split('_');
    const secret = rest.join('_');
    const revoked = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    expectData(
      await a.client.request(
        'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { status } }',
        { id: revoked.id },
        {
          token: adminToken,
          orgId: org.id,
        },
      ),
    );
    const expired = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    expectData(await a.client.request(WORKFLOWS, {}, { token: expired.secret })); // remembered by the replica…
    await a.world.inOrg(org, (db) =>
      db.query(`update service_principals set expires_at = now() - interval '1 second' where id = $1`, [expired.id]),
    );

    const variants: Record<string, string> = {
      malformed: 'gwk_live_short',
      'unknown public id': `${prefix}_${env}_${'z'.repeat(16)}_${secret}`,
      'wrong secret': `${prefix}_${env}_${publicId}_${'A'.repeat(43)}`,
      'runner prefix on an API key': `gwr_${env}_${publicId}_${secret}`,
      'TEST prefix on a LIVE key': `${prefix}_test_${publicId}_${secret}`,
      revoked: revoked.secret,
      expired: expired.secret, // …and refused once expired
    };
    for (const [name, credential] of Object.entries(variants)) {
      for (const gateway of [a, b]) {
        const response = await gateway.client.request(WORKFLOWS, {}, { token: credential });
        expectBadCredential(response);
        expect(shape(response), name).toEqual(reference);
      }
    }
    expectData(await a.client.request(WORKFLOWS, {}, { token: good.secret }));
  });

  it('naming another organization is refused like a non-member', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    const response = await a.client.request(WORKFLOWS, {}, { token: key.secret, orgId: other.id });
    expect(response.status).toBe(403);
    expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret, orgId: org.id }));
  });
});

describe('changes apply on the very next request on every replica', () => {
  it('revocation', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(
      await a.client.request(
        'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { status } }',
        { id: key.id },
        {
          token: adminToken,
          orgId: org.id,
        },
      ),
    );
    expectBadCredential(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectBadCredential(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
  });

  it('a change to its role', async () => {
    const { roleId } = await a.world.customRole(org, 'Readers', ['workflows.read']);
    const key = await createKey(a.client, adminToken, org.id, { roleId });
    expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(
      await a.client.request(
        'mutation($id: ID!) { updateRole(input: { id: $id, permissions: ["connectors.read"] }) { id } }',
        { id: roleId },
        { token: adminToken, orgId: org.id },
      ),
    );
    expect(errorCodes(await b.client.request(WORKFLOWS, {}, { token: key.secret }))).toEqual(['FORBIDDEN']);
  });
});

describe('a customer-scoped key', () => {
  it('is confined like an End User: its customer only, nothing org-internal', async () => {
    const key = await createKey(a.client, adminToken, org.id, {
      roleId: await a.world.systemRoleId(org, 'end_user'),
      customerId: org.customers[0]!.id,
    });
    const customers = expectData(
      await a.client.request<{ customers: { edges: { node: { id: string } }[] } }>(
        '{ customers(first: 10) { edges { node { id } } } }',
        {},
        { token: key.secret },
      ),
    );
    expect(customers.customers.edges.map((e) => e.node.id)).toEqual([org.customers[0]!.id]);
    expect(errorCodes(await a.client.request(WORKFLOWS, {}, { token: key.secret }))).toEqual(['FORBIDDEN']);
    const viewer = expectData(
      await a.client.request<{ viewer: { customer: { id: string }; organization: { id: string } } }>(
        '{ viewer { customer { id } organization { id } } }',
        {},
        { token: key.secret },
      ),
    );
    expect(viewer.viewer).toEqual({ customer: { id: org.customers[0]!.id }, organization: { id: org.id } });
  });
});

describe('a key in a workspace (X-Workspace-Id)', () => {
  const VIEWER_WORKSPACE = '{ viewer { workspace { id projectRoles { teamId } projectPermissions } } }';
  type ViewerWorkspace = { viewer: { workspace: { id: string; projectRoles: unknown[]; projectPermissions: string[] } } };

  it('acts there with what its organization role amounts to, like a person of that role, and no project grants', async () => {
    const space = await a.world.workspace(org);
    const inside = await a.world.definitionIn(org, space);
    const key = await createKey(a.client, adminToken, org.id, { roleId: await a.world.systemRoleId(org, 'viewer') });
    const headers = { 'x-workspace-id': space };
    const listed = expectData(
      await a.client.request<{ workflows: { edges: { node: { id: string } }[] } }>(WORKFLOWS, {}, { token: key.secret, headers }),
    );
    expect(listed.workflows.edges.map((e) => e.node.id)).toEqual([inside]);
    const asKey = expectData(await a.client.request<ViewerWorkspace>(VIEWER_WORKSPACE, {}, { token: key.secret, headers }));
    const asPerson = expectData(
      await a.client.request<ViewerWorkspace>(
        VIEWER_WORKSPACE,
        {},
        {
          token: await a.world.token(org.members.viewer),
          orgId: org.id,
          headers,
        },
      ),
    );
    expect(asKey.viewer.workspace.id).toBe(space);
    expect(asKey.viewer.workspace.projectRoles).toEqual([]);
    // A Viewer holds some project permissions, not all twelve (an Owner's or Admin's).
    expect(asKey.viewer.workspace.projectPermissions.length).toBeGreaterThan(0);
    expect(asKey.viewer.workspace.projectPermissions.length).toBeLessThan(12);
    expect(asKey.viewer.workspace.projectPermissions).toEqual(asPerson.viewer.workspace.projectPermissions);
  });

  it('another organization’s or an unknown workspace answers 403 like a foreign organization; a customer-scoped key acts in none', async () => {
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    const foreign = await a.client.request(
      WORKFLOWS,
      {},
      {
        token: key.secret,
        headers: { 'x-workspace-id': await a.world.defaultWorkspace(other) },
      },
    );
    const unknown = await a.client.request(WORKFLOWS, {}, { token: key.secret, headers: { 'x-workspace-id': randomUUID() } });
    expect([foreign.status, unknown.status]).toEqual([403, 403]);
    expect(errorCodes(foreign)).toEqual(['FORBIDDEN']);
    expect(foreign.body).toEqual(unknown.body);
    const customerKey = await createKey(a.client, adminToken, org.id, {
      roleId: await a.world.systemRoleId(org, 'end_user'),
      customerId: org.customers[0]!.id,
    });
    const confined = await a.client.request(
      '{ viewer { user { id } } }',
      {},
      {
        token: customerKey.secret,
        headers: { 'x-workspace-id': await a.world.defaultWorkspace(org) },
      },
    );
    expect(confined.status).toBe(403);
    expect(confined.body).toEqual(unknown.body);
  });
});

describe('a workspace-scoped key (createApiKey with workspaceId)', () => {
  const VIEWER = '{ viewer { permissions workspace { id projectPermissions } } }';
  type Viewer = { viewer: { permissions: string[]; workspace: { id: string; projectPermissions: string[] } | null } };
  const ORG_WIDE = ['people.read', 'audit_log.read', 'customers.read', 'settings.manage', 'roles.manage', 'people.manage'];
  /** Error bodies compared without the ids they name (the id asked for differs, nothing else may). */
  const strip = (r: GraphQLResponse) => JSON.stringify(r.body).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'ID');

  it('acts only in its workspace, without a header; the list shows the scope; it holds nothing organization-wide', async () => {
    const space = await a.world.workspace(org);
    const inside = await a.world.definitionIn(org, space);
    const key = await createKey(a.client, adminToken, org.id, {
      name: 'Space deployer',
      roleId: await a.world.systemRoleId(org, 'admin'),
      workspaceId: space,
    });
    // Its role's workspace-scoped permissions only: Admin's definitions, connections and runs.
    expect(key.permissions.filter((p) => ORG_WIDE.includes(p))).toEqual([]);
    expect(key.permissions).toEqual(expect.arrayContaining(['workflows.update', 'connections.read', 'executions.retry']));
    const listed = expectData(
      await a.client.request<{ apiKey: { workspaceId: string; workspace: { id: string; name: string }; customer: null } }>(
        'query($id: ID!) { apiKey(id: $id) { workspaceId workspace { id name } customer { id } } }',
        { id: key.id },
        { token: adminToken, orgId: org.id },
      ),
    ).apiKey;
    expect(listed).toMatchObject({ workspaceId: space, workspace: { id: space }, customer: null });
    const list = expectData(
      await a.client.request<{ apiKeys: { edges: { node: { id: string; workspaceId: string | null } }[] } }>(
        '{ apiKeys(first: 50) { edges { node { id workspaceId } } } }',
        {},
        { token: adminToken, orgId: org.id },
      ),
    );
    expect(list.apiKeys.edges.find((e) => e.node.id === key.id)!.node.workspaceId).toBe(space);

    // No header: its workspace, bound like X-Workspace-Id (the database shows that workspace only).
    const workflows = expectData(
      await b.client.request<{ workflows: { edges: { node: { id: string } }[] } }>(WORKFLOWS, {}, { token: key.secret }),
    );
    expect(workflows.workflows.edges.map((e) => e.node.id)).toEqual([inside]);
    const viewer = expectData(await b.client.request<Viewer>(VIEWER, {}, { token: key.secret })).viewer;
    expect(viewer.workspace!.id).toBe(space);
    expect(viewer.permissions.filter((p) => ORG_WIDE.includes(p))).toEqual([]);
    // Project permissions as an Admin person holds them there (all twelve), none organization-wide.
    expect(viewer.workspace!.projectPermissions).toHaveLength(12);
    const made = expectData(
      await a.client.request<{ createWorkflow: { id: string } }>(CREATE_WORKFLOW, { n: 'made in space' }, { token: key.secret }),
    ).createWorkflow.id;
    const where = await a.world.inOrg(
      org,
      async (db) =>
        (await db.query<{ workspace_id: string }>('select workspace_id from definitions where id = $1', [made])).rows[0]!
          .workspace_id,
    );
    expect(where).toBe(space);
    // Its own workspace named explicitly is fine.
    expectData(await a.client.request(WORKFLOWS, {}, { token: key.secret, headers: { 'x-workspace-id': space } }));
    // What its project permissions allow there works in the database too (the request is bound
    // with them: it holds no people.manage to fall back on).
    const added = expectData(
      await a.client.request<{ addProjectMember: { workspaceId: string } }>(
        'mutation($m: ID!) { addProjectMember(input: { memberId: $m, roleId: "editor" }) { workspaceId } }',
        { m: org.members.viewer.membershipId },
        { token: key.secret },
      ),
    );
    expect(added.addProjectMember.workspaceId).toBe(space);

    // Nothing organization-wide: people, the audit log, customers, keys, workspaces of others.
    for (const query of [
      '{ people(first: 1) { totalCount } }',
      '{ auditLog(first: 1) { totalCount } }',
      '{ customers(first: 1) { totalCount } }',
      '{ apiKeys(first: 1) { totalCount } }',
    ]) {
      expect(errorCodes(await a.client.request(query, {}, { token: key.secret })), query).toEqual(['FORBIDDEN']);
    }
    const escape = await a.client.request(
      'mutation($r: ID!) { createApiKey(input: { name: "escape", roleId: $r, environment: LIVE }) { secret } }',
      { r: await a.world.systemRoleId(org, 'admin') },
      { token: key.secret },
    );
    expect(errorCodes(escape)).toEqual(['FORBIDDEN']);
    const spaces = expectData(
      await a.client.request<{ workspaces: { id: string }[] }>('{ workspaces { id } }', {}, { token: key.secret }),
    );
    expect(spaces.workspaces.map((w) => w.id)).toEqual([space]);
    const paged = expectData(
      await a.client.request<{ workspacesConnection: { totalCount: number; edges: { node: { id: string } }[] } }>(
        '{ workspacesConnection(first: 10) { totalCount edges { node { id } } } }',
        {},
        { token: key.secret },
      ),
    ).workspacesConnection;
    expect(paged.edges.map((e) => e.node.id)).toEqual([space]);
    expect(paged.totalCount).toBe(1);
  });

  it('cannot escape: another workspace (its organization’s default, another organization’s, an unknown one) answers alike', async () => {
    const space = await a.world.workspace(org);
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole(), workspaceId: space });
    const asKey = (headers: Record<string, string>) => a.client.request(WORKFLOWS, {}, { token: key.secret, headers });
    const own = await asKey({ 'x-workspace-id': await a.world.defaultWorkspace(org) });
    const foreign = await asKey({ 'x-workspace-id': await a.world.defaultWorkspace(other) });
    const unknown = await asKey({ 'x-workspace-id': randomUUID() });
    expect([own.status, foreign.status, unknown.status]).toEqual([403, 403, 403]);
    expect(errorCodes(own)).toEqual(['FORBIDDEN']);
    expect(own.body).toEqual(unknown.body);
    expect(foreign.body).toEqual(unknown.body);
    // …exactly what an organization-wide key gets for an unknown workspace.
    const orgWide = await createKey(a.client, adminToken, org.id, { roleId: await developerRole() });
    expect(
      (await a.client.request(WORKFLOWS, {}, { token: orgWide.secret, headers: { 'x-workspace-id': randomUUID() } })).body,
    ).toEqual(unknown.body);
    // A customer's context acts in no workspace: confining itself to a customer is refused too.
    const confined = await a.client.request(WORKFLOWS, {}, { token: key.secret, customerId: org.customers[0]!.id });
    expect(confined.status).toBe(403);
    // Moving its workflow out answers like moving it to a workspace that does not exist.
    const mine = expectData(
      await a.client.request<{ createWorkflow: { id: string } }>(CREATE_WORKFLOW, { n: 'stays put' }, { token: key.secret }),
    ).createWorkflow.id;
    const move = (w: string) =>
      a.client.request(
        'mutation($id: ID!, $w: ID!) { moveWorkflow(input: { id: $id, workspaceId: $w }) { id } }',
        { id: mine, w },
        {
          token: key.secret,
        },
      );
    const out = await move(await a.world.defaultWorkspace(org));
    expect(errorCodes(out)).toEqual(['NOT_FOUND']);
    expect(strip(out)).toBe(strip(await move(randomUUID())));
    // And another workspace's workflow is missing to it.
    const elsewhere = await a.client.request(
      'query($id: ID!) { workflow(id: $id) { id } }',
      { id: org.workflows[0] },
      { token: key.secret },
    );
    const missing = await a.client.request(
      'query($id: ID!) { workflow(id: $id) { id } }',
      { id: randomUUID() },
      { token: key.secret },
    );
    expect(strip(elsewhere)).toBe(strip(missing));
  });

  it('creation: settings.manage, a workspace of the organization (another’s answers like a missing one), not with a customer, not for runners', async () => {
    const create = (input: Record<string, unknown>, token = adminToken) =>
      a.client.request(
        'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }',
        { input: { name: 'scoped', environment: 'LIVE', ...input } },
        { token, orgId: org.id },
      );
    const roleId = await developerRole();
    const space = await a.world.workspace(org);
    const foreign = await create({ roleId, workspaceId: await a.world.defaultWorkspace(other) });
    const unknown = await create({ roleId, workspaceId: randomUUID() });
    expect(errorCodes(foreign)).toEqual(['NOT_FOUND']);
    expect(strip(foreign)).toBe(strip(unknown));
    const both = await create({
      roleId: await a.world.systemRoleId(org, 'end_user'),
      customerId: org.customers[0]!.id,
      workspaceId: space,
    });
    expect(errorCodes(both)).toEqual(['BAD_USER_INPUT']);
    expect(both.body.errors![0]!.extensions!.field).toBe('input.workspaceId');
    const runner = await create({ kind: 'RUNNER', workspaceId: space });
    expect(errorCodes(runner)).toEqual(['BAD_USER_INPUT']);
    // A role with nothing a workspace confines gives a key that could do nothing.
    const { roleId: peopleOnly } = await a.world.customRole(org, `People only ${randomUUID().slice(0, 4)}`, ['people.read']);
    expect(errorCodes(await create({ roleId: peopleOnly, workspaceId: space }))).toEqual(['BAD_USER_INPUT']);
    // Without settings.manage: refused.
    const developer = await a.world.token(org.members.developer);
    expect(errorCodes(await create({ roleId, workspaceId: space }, developer))).toEqual(['FORBIDDEN']);
    // The escalation guard compares what the key would hold: a manager holding settings.manage and
    // a Developer's workspace-scoped permissions (no people.read, no audit_log.read) may hand out a
    // Developer key for a workspace, not an organization-wide one — in the gateway and in SQL alike.
    const workspacePart = systemRole('developer').permissions.filter((p) => isWorkspaceScopedPermission(p));
    const { member } = await a.world.customRole(org, `Space keys ${randomUUID().slice(0, 4)}`, [
      'settings.manage',
      ...workspacePart,
    ]);
    const manager = await a.world.token(member);
    expectData(await create({ roleId, workspaceId: space }, manager));
    expect(errorCodes(await create({ roleId }, manager))).toEqual(['FORBIDDEN']);
  });

  it('in SQL: one scope only, and the escalation guard strips what a workspace key would not hold', async () => {
    const space = await a.world.workspace(org);
    const insert = async (permissions: readonly string[], workspaceId: string | null, customer = false) => {
      const client = await a.world.pool.connect();
      try {
        const binding = {
          userId: org.members.admin.userId,
          orgId: org.id,
          access: 'staff' as const,
          tenantId: null,
          permissions,
        };
        await client.query(`begin; ${bindingSql(binding)}`);
        const id = randomUUID();
        const { rowCount } = await client.query(
          `insert into service_principals (org_id, id, kind, name, user_id, role_id, customer_id, workspace_id, environment, public_id, secret_hash)
           values (app_public.current_org_id(), $1, 'api_key', 'raw', app_private.create_service_identity($1, 'raw'),
                   (select id from roles where system_key = $2), $3, $4, 'live', substr(md5($1::text), 1, 16), sha256('s'::bytea))`,
          [id, customer ? 'end_user' : 'developer', customer ? org.customers[0]!.id : null, workspaceId],
        );
        return rowCount;
      } finally {
        await client.query('rollback');
        client.release();
      }
    };
    const workspacePart = systemRole('developer').permissions.filter((p) => isWorkspaceScopedPermission(p));
    expect(await insert(['settings.manage', ...workspacePart], space)).toBe(1);
    await expect(insert(['settings.manage', ...workspacePart], null)).rejects.toThrow(/row-level security/);
    await expect(insert(systemRole('owner').permissions, space, true)).rejects.toThrow(/service_principals_one_scope/);
    // The gateway's list of workspace-scoped categories and the database's agree.
    const { rows } = await a.world.pool.query<{ key: string; scoped: boolean }>(
      'select key, app_private.workspace_scoped_permission(key) as scoped from unnest($1::text[]) as key',
      [PERMISSION_KEYS],
    );
    expect(rows.filter((r) => r.scoped !== isWorkspaceScopedPermission(r.key as Permission))).toEqual([]);
  });

  it('deleting its (empty) workspace takes the key with it, on every replica', async () => {
    const space = await a.world.workspace(org);
    const key = await createKey(a.client, adminToken, org.id, { roleId: await developerRole(), workspaceId: space });
    expectData(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectData(
      await a.client.request(
        'mutation($id: ID!) { deleteWorkspace(input: { id: $id }) { deletedWorkspaceId } }',
        { id: space },
        {
          token: adminToken,
          orgId: org.id,
        },
      ),
    );
    expectBadCredential(await b.client.request(WORKFLOWS, {}, { token: key.secret }));
    expectBadCredential(await a.client.request(WORKFLOWS, {}, { token: key.secret }));
  });
});

describe('Keycloak service accounts (registered OIDC clients)', () => {
  /** A client-credentials token as Keycloak issues it: sub of the service-account user, client_id, no email. */
  const clientToken = (clientId: string, claims: Record<string, unknown> = {}) =>
    issuer.mint({
      sub: `service-account-user-${clientId}`,
      extra: { azp: clientId, client_id: clientId, preferred_username: `service-account-${clientId}`, ...claims },
    });

  it('a registered client’s tokens act as its service principal, under the same rules, until revoked', async () => {
    const clientId = `reporting-${Math.random().toString(36).slice(2, 8)}`;
    const registered = await createKey(a.client, adminToken, org.id, {
      name: 'Reporting service',
      kind: 'OIDC_CLIENT',
      oidcClientId: clientId,
      roleId: await a.world.systemRoleId(org, 'viewer'),
    });
    expect(registered.secret).toBeNull();
    const token = await clientToken(clientId);
    const viewer = expectData(
      await b.client.request<{ viewer: { user: { name: string }; organization: { id: string }; permissions: string[] } }>(
        '{ viewer { user { name } organization { id } permissions } }',
        {},
        { token },
      ),
    ).viewer;
    expect(viewer.organization.id).toBe(org.id);
    expect(viewer.user.name).toBe('Reporting service');
    expectData(await b.client.request(WORKFLOWS, {}, { token }));
    const denied = await b.client.request(CREATE_WORKFLOW, { n: 'nope' }, { token });
    expect(errorCodes(denied)).toEqual(['FORBIDDEN']);
    const events = (await a.world.audit(org)).filter((e) => e.action === 'workflow.create' && e.outcome === 'denied');
    expect(events.at(-1)!.actor_user_id).not.toBeNull();

    // The same client id is one principal only.
    const again = await a.client.request(
      'mutation($c: String!, $r: ID!) { createApiKey(input: { name: "twin", kind: OIDC_CLIENT, oidcClientId: $c, roleId: $r }) { secret } }',
      { c: clientId, r: await a.world.systemRoleId(org, 'viewer') },
      { token: adminToken, orgId: org.id },
    );
    expect(errorCodes(again)).toEqual(['CONFLICT']);

    expectData(
      await a.client.request(
        'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { status } }',
        { id: registered.id },
        {
          token: adminToken,
          orgId: org.id,
        },
      ),
    );
    expectBadCredential(await b.client.request(WORKFLOWS, {}, { token }));
  });

  it('a client registered for one workspace acts only there, like a workspace-scoped key', async () => {
    const clientId = `space-sync-${Math.random().toString(36).slice(2, 8)}`;
    const space = await a.world.workspace(org);
    const inside = await a.world.definitionIn(org, space);
    await createKey(a.client, adminToken, org.id, {
      kind: 'OIDC_CLIENT',
      oidcClientId: clientId,
      roleId: await developerRole(),
      workspaceId: space,
    });
    const token = await clientToken(clientId);
    const listed = expectData(
      await b.client.request<{ workflows: { edges: { node: { id: string } }[] } }>(WORKFLOWS, {}, { token }),
    );
    expect(listed.workflows.edges.map((e) => e.node.id)).toEqual([inside]);
    const elsewhere = await b.client.request(
      WORKFLOWS,
      {},
      { token, headers: { 'x-workspace-id': await a.world.defaultWorkspace(org) } },
    );
    expect(elsewhere.status).toBe(403);
    expect(errorCodes(await b.client.request('{ people(first: 1) { totalCount } }', {}, { token }))).toEqual(['FORBIDDEN']);
  });

  it('an unregistered client, or a person’s token, is a person as before', async () => {
    const token = await clientToken('not-registered');
    const viewer = expectData(
      await a.client.request<{ viewer: { organization: null } }>('{ viewer { organization { id } } }', {}, { token }),
    ).viewer;
    expect(viewer.organization).toBeNull();
    const person = await a.world.token(org.members.viewer);
    expectData(await a.client.request(WORKFLOWS, {}, { token: person, orgId: org.id }));
  });
});
