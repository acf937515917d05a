/**
 * Row-level security, in SQL, connected as gateway_app: the database alone keeps tenants apart.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { PERMISSION_KEYS, systemRole } from '../../src/authz/permissions.js';
import { asApp, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { World, type SeededOrg } from '../helpers/world.js';

let db: TestDatabase;
let pool: pg.Pool;
let issuer: DevIssuer;
let a: SeededOrg;
let b: SeededOrg;

/** Bound as the Owner, with the Owner's permissions (the write policies require them). */
const staffOf = (org: SeededOrg) => ({
  userId: org.members.owner.userId,
  orgId: org.id,
  role: 'staff',
  permissions: systemRole('owner').permissions,
});

/** Every table the gateway can read that holds tenant data, and its tenant column. */
const TENANT_TABLES = [
  'roles',
  'role_permissions',
  'customers',
  'memberships',
  'definitions',
  'definition_versions',
  'definition_deployments',
  'connections',
  'executions',
  'audit_events',
];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool();
  issuer = await startDevIssuer({ port: 0 });
  const world = new World(pool, issuer);
  a = await world.organization('Org A', { workflows: 3 });
  b = await world.organization('Org B', { workflows: 2 });
  // An execution and an audit event in each organization.
  for (const org of [a, b]) {
    await asApp(
      pool,
      staffOf(org),
      async (c) => {
        await c.query(
          `insert into executions (org_id, customer_id, target_kind, definition_id, target_name) values ($1, $2, 'workflow', $3, 'x')`,
          [org.id, org.customers[0]!.id, org.workflows[0]],
        );
        await c.query(
          `insert into audit_events (org_id, actor_type, actor_user_id, action, resource_type, outcome) values ($1, 'user', $2, 'workflow.create', 'workflow', 'success')`,
          [org.id, org.members.owner.userId],
        );
        await c.query(
          `insert into definition_deployments (org_id, definition_id, kind, environment, version) values ($1, $2, 'workflow', 'test', 1)`,
          [org.id, org.workflows[0]],
        );
        const { rows: connector } = await c.query(
          `insert into definitions (org_id, kind, name, auth_kind) values ($1, 'connector', 'CRM', 'api_key') returning id`,
          [org.id],
        );
        await c.query(
          `insert into connections (org_id, customer_id, connector_id, name, scope, owner_user_id) values ($1, $2, $3, 'CRM', 'shared', $4)`,
          [org.id, org.customers[0]!.id, connector[0].id, org.members.end_user.userId],
        );
        const { rows } = await c.query(`insert into roles (org_id, name) values ($1, 'Auditor') returning id`, [org.id]);
        await c.query(`insert into role_permissions (org_id, role_id, permission_key) values ($1, $2, 'audit_log.read')`, [
          org.id,
          rows[0].id,
        ]);
      },
      { commit: true },
    );
  }
});

afterAll(async () => {
  await issuer?.stop();
  await db?.drop();
});

describe('the gateway role', () => {
  it('is not superuser, has no BYPASSRLS and owns nothing', async () => {
    const { rows } = await pool.query(`
      select rolsuper, rolbypassrls,
        (select count(*)::int from pg_class where relowner = r.oid) as owned
      from pg_roles r where rolname = current_user`);
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owned: 0 });
  });

  it('finds RLS enabled and forced on every table with an org_id, and on users and organizations', async () => {
    const { rows } = await pool.query<{ table: string; enabled: boolean; forced: boolean }>(`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'app_public' and c.relkind = 'r'
        and (exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped)
             or c.relname in ('users', 'organizations'))`);
    expect(rows.length).toBeGreaterThanOrEqual(TENANT_TABLES.length + 2);
    for (const row of rows) expect(row, row.table).toMatchObject({ enabled: true, forced: true });
  });
});

/**
 * The only relations the app role may read without row-level security, each global reference
 * data that holds no tenant's rows. Everything else it can read (any schema, any column) must
 * have RLS enabled and forced, or be a security_invoker view over such tables.
 */
const READABLE_WITHOUT_RLS: Record<string, string> = {
  'app_public.permission_categories': 'the permission catalogue, rewritten from src/authz/permissions.ts at migrate',
  'app_public.permissions': 'the permission catalogue',
  'app_public.system_roles': 'the six system roles, the same in every organization',
  'app_public.system_role_permissions': 'the system roles’ grants (the matrix)',
  'app_public.project_permissions': 'the twelve project permissions (DESIGN §3b), the same everywhere',
  'app_public.system_project_roles': 'the four system project roles, the same in every organization',
  'app_public.system_project_role_permissions': 'the system project roles’ grants (the project matrix)',
  'app_migrations.applied': 'which migration files ran: the gateway checks them at start without owner credentials',
};

describe('nothing outside row-level security', () => {
  it('every relation the app role can read has RLS enabled and forced, or is on the short allow-list', async () => {
    const { rows } = await pool.query<{ relation: string; kind: string; enabled: boolean; forced: boolean; invoker: boolean }>(`
      select n.nspname || '.' || c.relname as relation, c.relkind as kind, c.relrowsecurity as enabled,
        c.relforcerowsecurity as forced, coalesce('security_invoker=true' = any(c.reloptions), false) as invoker
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f')
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
        and has_any_column_privilege(current_user, c.oid, 'SELECT')`);
    const unguarded = rows
      .filter((r) => !(['r', 'p'].includes(r.kind) && r.enabled && r.forced) && !(r.kind === 'v' && r.invoker))
      .map((r) => r.relation)
      .sort();
    expect(unguarded).toEqual(Object.keys(READABLE_WITHOUT_RLS).sort());
  });

  it('cross-tenant bookkeeping is not readable: the refresh schedule and the authorization versions', async () => {
    for (const table of ['app_private.connection_refresh_schedule', 'app_private.authz_versions']) {
      await expect(
        asApp(pool, staffOf(a), (c) => c.query(`select * from ${table}`)),
        table,
      ).rejects.toThrow(/permission denied/);
    }
  });

  it('the authorization version answers only for the bound organization', async () => {
    const read = (settings: Parameters<typeof asApp>[1], orgId: string) =>
      asApp(pool, settings, async (c) => (await c.query('select app_private.authz_version($1) as v', [orgId])).rows[0].v);
    expect(Number(await read(staffOf(a), a.id))).toBeGreaterThan(0);
    expect(await read(staffOf(a), b.id)).toBeNull();
    expect(await read({}, a.id)).toBeNull();
  });

  it('what is due for a token refresh is told only to a transaction bound to no organization or user', async () => {
    const connectionId = await asApp(
      pool,
      staffOf(b),
      async (c) => {
        const { rows: connector } = await c.query(
          `insert into definitions (org_id, kind, name, auth_kind) values ($1, 'connector', 'Due', 'oauth2') returning id`,
          [b.id],
        );
        const { rows } = await c.query(
          `insert into connections (org_id, customer_id, connector_id, name, scope, token_expires_at)
           values ($1, $2, $3, 'Due', 'shared', now() + interval '1 minute') returning id`,
          [b.id, b.customers[0]!.id, connector[0].id],
        );
        return rows[0].id as string;
      },
      { commit: true },
    );
    const due = (settings: Parameters<typeof asApp>[1]) =>
      asApp(pool, settings, async (c) => (await c.query('select * from app_private.due_connection_refreshes(50)')).rows);
    expect(await due({})).toContainEqual({ org_id: b.id, connection_id: connectionId });
    expect(await due(staffOf(b))).toEqual([]);
    expect(await due({ userId: b.members.owner.userId })).toEqual([]);
    expect(await due({ orgId: 'not-a-uuid' })).toEqual([]);
  });
});

describe('reads', () => {
  it.each(TENANT_TABLES)('%s: org A’s settings show only org A’s rows', async (table) => {
    const rows = await asApp(pool, staffOf(a), async (c) => (await c.query(`select distinct org_id from ${table}`)).rows);
    expect(rows.map((r) => r.org_id)).toEqual([a.id]);
  });

  const unsafeSettings = {
    unset: {},
    empty: { userId: '', orgId: '', role: '', tenantId: '' },
    'malformed org': { userId: randomUUID(), orgId: 'not-a-uuid', role: 'staff' },
    "org of someone's typo": { userId: randomUUID(), orgId: `${randomUUID()}`, role: 'staff' },
    'unknown role': { orgId: 'ORG', role: 'superuser' },
    'customer role without tenant': { orgId: 'ORG', role: 'customer' },
    'customer role with malformed tenant': { orgId: 'ORG', role: 'customer', tenantId: 'nope' },
  } as const;

  for (const [label, settings] of Object.entries(unsafeSettings)) {
    it(`${label}: no rows in any tenant table`, async () => {
      const resolved = {
        ...settings,
        orgId: 'orgId' in settings && settings.orgId === 'ORG' ? a.id : (settings as { orgId?: string }).orgId,
      };
      for (const table of [...TENANT_TABLES, 'organizations', 'users']) {
        const { rows } = await asApp(pool, resolved, async (c) => c.query(`select count(*)::int as n from ${table}`));
        expect(rows[0].n, `${label}: ${table}`).toBe(0);
      }
    });
  }

  it('a customer-confined request sees its own customer’s rows and nothing org-internal', async () => {
    // Every permission bound: the customer scope alone decides what is visible.
    const settings = {
      userId: a.members.end_user.userId,
      orgId: a.id,
      role: 'customer',
      tenantId: a.customers[0]!.id,
      permissions: PERMISSION_KEYS,
    };
    const seen = await asApp(pool, settings, async (c) => ({
      customers: (await c.query('select id from customers')).rows.map((r) => r.id),
      executions: (await c.query('select customer_id from executions')).rows.map((r) => r.customer_id),
      workflows: (await c.query('select count(*)::int as n from definitions')).rows[0].n,
      roles: (await c.query('select count(*)::int as n from roles')).rows[0].n,
      memberships: (await c.query('select user_id from memberships')).rows.map((r) => r.user_id),
      audit: (await c.query('select count(*)::int as n from audit_events')).rows[0].n,
    }));
    expect(seen).toEqual({
      customers: [a.customers[0]!.id],
      executions: [a.customers[0]!.id],
      workflows: 0,
      roles: 0,
      memberships: [a.members.end_user.userId], // only their own
      audit: 0,
    });
  });

  it('users: yourself, and colleagues of the organization you act in', async () => {
    const ids = await asApp(pool, staffOf(a), async (c) => (await c.query('select id from users')).rows.map((r) => r.id));
    expect(ids.sort()).toEqual(
      Object.values(a.members)
        .map((m) => m.userId)
        .sort(),
    );
  });
});

describe('writes', () => {
  it('cannot insert a row into another organization', async () => {
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(`insert into definitions (org_id, kind, name) values ($1, 'workflow', 'sneaky')`, [b.id]),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('cannot move a row into another organization', async () => {
    const moved = asApp(pool, staffOf(a), (c) =>
      c.query('update definitions set org_id = $1 where id = $2', [b.id, a.workflows[0]]),
    );
    await expect(moved).rejects.toThrow(/row-level security|violates foreign key/);
  });

  it('cannot update or delete another organization’s rows (they are not there)', async () => {
    const result = await asApp(pool, staffOf(a), async (c) => ({
      updated: (await c.query(`update definitions set name = 'pwned' where id = $1`, [b.workflows[0]])).rowCount,
      deleted: (await c.query('delete from definitions where id = $1', [b.workflows[1]])).rowCount,
    }));
    expect(result).toEqual({ updated: 0, deleted: 0 });
  });

  it('with settings unset, empty or malformed, writes nothing', async () => {
    for (const settings of [{}, { orgId: '', role: '' }, { orgId: 'garbage', role: 'staff' }]) {
      await expect(
        asApp(pool, settings, (c) =>
          c.query(`insert into definitions (org_id, kind, name) values ($1, 'workflow', 'x')`, [a.id]),
        ),
      ).rejects.toThrow(/row-level security/);
      const changed = await asApp(
        pool,
        settings,
        async (c) => (await c.query(`update definitions set name = name || '!'`)).rowCount,
      );
      expect(changed).toBe(0);
    }
  });

  it('a customer-confined request cannot write into another customer', async () => {
    // With the End User's permissions, so only the customer narrowing can refuse it.
    const settings = {
      userId: a.members.end_user.userId,
      orgId: a.id,
      role: 'customer',
      tenantId: a.customers[0]!.id,
      permissions: systemRole('end_user').permissions,
    };
    await expect(
      asApp(pool, settings, (c) =>
        c.query(`insert into executions (org_id, customer_id, target_kind, target_name) values ($1, $2, 'connection', 'x')`, [
          a.id,
          a.customers[1]!.id,
        ]),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('audit events can be inserted but never updated or deleted', async () => {
    await expect(asApp(pool, staffOf(a), (c) => c.query(`update audit_events set outcome = 'success'`))).rejects.toThrow(
      /permission denied/,
    );
    await expect(asApp(pool, staffOf(a), (c) => c.query('delete from audit_events'))).rejects.toThrow(/permission denied/);
    await expect(asApp(pool, staffOf(a), (c) => c.query('truncate audit_events'))).rejects.toThrow(/permission denied/);
  });

  it('cannot write the permission catalogue', async () => {
    await expect(
      asApp(pool, staffOf(a), (c) => c.query(`insert into permissions values ('x.y', 'workflows', 'y', 'z', 99)`)),
    ).rejects.toThrow(/permission denied/);
  });
});

describe('session settings', () => {
  it('are transaction-local: nothing survives on the connection', async () => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('app.org_id', $1, true)`, [a.id]);
      await client.query('commit');
      const { rows } = await client.query(
        `select nullif(current_setting('app.org_id', true), '') as org, (select count(*)::int from definitions) as n`,
      );
      expect(rows[0]).toEqual({ org: null, n: 0 });
    } finally {
      client.release();
    }
  });
});

describe('what a customer-confined request may write', () => {
  const confined = () => ({
    userId: a.members.end_user.userId,
    orgId: a.id,
    role: 'customer',
    tenantId: a.customers[0]!.id,
    permissions: systemRole('end_user').permissions,
  });

  it('cannot delete or change its customer', async () => {
    const result = await asApp(pool, confined(), async (c) => ({
      deleted: (await c.query('delete from customers')).rowCount,
      updated: (await c.query(`update customers set plan = 'free'`)).rowCount,
    }));
    expect(result).toEqual({ deleted: 0, updated: 0 });
  });

  it('queues runs for its own customer only, and cannot change a run', async () => {
    const run = (customerId: string) =>
      asApp(pool, confined(), (c) =>
        c.query(
          // A connection action: what an End User may run (connections.execute).
          `insert into executions (org_id, customer_id, target_kind, target_name) values ($1, $2, 'connection', 'x') returning id`,
          [a.id, customerId],
        ),
      );
    await expect(run(a.customers[0]!.id)).resolves.toBeTruthy();
    await expect(run(a.customers[1]!.id)).rejects.toThrow(/row-level security/);
    // Nobody but a runner (through migration 013's functions) changes a run (016: no UPDATE grant).
    await expect(
      asApp(pool, confined(), (c) => c.query(`update executions set status = 'succeeded', output = '{"forged":true}'`)),
    ).rejects.toThrow(/permission denied/);
  });

  it('cannot point a run at another customer’s connection or execution', async () => {
    const ids = await asApp(pool, staffOf(a), async (c) => ({
      connection: (await c.query('select id from connections where customer_id = $1', [a.customers[0]!.id])).rows[0].id,
      execution: (await c.query('select id from executions where customer_id = $1', [a.customers[0]!.id])).rows[0].id,
    }));
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(
          `insert into executions (org_id, customer_id, target_kind, target_name, connection_id) values ($1, $2, 'connection', 'x', $3)`,
          [a.id, a.customers[1]!.id, ids.connection],
        ),
      ),
    ).rejects.toThrow(/foreign key/);
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(
          `insert into executions (org_id, customer_id, target_kind, target_name, retry_of) values ($1, $2, 'tool', 'x', $3)`,
          [a.id, a.customers[1]!.id, ids.execution],
        ),
      ),
      // A retry must repeat its own customer's run (the policy of 014 refuses before the key does).
    ).rejects.toThrow(/foreign key|row-level security/);
  });

  it('records audit events only as itself and for its own customer', async () => {
    const insert = (actor: string | null, customerId: string | null) =>
      asApp(pool, confined(), (c) =>
        c.query(
          `insert into audit_events (org_id, actor_type, actor_user_id, action, resource_type, outcome, customer_id) values ($1, $2, $3, 'x.y', 'x', 'success', $4)`,
          [a.id, actor ? 'user' : 'system', actor, customerId],
        ),
      );
    await expect(insert(a.members.end_user.userId, a.customers[0]!.id)).resolves.toBeTruthy();
    await expect(insert(a.members.owner.userId, a.customers[0]!.id)).rejects.toThrow(/row-level security/);
    await expect(insert(null, a.customers[0]!.id)).rejects.toThrow(/row-level security/);
    await expect(insert(a.members.end_user.userId, a.customers[1]!.id)).rejects.toThrow(/row-level security/);
  });
});

describe('rules the database keeps itself', () => {
  it('system roles are immutable: no renaming, re-keying, grants of their own or deletion', async () => {
    const attempts = [
      `update roles set name = 'Boss' where system_key = 'admin'`,
      `update roles set system_key = null where system_key = 'owner'`,
      `update roles set system_key = 'owner' where system_key is null`,
      `insert into role_permissions (org_id, role_id, permission_key) select org_id, id, 'billing.manage' from roles where system_key = 'viewer'`,
      `delete from roles where system_key = 'viewer'`,
    ];
    for (const sql of attempts)
      await expect(
        asApp(pool, staffOf(a), (c) => c.query(sql)),
        sql,
      ).rejects.toThrow(/immutable|catalogue|foreign key|still referenced/);
  });

  it('an organization cannot be left without an Owner, nor created without one', async () => {
    await expect(
      asApp(
        pool,
        staffOf(a),
        (c) => c.query(`update memberships set status = 'inactive' where user_id = $1`, [a.members.owner.userId]),
        { commit: true },
      ),
    ).rejects.toThrow(/active owners/);
    const orphan = randomUUID();
    await expect(
      asApp(
        pool,
        { userId: a.members.owner.userId, orgId: orphan, role: 'staff' },
        (c) => c.query(`insert into organizations (id, name) values ($1, 'Ownerless')`, [orphan]),
        {
          commit: true,
        },
      ),
    ).rejects.toThrow(/active owners/);
  });

  it('a customer-confined role comes with a customer, and only it does', async () => {
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(`update memberships set customer_id = null where user_id = $1`, [a.members.end_user.userId]),
      ),
    ).rejects.toThrow(/customer-confined/);
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(`update memberships set customer_id = $2 where user_id = $1`, [a.members.viewer.userId, a.customers[0]!.id]),
      ),
    ).rejects.toThrow(/customer-confined/);
    await expect(
      asApp(pool, staffOf(a), (c) =>
        c.query(
          `insert into invitations (org_id, email, role_id, expires_at) select $1, 'eu@example.test', id, now() + interval '1 day' from roles where system_key = 'end_user'`,
          [a.id],
        ),
      ),
    ).rejects.toThrow(/customer-confined/);
  });

  it('every change that can alter permissions bumps the organization’s authorization version', async () => {
    const version = async () =>
      asApp(pool, staffOf(a), async (c) =>
        Number((await c.query('select app_private.authz_version($1) as v', [a.id])).rows[0].v),
      );
    const changes = [
      `update memberships set user_id = user_id where user_id = '${a.members.viewer.userId}'`,
      `update memberships set role_id = role_id where user_id = '${a.members.viewer.userId}'`,
      `insert into teams (org_id, name) values ('${a.id}', 'Versioned team')`,
    ];
    for (const sql of changes.slice(0, 2)) {
      const before = await version();
      await asApp(pool, staffOf(a), (c) => c.query(sql), { commit: true });
      expect(await version(), sql).toBeGreaterThan(before);
    }
    await asApp(pool, staffOf(a), (c) => c.query(changes[2]!), { commit: true });
    const teams = await asApp(
      pool,
      staffOf(a),
      async (c) => (await c.query(`select id from teams where name = 'Versioned team'`)).rows[0].id as string,
    );
    const other = await asApp(
      pool,
      staffOf(a),
      async (c) => {
        await c.query(`insert into teams (org_id, name) values ($1, 'Other team')`, [a.id]);
        return (await c.query(`select id from teams where name = 'Other team'`)).rows[0].id as string;
      },
      { commit: true },
    );
    await asApp(
      pool,
      staffOf(a),
      (c) =>
        c.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [
          a.id,
          teams,
          a.members.viewer.membershipId,
        ]),
      { commit: true },
    );
    const before = await version();
    await asApp(pool, staffOf(a), (c) => c.query('update team_members set team_id = $1 where team_id = $2', [other, teams]), {
      commit: true,
    });
    expect(await version()).toBeGreaterThan(before);
  });

  it('last-active touches only the caller’s own membership', async () => {
    const touched = await asApp(
      pool,
      { userId: a.members.end_user.userId, orgId: a.id, role: 'customer', tenantId: a.customers[0]!.id },
      async (c) => {
        await c.query('select app_private.touch_member($1)', [a.members.owner.membershipId]);
        await c.query('select app_private.touch_member($1)', [a.members.end_user.membershipId]);
        return true;
      },
      { commit: true },
    );
    expect(touched).toBe(true);
    const rows = await asApp(
      pool,
      staffOf(a),
      async (c) =>
        (
          await c.query(
            'select user_id, last_active_at is not null as touched from memberships where user_id = any($1::uuid[])',
            [[a.members.owner.userId, a.members.end_user.userId]],
          )
        ).rows,
    );
    expect(Object.fromEntries(rows.map((r) => [r.user_id, r.touched]))).toEqual({
      [a.members.owner.userId]: false,
      [a.members.end_user.userId]: true,
    });
  });

  it('no app_private function is executable by PUBLIC', async () => {
    const { rows } = await pool.query(`
      select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'app_private' and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'))`);
    expect(rows).toEqual([]);
  });
});
