/**
 * Review of migration 022 (docs: /work/notes/review-people.md, finding P1): a membership written
 * while its user is being renamed keeps the user's old name and email in its copies
 * (`sort_key`, `user_name`, `user_email`), and so do its team rows. `set_membership_sort_key`
 * reads the user without a lock; the rename (`resort_memberships_of_user`) re-sorts only the
 * memberships its snapshot sees. 022 closes the same race for team rows with FOR SHARE, not this one.
 *
 * Both orders are checked; each test is written so that it also terminates once the insert (or
 * the rename) waits for the other transaction (the fix: `for share` on the user's row).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEYS } from '../../src/authz/permissions.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../helpers/database.js';

const A = '0b990000-0000-4000-8000-00000000000a';
const OWNER = '0b990000-0000-4000-8000-0000000000aa';
const DAN = '0b990000-0000-4000-8000-0000000000d1';
const ERIN = '0b990000-0000-4000-8000-0000000000e1';

let db: TestDatabase;
let pool: pg.Pool;
let viewerRoleId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool(4);
  await asSuperuser(db, async (c) => {
    await c.query(`set search_path = app_public; begin;
      select set_config('app.org_id', '${A}', false), set_config('app.role', 'staff', false);
      insert into organizations (id, name) values ('${A}', 'A');
      insert into users (id, issuer, subject, email, name) values
        ('${OWNER}', 'test', 'owner', 'owner@a.test', 'Owner'),
        ('${DAN}', 'test', 'dan', 'dan@old.test', 'Dan Old'),
        ('${ERIN}', 'test', 'erin', 'erin@old.test', 'Erin Old');
      insert into roles (org_id, system_key, name, description) select '${A}', key, name, description from system_roles;
      insert into memberships (org_id, user_id, role_id) select '${A}', '${OWNER}', id from roles where org_id = '${A}' and system_key = 'owner';
      commit;`);
    viewerRoleId = (await c.query(`select id from app_public.roles where org_id = $1 and system_key = 'viewer'`, [A])).rows[0].id;
  });
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

/** A gateway_app transaction bound as org A's staff holding every permission (a people.manage request). */
async function adminOfA(): Promise<pg.PoolClient> {
  const c = await pool.connect();
  await c.query('begin');
  await c.query(
    `select set_config('app.user_id', $1, true), set_config('app.org_id', $2, true), set_config('app.role', 'staff', true),
            set_config('app.permissions', $3, true)`,
    [OWNER, A, `{${[...new Set(PERMISSION_KEYS)].sort().join(',')}}`],
  );
  return c;
}

/** The identity upsert as the gateway runs it: gateway_app, bound to nothing. */
async function identityTransaction(): Promise<pg.PoolClient> {
  const c = await pool.connect();
  await c.query('begin');
  return c;
}

async function copiesOf(userId: string) {
  return asSuperuser(db, async (c) => {
    const { rows } = await c.query(
      `select u.name, u.email, m.sort_key, m.user_name, m.user_email,
              (select array_agg(tm.sort_key) from app_public.team_members tm where tm.org_id = m.org_id and tm.membership_id = m.id) as team_keys
         from app_public.memberships m join app_public.users u on u.id = m.user_id where m.user_id = $1`,
      [userId],
    );
    return rows[0];
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("P1: a membership written during its user's rename keeps the new name and email", () => {
  it('rename in flight, then the membership is inserted (an admin adds the user, an invitation is accepted)', async () => {
    const rename = await identityTransaction();
    const admin = await adminOfA();
    try {
      await rename.query('select app_private.ensure_user($1, $2, $3, $4, $5)', ['test', 'dan', 'dan@new.test', true, 'Dan New']);
      const inserted = (async () => {
        const { rows } = await admin.query(
          `insert into app_public.memberships (org_id, user_id, role_id) values ($1, $2, $3) returning id`,
          [A, DAN, viewerRoleId],
        );
        await admin.query(
          `insert into app_public.teams (org_id, id, name) values ($1, '0b990000-0000-4000-8000-0000000000f1', 'T')`,
          [A],
        );
        await admin.query(
          `insert into app_public.team_members (org_id, team_id, membership_id) values ($1, '0b990000-0000-4000-8000-0000000000f1', $2)`,
          [A, rows[0].id],
        );
        await admin.query('commit');
      })();
      await sleep(300); // the insert either completed (today) or waits for the rename (fixed)
      await rename.query('commit');
      await inserted;
    } finally {
      rename.release();
      admin.release();
    }
    const row = await copiesOf(DAN);
    expect(row.name).toBe('Dan New');
    // Today: sort_key 'dan old', user_name 'Dan Old', user_email 'dan@old.test', team key 'dan old'.
    expect({ sort_key: row.sort_key, user_name: row.user_name, user_email: row.user_email, team_keys: row.team_keys }).toEqual({
      sort_key: 'dan new',
      user_name: 'Dan New',
      user_email: 'dan@new.test',
      team_keys: ['dan new'],
    });
  });

  it('membership inserted (not yet committed), then the user is renamed', async () => {
    const admin = await adminOfA();
    const rename = await identityTransaction();
    try {
      await admin.query(`insert into app_public.memberships (org_id, user_id, role_id) values ($1, $2, $3)`, [
        A,
        ERIN,
        viewerRoleId,
      ]);
      const renamed = (async () => {
        await rename.query('select app_private.ensure_user($1, $2, $3, $4, $5)', [
          'test',
          'erin',
          'erin@new.test',
          true,
          'Erin New',
        ]);
        await rename.query('commit');
      })();
      await sleep(300); // the rename either completed (today) or waits for the insert (fixed)
      await admin.query('commit');
      await renamed;
    } finally {
      rename.release();
      admin.release();
    }
    const row = await copiesOf(ERIN);
    expect(row.name).toBe('Erin New');
    // Today: 'erin old' / 'Erin Old' / 'erin@old.test'.
    expect({ sort_key: row.sort_key, user_name: row.user_name, user_email: row.user_email }).toEqual({
      sort_key: 'erin new',
      user_name: 'Erin New',
      user_email: 'erin@new.test',
    });
  });
});
