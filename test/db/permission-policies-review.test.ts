/**
 * Regression tests for the review of migration 008 (fixed in 014): holes an attacker could use
 * with the bindings the gateway writes, checked in raw SQL as gateway_app.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { systemRole, type SystemRoleKey } from '../../src/authz/permissions.js';
import { effectivePermissions } from '../../src/authz/scopes.js';
import { bindingSql, type DatabaseBinding } from '../../src/db/request-database.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { World, type SeededOrg } from '../helpers/world.js';

let db: TestDatabase;
let pool: pg.Pool;
let issuer: DevIssuer;
let org: SeededOrg;
let other: SeededOrg;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool();
  issuer = await startDevIssuer({ port: 0 });
  const world = new World(pool, issuer);
  org = await world.organization('Review', { workflows: 1 });
  other = await world.organization('Review other', { workflows: 1 });
});

afterAll(async () => {
  await issuer?.stop();
  await db?.drop();
});

/** The binding the gateway writes for a member of `org` holding a system role. */
function memberBinding(key: SystemRoleKey): DatabaseBinding {
  const role = systemRole(key);
  return {
    userId: org.members[key].userId,
    orgId: org.id,
    access: role.customerConfined ? 'customer' : 'staff',
    tenantId: role.customerConfined ? org.customers[0]!.id : null,
    permissions: [...effectivePermissions(new Set(role.permissions), role.customerConfined)],
  };
}

/** Fixtures as the Owner, then `fn` under `binding`, all rolled back. */
async function attempt<T>(
  binding: string,
  setup: (c: pg.PoolClient) => Promise<Record<string, string>>,
  fn: (c: pg.PoolClient, ids: Record<string, string>) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(`begin; ${bindingSql({ ...memberBinding('owner') })}`);
    const ids = await setup(client);
    await client.query(binding);
    return await fn(client, ids);
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}

const finishedToolRun = async (c: pg.PoolClient) => ({
  run: (
    await c.query<{ id: string }>(
      `insert into executions (org_id, customer_id, target_kind, target_name, status, input)
       values (app_public.current_org_id(), $1, 'tool', 'ran', 'failed', '{"a":1}') returning id`,
      [org.customers[0]!.id],
    )
  ).rows[0]!.id,
});

describe('a retry repeats its original', () => {
  const retry = (
    c: pg.PoolClient,
    original: string,
    overrides: { kind?: string; definition?: string | null; input?: string } = {},
  ) =>
    c.query(
      `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, input, retry_of)
       values (app_public.current_org_id(), $1, $2, $3, 'ran', $4, $5) returning id`,
      [org.customers[0]!.id, overrides.kind ?? 'tool', overrides.definition ?? null, overrides.input ?? '{"a":1}', original],
    );

  it('an End User (may retry, may not run workflows) cannot dress a workflow run up as a retry', async () => {
    const endUser = bindingSql(memberBinding('end_user'));
    await expect(
      attempt(endUser, finishedToolRun, (c, ids) => retry(c, ids.run!, { kind: 'workflow', definition: org.workflows[0]! })),
    ).rejects.toMatchObject({ code: '42501' });
    // The faithful retry still works.
    await expect(attempt(endUser, finishedToolRun, (c, ids) => retry(c, ids.run!).then((r) => r.rowCount))).resolves.toBe(1);
  });

  it('nobody, not even the Owner, retries with other input or of another customer’s run', async () => {
    const owner = bindingSql(memberBinding('owner'));
    await expect(attempt(owner, finishedToolRun, (c, ids) => retry(c, ids.run!, { input: '{"a":2}' }))).rejects.toMatchObject({
      code: '42501',
    });
    // A retry naming a run id that is not its customer's: the foreign key or the policy refuses.
    await expect(
      attempt(owner, finishedToolRun, (c, ids) =>
        c.query(
          `insert into executions (org_id, customer_id, target_kind, target_name, input, retry_of)
           values (app_public.current_org_id(), $1, 'tool', 'ran', '{"a":1}', $2)`,
          [org.customers[1]!.id, ids.run],
        ),
      ),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^(42501|23503)$/) });
  });
});

describe('principal lookups answer for the binding only', () => {
  const viewer = () => bindingSql(memberBinding('viewer'));
  const noSetup = async () => ({});

  it('bound as a member, another organization’s member is like a non-member', async () => {
    const seen = await attempt(viewer(), noSetup, async (c) => ({
      principal: (await c.query('select * from app_private.resolve_principal($1, $2)', [other.members.admin.userId, other.id]))
        .rowCount,
      otherUserHere: (await c.query('select * from app_private.resolve_principal($1, $2)', [org.members.admin.userId, org.id]))
        .rowCount,
      permissions: (
        await c.query<{ p: string }>('select app_private.member_permissions($1, $2, false) as p', [
          other.members.owner.userId,
          other.id,
        ])
      ).rows[0]!.p,
      organizations: (await c.query('select * from app_private.active_organizations($1)', [other.members.admin.userId])).rowCount,
      own: (await c.query('select * from app_private.resolve_principal($1, $2)', [org.members.viewer.userId, org.id])).rowCount,
      ownOrganizations: (await c.query('select * from app_private.active_organizations($1)', [org.members.viewer.userId]))
        .rowCount,
    }));
    expect(seen).toEqual({ principal: 0, otherUserHere: 0, permissions: '', organizations: 0, own: 1, ownOrganizations: 1 });
  });

  it('unbound (the principal cache, before a request exists) they answer as before', async () => {
    const { rows } = await pool.query<{ role_key: string }>('select role_key from app_private.resolve_principal($1, $2)', [
      other.members.admin.userId,
      other.id,
    ]);
    expect(rows.map((r) => r.role_key)).toEqual(['admin']);
    expect((await pool.query('select * from app_private.active_organizations($1)', [other.members.admin.userId])).rowCount).toBe(
      1,
    );
  });
});

describe('column checks name what the lesser permission may change', () => {
  const withConnection = async (c: pg.PoolClient) => {
    const connector = (
      await c.query<{ id: string }>(
        `insert into definitions (org_id, kind, name, auth_kind) values (app_public.current_org_id(), 'connector', 'C', 'api_key') returning id`,
      )
    ).rows[0]!.id;
    const connection = (
      await c.query<{ id: string }>(
        `insert into connections (org_id, customer_id, connector_id, name) values (app_public.current_org_id(), $1, $2, 'N') returning id`,
        [org.customers[0]!.id, connector],
      )
    ).rows[0]!.id;
    return { connection, customer: org.customers[0]!.id };
  };
  const only = (permissions: string[]) => bindingSql({ ...memberBinding('owner'), permissions });

  it('connections.execute or .share cannot rewrite who created a connection or when', async () => {
    for (const permission of ['connections.execute', 'connections.share']) {
      await expect(
        attempt(only([permission]), withConnection, (c, ids) =>
          c.query(`update connections set created_by = $1 where id = $2`, [org.members.viewer.userId, ids.connection]),
        ),
      ).rejects.toThrow(/connections.update/);
      await expect(
        attempt(only([permission]), withConnection, (c, ids) =>
          c.query(`update connections set created_at = created_at - interval '1 year' where id = $1`, [ids.connection]),
        ),
      ).rejects.toThrow(/connections.update/);
    }
    // What each may change still works.
    await expect(
      attempt(only(['connections.execute']), withConnection, (c, ids) =>
        c
          .query(`update connections set status = 'error', last_error = 'x' where id = $1`, [ids.connection])
          .then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
    await expect(
      attempt(only(['connections.share']), withConnection, (c, ids) =>
        c.query(`update connections set scope = 'shared' where id = $1`, [ids.connection]).then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
  });

  it('billing.manage sets limits, not a customer’s creation time', async () => {
    await expect(
      attempt(only(['billing.manage']), withConnection, (c, ids) =>
        c.query(`update customers set created_at = created_at - interval '1 year' where id = $1`, [ids.customer]),
      ),
    ).rejects.toThrow(/customers.manage/);
    await expect(
      attempt(only(['billing.manage']), withConnection, (c, ids) =>
        c.query(`update customers set max_executions_per_month = 5 where id = $1`, [ids.customer]).then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
  });
});

describe('no privilege escalation in raw SQL either', () => {
  /** A custom role holding exactly `permissions`, and a member of it; returns their ids. */
  const managerSetup = (permissions: string[]) => async (c: pg.PoolClient) => {
    const role = (
      await c.query<{ id: string }>(`insert into roles (org_id, name) values (app_public.current_org_id(), $1) returning id`, [
        `Manager ${Math.random()}`,
      ])
    ).rows[0]!.id;
    for (const p of permissions)
      await c.query(
        `insert into role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, $2)`,
        [role, p],
      );
    const ids = (
      await c.query<{ admin: string; viewer: string; team: string }>(
        `select (select id from roles where system_key = 'admin') as admin, (select id from roles where system_key = 'viewer') as viewer,
                (select id from roles where system_key = 'admin') as team`,
      )
    ).rows[0]!;
    const team = (
      await c.query<{ id: string }>(
        `insert into teams (org_id, name, role_id) values (app_public.current_org_id(), 'Admins', $1) returning id`,
        [ids.admin],
      )
    ).rows[0]!.id;
    return { role, admin: ids.admin, viewer: ids.viewer, team };
  };
  const manager = (permissions: string[]) =>
    bindingSql({ userId: org.members.viewer.userId, orgId: org.id, access: 'staff', tenantId: null, permissions });
  const peopleManager = [
    'people.manage',
    'people.read',
    'workflows.read',
    'connectors.read',
    'agents.read',
    'tools.read',
    'connections.read',
    'executions.read',
    'customers.read',
  ];

  it('a custom role with people.manage cannot make anyone an Admin, by membership, invitation or team', async () => {
    const tries: [string, (c: pg.PoolClient, ids: Record<string, string>) => Promise<unknown>][] = [
      [
        'promote a member',
        (c, ids) => c.query(`update memberships set role_id = $1 where id = $2`, [ids.admin, org.members.viewer.membershipId]),
      ],
      [
        'invite an Admin',
        (c, ids) =>
          c.query(
            `insert into invitations (org_id, email, role_id, expires_at) values (app_public.current_org_id(), 'x@example.test', $1, now() + interval '1 day')`,
            [ids.admin],
          ),
      ],
      [
        'create an Admin team',
        (c, ids) =>
          c.query(`insert into teams (org_id, name, role_id) values (app_public.current_org_id(), 'T', $1)`, [ids.admin]),
      ],
      [
        'join a team with the Admin role',
        (c, ids) =>
          c.query(`insert into team_members (org_id, team_id, membership_id) values (app_public.current_org_id(), $1, $2)`, [
            ids.team,
            org.members.viewer.membershipId,
          ]),
      ],
      [
        'demote the Admin',
        (c, ids) => c.query(`update memberships set role_id = $1 where id = $2`, [ids.viewer, org.members.admin.membershipId]),
      ],
    ];
    for (const [name, attemptIt] of tries) {
      const outcome = await attempt(manager(peopleManager), managerSetup([]), async (c, ids) => {
        try {
          return `${((await attemptIt(c, ids)) as { rowCount: number }).rowCount} row(s)`;
        } catch (error) {
          return (error as { code?: string }).code;
        }
      });
      expect([name, outcome]).toEqual([name, expect.stringMatching(/^(42501|0 row\(s\))$/)]);
    }
    // Within what it holds it still manages people (a Viewer is made a Viewer again); not above it.
    await expect(
      attempt(manager(peopleManager), managerSetup([]), (c, ids) =>
        c
          .query(`update memberships set role_id = $1 where id = $2`, [ids.viewer, org.members.viewer.membershipId])
          .then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
  });

  it('roles.manage grants, and settings.manage auto-approves, only what the request holds', async () => {
    const rolesManager = ['roles.manage', 'workflows.read'];
    await expect(
      attempt(manager(rolesManager), managerSetup([]), (c, ids) =>
        c.query(
          `insert into role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'people.manage')`,
          [ids.role],
        ),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      attempt(manager(rolesManager), managerSetup([]), (c, ids) =>
        c
          .query(
            `insert into role_permissions (org_id, role_id, permission_key) values (app_public.current_org_id(), $1, 'workflows.read')`,
            [ids.role],
          )
          .then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
    await expect(
      attempt(manager(['settings.manage']), managerSetup([]), (c, ids) =>
        c.query(`update organizations set auto_approve_role_id = $1 where id = app_public.current_org_id()`, [ids.admin]),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    // Other settings stay editable although the auto-approve role (set by the Owner) is beyond it.
    await expect(
      attempt(
        manager(['settings.manage']),
        async (c) => {
          const ids = await managerSetup([])(c);
          await c.query(`update organizations set auto_approve_role_id = $1 where id = app_public.current_org_id()`, [ids.admin]);
          return ids;
        },
        (c) =>
          c.query(`update organizations set timezone = 'UTC' where id = app_public.current_org_id()`).then((r) => r.rowCount),
      ),
    ).resolves.toBe(1);
  });
});
