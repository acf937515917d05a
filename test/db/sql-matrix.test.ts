/**
 * The role matrix, enforced by PostgreSQL alone: every (role, case) pair of the registry in
 * test/db/sql-cases.ts, tried in raw SQL as gateway_app with the settings the gateway binds for
 * that role (bindingSql, with the permissions effectivePermissions derives from the matrix).
 * Allowed exactly where src/authz/permissions.ts allows; refused (an RLS violation or no row
 * touched) everywhere else. A permission or a writable table without a case fails here.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { PERMISSION_KEYS, SYSTEM_ROLES, systemRole, type Permission } from '../../src/authz/permissions.js';
import { effectivePermissions } from '../../src/authz/scopes.js';
import { RequestDatabase, bindingSql, type DatabaseBinding } from '../../src/db/request-database.js';
import { createDefinition } from '../../src/domain/definitions.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { World, type SeededOrg, type SeededUser } from '../helpers/world.js';
import { OWNER_CAPABILITIES, SQL_CASES, UNGATED, allCases, type CaseWorld } from './sql-cases.js';

let db: TestDatabase;
let pool: pg.Pool;
let issuer: DevIssuer;
let org: SeededOrg;
let outsider: SeededUser;

interface Actor {
  label: string;
  userId: () => string;
  /** The statement that binds the actor, as the gateway writes it (or a raw one, for malformed values). */
  bind: () => string;
  permissions: ReadonlySet<string>;
  /** The bound user is the Owner, acting as staff, with permissions bound. */
  owner: boolean;
}

function roleActor(key: (typeof SYSTEM_ROLES)[number]['key']): Actor {
  const role = systemRole(key);
  const permissions = effectivePermissions(new Set(role.permissions), role.customerConfined);
  return {
    label: role.name,
    userId: () => org.members[key].userId,
    bind: () =>
      bindingSql({
        userId: org.members[key].userId,
        orgId: org.id,
        access: role.customerConfined ? 'customer' : 'staff',
        tenantId: role.customerConfined ? org.customers[0]!.id : null,
        permissions: [...permissions],
      }),
    permissions,
    owner: key === 'owner',
  };
}

const ownerBinding = (overrides: Partial<DatabaseBinding> = {}): DatabaseBinding => ({
  userId: org.members.owner.userId,
  orgId: org.id,
  access: 'staff',
  tenantId: null,
  permissions: systemRole('owner').permissions,
  ...overrides,
});

/** The Owner's user, bound with raw `app.permissions` text: anything malformed must grant nothing. */
function rawPermissionsActor(label: string, raw: string): Actor {
  return {
    label,
    userId: () => org.members.owner.userId,
    bind: () => `${bindingSql(ownerBinding({ permissions: [] }))}; select set_config('app.permissions', '${raw}', true)`,
    permissions: new Set(),
    owner: false,
  };
}

const ownerInCustomer = effectivePermissions(new Set(systemRole('owner').permissions), true);

const ACTORS: Actor[] = [
  ...SYSTEM_ROLES.map((r) => roleActor(r.key)),
  {
    // Staff confined to one customer (X-Customer-Id): the gateway narrows to the End User's set.
    label: 'Owner in a customer’s context',
    userId: () => org.members.owner.userId,
    bind: () =>
      bindingSql(ownerBinding({ access: 'customer', tenantId: org.customers[0]!.id, permissions: [...ownerInCustomer] })),
    permissions: ownerInCustomer,
    owner: false,
  },
  {
    label: 'Owner with no permission bound',
    userId: () => org.members.owner.userId,
    bind: () => bindingSql(ownerBinding({ permissions: [] })),
    permissions: new Set(),
    owner: false,
  },
  rawPermissionsActor('permissions unset', ''),
  rawPermissionsActor('permissions without braces', 'workflows.create,people.manage'),
  rawPermissionsActor('permissions quoted', '{"workflows.create","people.manage"}'),
  rawPermissionsActor('permissions with a space', '{workflows.create, people.manage}'),
  rawPermissionsActor('permissions unterminated', '{workflows.create,people.manage'),
];

function expectedAllowed(actor: Actor, key: string, coverage: 'enforced' | 'not enforced'): boolean {
  if (coverage === 'not enforced' || key === UNGATED) return true;
  if (key === OWNER_CAPABILITIES) return actor.owner;
  return actor.permissions.has(key);
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool();
  issuer = await startDevIssuer({ port: 0 });
  const world = new World(pool, issuer);
  org = await world.organization('SQL matrix', { workflows: 1 });
  outsider = await world.user('outsider');
});

afterAll(async () => {
  await issuer?.stop();
  await db?.drop();
});

/** One attempt in a transaction of its own: fixtures as the Owner, the attempt as the actor, rollback. */
async function attempt(actor: Actor, entry: ReturnType<typeof allCases>[number]): Promise<{ allowed: boolean; detail: string }> {
  const w: CaseWorld = {
    orgId: org.id,
    customerId: org.customers[0]!.id,
    ownerMembershipId: org.members.owner.membershipId,
    adminMembershipId: org.members.admin.membershipId,
    actorUserId: actor.userId(),
    outsiderUserId: outsider.userId,
  };
  const client = await pool.connect();
  try {
    await client.query(`begin; ${bindingSql(ownerBinding())}`);
    const ids = entry.case.setup ? await entry.case.setup(client, w) : {};
    await client.query(actor.bind());
    try {
      const n = await entry.case.attempt(client, ids, w);
      return { allowed: n > 0, detail: `${n} row(s)` };
    } catch (error) {
      // 42501: an RLS violation, or a permission trigger's refusal. Anything else is a broken case.
      if ((error as { code?: string }).code === '42501') return { allowed: false, detail: (error as Error).message };
      throw error;
    }
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}

describe('coverage', () => {
  it('has an entry for every permission of the matrix, and nothing else', () => {
    const keys = Object.keys(SQL_CASES);
    expect(PERMISSION_KEYS.filter((p) => !keys.includes(p))).toEqual([]);
    expect(keys.filter((k) => !(PERMISSION_KEYS as readonly string[]).includes(k))).toEqual([OWNER_CAPABILITIES, UNGATED]);
  });

  it('has a case for every table and command the app role may write (from the catalog)', async () => {
    const { rows } = await pool.query<{ relation: string; command: string }>(`
      select n.nspname || '.' || c.relname as relation, lower(p.command) as command
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      cross join unnest(array['INSERT', 'UPDATE', 'DELETE']) as p(command)
      where c.relkind in ('r', 'p', 'v', 'm', 'f')
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
        and has_table_privilege(current_user, c.oid, p.command)
      order by 1, 2`);
    expect(rows.length).toBeGreaterThan(20);
    const covered = new Set(
      allCases()
        .filter((e) => e.case.command !== 'select')
        .map((e) => `${e.case.table.includes('.') ? e.case.table : `app_public.${e.case.table}`} ${e.case.command}`),
    );
    expect(rows.map((r) => `${r.relation} ${r.command}`).filter((k) => !covered.has(k))).toEqual([]);
  });

  it('the app role may truncate nothing (TRUNCATE ignores row-level security)', async () => {
    const { rows } = await pool.query(`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        and has_table_privilege(current_user, c.oid, 'TRUNCATE')`);
    expect(rows).toEqual([]);
  });
});

describe.each(ACTORS.map((a) => [a.label, a] as const))('%s', (_label, actor) => {
  it.each(allCases().map((e) => [`${e.key}: ${e.case.name}`, e] as const))('%s', async (_name, entry) => {
    const expected = expectedAllowed(actor, entry.key, entry.coverage);
    const outcome = await attempt(actor, entry);
    expect(outcome.allowed, `${actor.label} / ${entry.key} / ${entry.case.name}: ${outcome.detail}`).toBe(expected);
  });
});

describe('finer than a row: which columns a permission may change', () => {
  const only = (permissions: Permission[]) => bindingSql(ownerBinding({ permissions }));
  const run = async (permissions: Permission[], sql: (ids: { connection: string; customer: string }) => string) => {
    const client = await pool.connect();
    try {
      await client.query(`begin; ${bindingSql(ownerBinding())}`);
      const { rows } = await client.query<{ connector: string }>(
        `insert into definitions (org_id, kind, name, auth_kind) values (app_public.current_org_id(), 'connector', 'C', 'api_key') returning id as connector`,
      );
      const connection = (
        await client.query<{ id: string }>(
          `insert into connections (org_id, customer_id, connector_id, name, scope) values (app_public.current_org_id(), $1, $2, 'N', 'user') returning id`,
          [org.customers[0]!.id, rows[0]!.connector],
        )
      ).rows[0]!.id;
      await client.query(only(permissions));
      const result = await client.query(sql({ connection, customer: org.customers[1]!.id }));
      return result.rowCount;
    } finally {
      await client.query('rollback').catch(() => {});
      client.release();
    }
  };

  it('connections.execute records a test’s outcome, but neither renames nor shares', async () => {
    await expect(
      run(['connections.execute'], (i) => `update connections set status = 'error' where id = '${i.connection}'`),
    ).resolves.toBe(1);
    await expect(
      run(['connections.execute'], (i) => `update connections set name = 'x' where id = '${i.connection}'`),
    ).rejects.toThrow(/connections.update/);
    await expect(
      run(['connections.execute'], (i) => `update connections set scope = 'shared' where id = '${i.connection}'`),
    ).rejects.toThrow(/connections.share/);
    await expect(
      run(['connections.share'], (i) => `update connections set credentials = '\\x00' where id = '${i.connection}'`),
    ).rejects.toThrow(/connections.update/);
  });

  it('billing.manage sets limits and nothing else; customers.manage everything but limits', async () => {
    await expect(
      run(['billing.manage'], (i) => `update customers set max_connections = 1 where id = '${i.customer}'`),
    ).resolves.toBe(1);
    await expect(
      run(['billing.manage'], (i) => `update customers set status = 'suspended' where id = '${i.customer}'`),
    ).rejects.toThrow(/customers.manage/);
    await expect(
      run(['customers.manage'], (i) => `update customers set max_connections = 1 where id = '${i.customer}'`),
    ).rejects.toThrow(/billing.manage/);
  });
});

describe('a run’s status is a runner’s (migration 016)', () => {
  /** A queued execution, made as the Owner; then `sql` as `actor`; rolled back. */
  const tryAs = async (actor: Actor, sql: string) => {
    const client = await pool.connect();
    try {
      await client.query(`begin; ${bindingSql(ownerBinding())}`);
      const { rows } = await client.query<{ id: string }>(
        `insert into executions (org_id, customer_id, target_kind, definition_id, target_name, status, lease_id, lease_expires_at)
         values (app_public.current_org_id(), $1, 'workflow', $2, 'wf', 'queued', null, null) returning id`,
        [org.customers[0]!.id, org.workflows[0]],
      );
      const id = rows[0]!.id;
      await client.query(actor.bind());
      try {
        return { rows: (await client.query(sql, [id])).rowCount ?? 0, code: null as string | null };
      } catch (error) {
        return { rows: 0, code: (error as { code?: string }).code ?? 'other' };
      }
    } finally {
      await client.query('rollback').catch(() => {});
      client.release();
    }
  };
  const FORGE = `update executions set status = 'succeeded', output = '{"forged":true}', finished_at = now() where id = $1`;
  const CLAIM = `update executions set status = 'running', lease_id = gen_random_uuid(), lease_expires_at = now() + interval '5 minutes' where id = $1`;

  it('no member, whatever their execute permissions, sets status = succeeded (or claims a run) in raw SQL', async () => {
    const withExecute: Actor = {
      label: 'a member holding workflows.execute',
      userId: () => org.members.operator.userId,
      bind: () =>
        bindingSql(ownerBinding({ userId: org.members.operator.userId, permissions: ['workflows.execute', 'workflows.read'] })),
      permissions: new Set(['workflows.execute', 'workflows.read']),
      owner: false,
    };
    for (const actor of [withExecute, ...ACTORS.slice(0, SYSTEM_ROLES.length)]) {
      for (const sql of [FORGE, CLAIM]) {
        const outcome = await tryAs(actor, sql);
        // 42501: permission denied for table executions (no UPDATE grant), before any row is read.
        expect(outcome, `${actor.label}: ${sql}`).toEqual({ rows: 0, code: '42501' });
      }
    }
  });

  it('the holder still queues the run it may execute (the insert is untouched)', async () => {
    const client = await pool.connect();
    try {
      await client.query(`begin; ${bindingSql(ownerBinding({ permissions: ['workflows.execute'] }))}`);
      const { rowCount } = await client.query(
        `insert into executions (org_id, customer_id, target_kind, definition_id, target_name)
         values (app_public.current_org_id(), $1, 'workflow', $2, 'wf')`,
        [org.customers[0]!.id, org.workflows[0]],
      );
      expect(rowCount).toBe(1);
    } finally {
      await client.query('rollback').catch(() => {});
      client.release();
    }
  });

  it('the catalog agrees: the app role may not UPDATE executions, not even one column', async () => {
    const { rows } = await pool.query<{ table_level: boolean; any_column: boolean }>(
      `select has_table_privilege('app_public.executions', 'UPDATE') as table_level,
              has_any_column_privilege('app_public.executions', 'UPDATE') as any_column`,
    );
    expect(rows[0]).toEqual({ table_level: false, any_column: false });
  });
});

describe('reads and the Owner', () => {
  const as = async <T>(binding: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query(`begin; ${binding}`);
      return await fn(client);
    } finally {
      await client.query('rollback').catch(() => {});
      client.release();
    }
  };

  it('a resolver that forgets its check still cannot write: bound with workflows.read only (the issue’s measurement)', async () => {
    const reader = await new World(pool, issuer).customRole(org, `Reader ${Date.now()}`, ['workflows.read']);
    const binding: DatabaseBinding = {
      userId: reader.member.userId,
      orgId: org.id,
      access: 'staff',
      tenantId: null,
      permissions: ['workflows.read'],
    };
    const insert = new RequestDatabase(pool, binding, silentLogger);
    try {
      await expect(createDefinition(insert, 'workflow', reader.member.userId, { name: 'Sneaky' })).rejects.toThrow(
        /database refused this write/,
      );
    } finally {
      await insert.abandon();
    }
    const remove = new RequestDatabase(pool, binding, silentLogger);
    try {
      expect((await remove.query('delete from customers where id = $1', [org.customers[1]!.id])).rowCount).toBe(0);
      expect((await remove.query(`update definitions set name = 'pwned' where id = $1`, [org.workflows[0]])).rowCount).toBe(0);
    } finally {
      await remove.abandon();
    }
  });

  it('a role that may only create workflows creates one, reads it back, and sees no other kind', async () => {
    const seen = await as(bindingSql(ownerBinding({ permissions: ['workflows.create'] })), async (c) => {
      const created = await c.query(
        `insert into definitions (org_id, kind, name) values (app_public.current_org_id(), 'workflow', 'Mine') returning id`,
      );
      const kinds = await c.query<{ kind: string }>('select distinct kind from definitions order by 1');
      return { created: created.rowCount, kinds: kinds.rows.map((r) => r.kind) };
    });
    expect(seen).toEqual({ created: 1, kinds: ['workflow'] });
  });

  it('an Admin can neither promote someone to Owner nor demote, deactivate or remove the Owner', async () => {
    const admin = bindingSql(ownerBinding({ userId: org.members.admin.userId, permissions: systemRole('admin').permissions }));
    const attempts = [
      `update memberships set role_id = (select id from roles where system_key = 'owner') where id = '${org.members.viewer.membershipId}'`,
      `update memberships set role_id = (select id from roles where system_key = 'admin') where id = '${org.members.owner.membershipId}'`,
      `update memberships set status = 'inactive' where id = '${org.members.owner.membershipId}'`,
      `delete from memberships where id = '${org.members.owner.membershipId}'`,
      `insert into memberships (org_id, user_id, role_id) select org_id, '${outsider.userId}', id from roles where system_key = 'owner'`,
    ];
    for (const sql of attempts) {
      const outcome = await as(admin, (c) => c.query(sql)).then(
        (r) => r.rowCount,
        (error: { code?: string }) => error.code,
      );
      expect([0, '42501'], sql).toContain(outcome);
    }
  });

  it('a binding without a permission set gets the bound member’s own, resolved by the database', async () => {
    const granted = async (binding: Partial<DatabaseBinding>) =>
      as(bindingSql({ ...ownerBinding(binding), permissions: undefined }), async (c) => {
        const { rows } = await c.query<{ p: string[] | null }>('select app_public.current_permissions() as p');
        return rows[0]!.p;
      });
    expect(await granted({ userId: org.members.viewer.userId })).toEqual([...systemRole('viewer').permissions].sort());
    expect(await granted({ userId: outsider.userId })).toBeNull();
    expect(await granted({ access: 'customer', tenantId: org.customers[0]!.id })).toEqual(
      [...effectivePermissions(new Set(systemRole('owner').permissions), true)].sort(),
    );
    expect(await granted({ access: null })).toBeNull();
  });

  it('usage and a connector’s use are counted whatever the caller may read, within its binding only', async () => {
    const client = await pool.connect();
    try {
      await client.query(`begin; ${bindingSql(ownerBinding())}`);
      const connector = (
        await client.query<{ id: string }>(
          `insert into definitions (org_id, kind, name, auth_kind) values (app_public.current_org_id(), 'connector', 'Used', 'api_key') returning id`,
        )
      ).rows[0]!.id;
      await client.query(
        `insert into connections (org_id, customer_id, connector_id, name) values (app_public.current_org_id(), $1, $2, 'C')`,
        [org.customers[0]!.id, connector],
      );
      await client.query(
        `insert into executions (org_id, customer_id, target_kind, target_name) values (app_public.current_org_id(), $1, 'tool', 't')`,
        [org.customers[0]!.id],
      );
      const look = async (binding: string) => {
        await client.query(binding);
        const { rows } = await client.query(
          `select (select count(*)::int from executions) as runs_seen, (select count(*)::int from connections) as connections_seen,
             (select coalesce(sum(executions_this_month), 0)::int from app_private.executions_this_month($1::uuid[])) as runs_counted,
             app_private.connector_connection_count($2) as connections_counted`,
          [[org.customers[0]!.id, org.customers[1]!.id], connector],
        );
        return rows[0];
      };
      // customers.read and connectors.delete alone: the rows stay hidden, the counts are right.
      expect(await look(bindingSql(ownerBinding({ permissions: ['customers.read', 'connectors.delete'] })))).toEqual({
        runs_seen: 0,
        connections_seen: 0,
        runs_counted: 1,
        connections_counted: 1,
      });
      // Another customer's context counts nothing of customer 1's.
      expect(
        await look(
          bindingSql(ownerBinding({ access: 'customer', tenantId: org.customers[1]!.id, permissions: ['customers.read'] })),
        ),
      ).toMatchObject({ runs_counted: 0, connections_counted: 0 });
      // No binding: nothing.
      expect(await look(bindingSql({ userId: null, orgId: null, access: null, tenantId: null }))).toMatchObject({
        runs_counted: 0,
        connections_counted: 0,
      });
    } finally {
      await client.query('rollback').catch(() => {});
      client.release();
    }
  });

  it('refuses to write a malformed permission into the binding statement', () => {
    expect(() => bindingSql(ownerBinding({ permissions: ["workflows.read','x"] }))).toThrow(/malformed permission/);
    expect(() => bindingSql(ownerBinding({ permissions: ['Workflows.Read'] }))).toThrow(/malformed permission/);
  });
});
