/**
 * The People list's team filter and search (migration 022): the same rows, in the same order,
 * with the same cursors, as the list answered before (a walk of every member and invitation with
 * `exists` on the team rows; ILIKE on the user's name and email through a join), checked against
 * that query run beside it, page by page in both directions, with the search indexed (the test
 * cluster is bootstrapped by a superuser) and not. And the copies the new plan reads stay in step:
 * a renamed user re-sorts and is found by the new name in a team's list, joining and leaving a
 * team, revoking or accepting an invitation, a write naming a copied column.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestDatabase, type DatabaseBinding } from '../../src/db/request-database.js';
import { containsPattern, detectIndexedSearch, setIndexedSearch, type PageArgs } from '../../src/domain/pagination.js';
import { listPeople, type PeopleFilter } from '../../src/domain/people.js';
import { PERMISSION_KEYS } from '../../src/authz/permissions.js';
import { asApp, asSuperuser, createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';

const A = '0b220000-0000-4000-8000-00000000000a';
const B = '0b220000-0000-4000-8000-00000000000b';
const OWNER = '0b220000-0000-4000-8000-0000000000aa';
const TEAM = '0b220000-0000-4000-8000-0000000000f1';
const EMPTY_TEAM = '0b220000-0000-4000-8000-0000000000f2';
const OTHER_TEAM = '0b220000-0000-4000-8000-0000000000f3';
const MISSING_TEAM = '0b220000-0000-4000-8000-0000000000f4';
/** User n's id. */
const user = (n: number) => `0b220001-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const USERS = 40;

let db: TestDatabase;
let pool: pg.Pool;
let viewerRoleId: string;

const staffA: DatabaseBinding = {
  userId: OWNER,
  orgId: A,
  access: 'staff',
  tenantId: null,
  permissions: ['people.read', 'people.manage'],
};
/** Every permission bound (the no-escalation policies let a writer touch only roles it holds). */
const manageA = { userId: OWNER, orgId: A, role: 'staff', permissions: PERMISSION_KEYS };

/** Names with LIKE wildcards and mixed case; every fifth user has none (sorted by email). */
function nameOf(n: number): string | null {
  if (n % 5 === 0) return null;
  const names = ['Ann_Lee', '100% Bob', 'carol', 'Dave Smith', 'Eve', 'Zoë Ångström', 'bob', 'Ann Lee'];
  return `${names[n % names.length]} ${n}`;
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.appPool(2);
  setIndexedSearch(await detectIndexedSearch(pool));
  // As the superuser with each organization bound (the copies' triggers run as the owner, who is
  // subject to RLS): the rows are written the way requests and definer functions write them.
  await asSuperuser(db, async (raw) => {
    // Several statements per round trip (simple protocol): the values are spelled inline.
    const c = {
      query: (sql: string, values: string[] = []) =>
        raw.query(sql.replace(/\$(\d)/g, (_, n: string) => `'${values[Number(n) - 1]}'`)),
    };
    await c.query(`set search_path = app_public; begin;
      select set_config('app.org_id', '${A}', false), set_config('app.role', 'staff', false);
      insert into organizations (id, name) values ('${A}', 'A');
      select set_config('app.org_id', '${B}', false);
      insert into organizations (id, name) values ('${B}', 'B');
      insert into users (id, issuer, subject, email, name) values ('${OWNER}', 'test', 'owner', 'owner@a.test', 'Owner');`);
    for (let n = 1; n <= USERS; n++) {
      await raw.query('insert into users (id, issuer, subject, email, name) values ($1, $2, $3, $4, $5)', [
        user(n),
        'test',
        `u${n}`,
        `Person.${n}@Example.test`,
        nameOf(n),
      ]);
    }
    for (const org of [A, B]) {
      await c.query(`select set_config('app.org_id', $1, false), set_config('app.role', 'staff', false)`, [org]);
      await c.query(
        `insert into roles (org_id, system_key, name, description) select $1, key, name, description from system_roles`,
        [org],
      );
    }
    await c.query(`select set_config('app.org_id', $1, false)`, [A]);
    viewerRoleId = (await c.query(`select id from roles where org_id = $1 and system_key = 'viewer'`, [A])).rows[0].id;
    await c.query(
      `insert into memberships (org_id, user_id, role_id) select $1, $2, id from roles where org_id = $1 and system_key = 'owner';
       insert into memberships (org_id, user_id, role_id, status)
         select $1, u.id, r.id, case when u.subject in ('u3', 'u8', 'u13') then 'inactive' else 'active' end
         from users u join roles r on r.org_id = $1
           and r.system_key = case when right(u.subject, 1) in ('1', '2') then 'developer' else 'viewer' end
         where u.subject like 'u%';
       insert into invitations (org_id, email, role_id, expires_at, status)
         select $1, 'invitee' || i || case when i % 3 = 0 then '_x' else '' end || '@example.test', $3, now() + interval '7 days',
                case when i in (5, 6) then 'revoked' else 'pending' end
         from generate_series(1, 20) i;
       -- The same address as a member's (invitations are lower-case): ties between the two sources.
       insert into invitations (org_id, email, role_id, expires_at) values ($1, 'person.7@example.test', $3, now() + interval '7 days');
       insert into teams (org_id, id, name) values ($1, $4, 'Builders'), ($1, $5, 'Empty');
       insert into team_members (org_id, team_id, membership_id)
         select $1, $4, m.id from memberships m join users u on u.id = m.user_id
         where m.org_id = $1 and u.subject ~ '^u[0-9]+$' and substr(u.subject, 2)::int % 3 <> 0;
       insert into invitation_teams (org_id, team_id, invitation_id)
         select $1, $4, i.id from invitations i where i.org_id = $1 and (i.email ~ '^invitee[0-9]*[02468]' or i.email like 'person%')`,
      [A, OWNER, viewerRoleId, TEAM, EMPTY_TEAM],
    );
    await c.query(`select set_config('app.org_id', $1, false)`, [B]);
    await c.query(
      `insert into memberships (org_id, user_id, role_id) select $1, $3, id from roles where org_id = $1 and system_key = 'owner';
       insert into memberships (org_id, user_id, role_id) select $1, u.id, r.id from users u, roles r
         where r.org_id = $1 and r.system_key = 'viewer' and u.subject in ('u1', 'u2', 'u4');
       insert into teams (org_id, id, name) values ($1, $2, 'Other builders');
       insert into team_members (org_id, team_id, membership_id)
         select $1, $2, m.id from memberships m where m.org_id = $1 and m.user_id <> $3;`,
      [B, OTHER_TEAM, OWNER],
    );
    await c.query('commit');
  });
}, 120_000);

afterAll(async () => {
  setIndexedSearch(false);
  await db?.drop();
});

async function inRequest<T>(fn: (rdb: RequestDatabase) => Promise<T>, binding = staffA): Promise<T> {
  const rdb = new RequestDatabase(pool, binding, silentLogger);
  try {
    return await fn(rdb);
  } finally {
    await rdb.abandon();
  }
}

/** The list as it was answered before 022: every member and pending invitation, filtered, sorted. */
async function reference(filter: PeopleFilter): Promise<string[]> {
  return inRequest(async (rdb) => {
    const { rows } = await rdb.query<{ id: string }>(
      `select p.id from (
         select m.id, m.user_id, null::text as invited_email, m.role_id, m.status, m.sort_key from memberships m
         where m.org_id = (select app_public.current_org_id())
         union all
         select i.id, null, i.email, i.role_id, 'invited', i.email from invitations i where i.status = 'pending') p
       where ($1::uuid is null or p.role_id = $1::uuid) and ($2::text is null or p.status = $2)
         and ($3::uuid is null or exists (select 1 from team_members tm where tm.membership_id = p.id and tm.team_id = $3::uuid)
              or exists (select 1 from invitation_teams it where it.invitation_id = p.id and it.team_id = $3::uuid))
         and ($4::text is null or p.invited_email ilike $4
              or exists (select 1 from users u where u.id = p.user_id and (u.name ilike $4 or u.email ilike $4)))
       order by p.sort_key, p.id`,
      [filter.roleId ?? null, filter.status ?? null, filter.teamId ?? null, containsPattern(filter.search)],
    );
    return rows.map((r) => r.id);
  });
}

/** Every page of the list, forwards (first/after) and backwards (last/before), in list order. */
async function walk(filter: PeopleFilter, size: number): Promise<{ forward: string[]; backward: string[]; total: number }> {
  return inRequest(async (rdb) => {
    const forward: string[] = [];
    let page: PageArgs = { first: size };
    let total = -1;
    for (let i = 0; i < 200; i++) {
      const connection = await listPeople(rdb, filter, page, i === 0);
      if (i === 0) total = await connection.totalCount();
      forward.push(...connection.edges.map((e) => e.node.id));
      if (!connection.pageInfo.hasNextPage) break;
      page = { first: size, after: connection.pageInfo.endCursor };
    }
    const backward: string[] = [];
    page = { last: size };
    for (let i = 0; i < 200; i++) {
      const connection = await listPeople(rdb, filter, page, false);
      backward.unshift(...connection.edges.map((e) => e.node.id));
      if (!connection.pageInfo.hasPreviousPage) break;
      page = { last: size, before: connection.pageInfo.startCursor };
    }
    return { forward, backward, total };
  });
}

async function expectSameAsBefore(filter: PeopleFilter, sizes = [1, 3, 7, 100]) {
  const expected = await reference(filter);
  for (const size of sizes) {
    const { forward, backward, total } = await walk(filter, size);
    expect(forward, `${JSON.stringify(filter)} first ${size}`).toEqual(expected);
    expect(backward, `${JSON.stringify(filter)} last ${size}`).toEqual(expected);
    expect(total, `${JSON.stringify(filter)} totalCount`).toBe(expected.length);
  }
  return expected;
}

describe('teamId: the team rows in the list order', () => {
  it('the test database has indexed search', async () => {
    expect(await detectIndexedSearch(pool)).toBe(true);
  });

  it('the same people in the same order as before, both directions, members and invitations mixed', async () => {
    const expected = await expectSameAsBefore({ teamId: TEAM });
    const kinds = await inRequest(async (rdb) =>
      (await listPeople(rdb, { teamId: TEAM }, { first: 100 }, false)).edges.map((e) => e.node.kind),
    );
    expect(new Set(kinds)).toEqual(new Set(['member', 'invitation']));
    expect(expected.length).toBeGreaterThan(30);
  });

  it('combines with role, status and search (indexed and not)', async () => {
    for (const indexed of [true, false]) {
      setIndexedSearch(indexed);
      try {
        for (const filter of [
          { teamId: TEAM, roleId: viewerRoleId },
          { teamId: TEAM, status: 'inactive' as const },
          { teamId: TEAM, status: 'invited' as const },
          { teamId: TEAM, search: 'ann' },
          { teamId: TEAM, search: 'invitee' },
          { teamId: TEAM, search: 'person.7' },
          { teamId: TEAM, search: '%', status: 'active' as const },
        ]) {
          await expectSameAsBefore(filter, [2, 100]);
        }
      } finally {
        setIndexedSearch(true);
      }
    }
  });

  it("a cursor of the unfiltered list resumes the team's list at the same place (one cursor format)", async () => {
    const all = await reference({});
    const inTeam = await reference({ teamId: TEAM });
    await inRequest(async (rdb) => {
      const unfiltered = await listPeople(rdb, {}, { first: 20 }, false);
      const cursor = unfiltered.pageInfo.endCursor!;
      const lastId = unfiltered.edges.at(-1)!.node.id;
      const rest = inTeam.filter((id) => all.indexOf(id) > all.indexOf(lastId));
      const page = await listPeople(rdb, { teamId: TEAM }, { first: 100, after: cursor }, false);
      expect(page.edges.map((e) => e.node.id)).toEqual(rest);
      const before = await listPeople(rdb, { teamId: TEAM }, { last: 100, before: cursor }, false);
      expect(before.edges.map((e) => e.node.id)).toEqual(inTeam.filter((id) => all.indexOf(id) < all.indexOf(lastId)));
    });
  });

  it("an empty team, a missing team and another organization's team: an empty list, no error", async () => {
    for (const teamId of [EMPTY_TEAM, MISSING_TEAM, OTHER_TEAM]) {
      const { forward, backward, total } = await walk({ teamId }, 5);
      expect({ forward, backward, total }, teamId).toEqual({ forward: [], backward: [], total: 0 });
      const searched = await walk({ teamId, search: 'person' }, 5);
      expect(searched.forward, teamId).toEqual([]);
    }
    // The other organization sees its own team.
    const other = await inRequest((rdb) => listPeople(rdb, { teamId: OTHER_TEAM }, { first: 10 }, true), {
      ...staffA,
      orgId: B,
    });
    expect(await other.totalCount()).toBe(3);
  });

  it('joining and leaving a team, revoking an invitation, accepting one (its teams follow)', async () => {
    const [joiner] = await asApp(pool, manageA, async (c) =>
      (
        await c.query<{ id: string }>(`select m.id from memberships m join users u on u.id = m.user_id where u.subject = 'u9'`)
      ).rows.map((r) => r.id),
    );
    expect((await reference({ teamId: TEAM })).includes(joiner!)).toBe(false);
    await asApp(
      pool,
      manageA,
      (c) => c.query('insert into team_members (org_id, team_id, membership_id) values ($1, $2, $3)', [A, TEAM, joiner]),
      {
        commit: true,
      },
    );
    expect((await reference({ teamId: TEAM })).includes(joiner!)).toBe(true);
    await expectSameAsBefore({ teamId: TEAM }, [4]);
    await asApp(
      pool,
      manageA,
      (c) => c.query('delete from team_members where team_id = $1 and membership_id = $2', [TEAM, joiner]),
      {
        commit: true,
      },
    );
    expect((await reference({ teamId: TEAM })).includes(joiner!)).toBe(false);
    await expectSameAsBefore({ teamId: TEAM }, [4]);

    // A revoked invitation leaves the team's list (its team row stays: history).
    const revoked = await asApp(
      pool,
      manageA,
      async (c) => {
        const { rows } = await c.query<{ id: string }>(
          `update invitations set status = 'revoked' where email = 'invitee2@example.test' returning id`,
        );
        return rows[0]!.id;
      },
      { commit: true },
    );
    expect((await reference({ teamId: TEAM })).includes(revoked)).toBe(false);
    await expectSameAsBefore({ teamId: TEAM }, [4]);
    const teamRow = await asApp(
      pool,
      manageA,
      async (c) => (await c.query('select pending, sort_key from invitation_teams where invitation_id = $1', [revoked])).rows,
    );
    expect(teamRow).toEqual([{ pending: false, sort_key: 'invitee2@example.test' }]);

    // Accepting an invitation in the team: the invitation leaves, the new member joins (002's
    // accept_invitation copies its teams), each sorted by its own key.
    const invitee = '0b220002-0000-4000-8000-000000000001';
    await asSuperuser(db, (c) =>
      c.query(
        `insert into app_public.users (id, issuer, subject, email, email_verified, name)
               values ($1, 'test', 'invitee4', 'invitee4@example.test', true, 'Quentin Invitee')`,
        [invitee],
      ),
    );
    const invitationId = await asApp(
      pool,
      manageA,
      async (c) =>
        (await c.query<{ id: string }>(`select id from invitations where email = 'invitee4@example.test'`)).rows[0]!.id,
    );
    const accepted = await asApp(
      pool,
      { userId: invitee },
      async (c) =>
        (
          await c.query('select * from app_private.accept_invitation($1, $2, $3)', [
            invitationId,
            invitee,
            'invitee4@example.test',
          ])
        ).rows[0],
      { commit: true },
    );
    expect(accepted.outcome).toBe('accepted');
    const inTeam = await reference({ teamId: TEAM });
    expect(inTeam.includes(invitationId)).toBe(false);
    expect(inTeam.includes(accepted.membership_id)).toBe(true);
    await expectSameAsBefore({ teamId: TEAM }, [4]);
    await expectSameAsBefore({ teamId: TEAM, search: 'quentin' }, [4]);
  });

  it("a member's status and role, and an invitation's role, follow onto the team's rows (025's copies)", async () => {
    const { memberId, invitationId, developerRoleId } = await asApp(pool, manageA, async (c) => {
      const member = await c.query<{ id: string }>(
        `select m.id from memberships m join team_members tm on tm.membership_id = m.id
         where tm.team_id = $1 and m.status = 'active' and m.role_id = $2 order by m.sort_key limit 1`,
        [TEAM, viewerRoleId],
      );
      const invitation = await c.query<{ id: string }>(
        `select it.invitation_id as id from invitation_teams it where it.team_id = $1 and it.pending order by it.sort_key limit 1`,
        [TEAM],
      );
      const role = await c.query<{ id: string }>(`select id from roles where org_id = $1 and system_key = 'developer'`, [A]);
      return { memberId: member.rows[0]!.id, invitationId: invitation.rows[0]!.id, developerRoleId: role.rows[0]!.id };
    });
    const change = (sql: string, values: unknown[]) => asApp(pool, manageA, (c) => c.query(sql, values), { commit: true });

    await change(`update memberships set status = 'inactive' where id = $1`, [memberId]);
    expect(await reference({ teamId: TEAM, status: 'inactive' })).toContain(memberId);
    await expectSameAsBefore({ teamId: TEAM, status: 'inactive' }, [2]);
    await expectSameAsBefore({ teamId: TEAM, status: 'active' }, [7]);

    await change(`update memberships set role_id = $2 where id = $1`, [memberId, developerRoleId]);
    await change(`update invitations set role_id = $2 where id = $1`, [invitationId, developerRoleId]);
    const developers = await reference({ teamId: TEAM, roleId: developerRoleId });
    expect(developers).toEqual(expect.arrayContaining([memberId, invitationId]));
    await expectSameAsBefore({ teamId: TEAM, roleId: developerRoleId }, [1, 100]);
    await expectSameAsBefore({ teamId: TEAM, roleId: viewerRoleId }, [7]);

    // Back as they were: the copies follow again.
    await change(`update memberships set status = 'active', role_id = $2 where id = $1`, [memberId, viewerRoleId]);
    await change(`update invitations set role_id = $2 where id = $1`, [invitationId, viewerRoleId]);
    expect(await reference({ teamId: TEAM, roleId: developerRoleId })).not.toContain(memberId);
    await expectSameAsBefore({ teamId: TEAM, roleId: developerRoleId }, [1, 100]);
    await expectSameAsBefore({ teamId: TEAM, status: 'inactive' }, [2]);
  });

  it('a written sort key or copy is not taken: the triggers set them from their source', async () => {
    await asApp(
      pool,
      manageA,
      async (c) => {
        await c.query(`update team_members set sort_key = 'aaa', status = 'inactive', role_id = null where team_id = $1`, [TEAM]);
        await c.query(`update invitation_teams set sort_key = 'aaa', pending = true, role_id = null where team_id = $1`, [TEAM]);
        const { rowCount } = await c.query(
          `update memberships set user_name = 'Mallory', user_email = 'x@y.z', sort_key = 'aaa' where org_id = $1`,
          [A],
        );
        expect(rowCount).toBeGreaterThan(USERS - 1);
      },
      { commit: true },
    );
    await expectSameAsBefore({ teamId: TEAM }, [5]);
    await expectSameAsBefore({ teamId: TEAM, status: 'inactive' }, [5]);
    await expectSameAsBefore({ teamId: TEAM, roleId: viewerRoleId }, [5]);
    expect(await reference({ search: 'mallory' })).toEqual([]);
    expect((await walk({ search: 'mallory' }, 5)).forward).toEqual([]);
    await expectSameAsBefore({ search: 'ann' }, [5]);
  });
});

describe('search: name, email, invitation email; wildcards literal', () => {
  const terms = [
    'ann',
    'ANN_LEE',
    'ann_lee',
    '100%',
    '% bob',
    '_',
    '%',
    'ann lee',
    'invitee',
    'INVITEE1',
    'person.7@',
    'example.test',
    'zoë ång',
    'ZOË',
    'e_x',
    'nothing-like-this',
    'bob',
    'eve 1',
  ];

  it('the same rows in the same order as before, both directions (indexed, then plain ILIKE)', async () => {
    for (const indexed of [true, false]) {
      setIndexedSearch(indexed);
      try {
        for (const search of terms) await expectSameAsBefore({ search }, [2, 100]);
        for (const search of ['ann', 'invitee', 'person.1']) {
          await expectSameAsBefore({ search, status: 'invited' }, [3]);
          await expectSameAsBefore({ search, status: 'active' }, [3]);
          await expectSameAsBefore({ search, roleId: viewerRoleId }, [3]);
        }
      } finally {
        setIndexedSearch(true);
      }
    }
    // Spot checks of the semantics themselves.
    const named = async (search: string) =>
      inRequest(async (rdb) =>
        (await listPeople(rdb, { search }, { first: 100 }, false)).edges.map((e) => e.node.name ?? e.node.email),
      );
    expect(await named('100%')).toEqual(['100% Bob 1', '100% Bob 17', '100% Bob 33', '100% Bob 9']);
    const underscored = await named('_');
    expect(underscored.length).toBeGreaterThan(0);
    expect(underscored.every((n) => n!.includes('_'))).toBe(true);
    expect(await named('nothing-like-this')).toEqual([]);
  });
});

describe("a renamed user (the identity upsert, as gateway_app) re-sorts in a team's list and is found by the new name", () => {
  it('in every organization, unfiltered, by team and by search', async () => {
    const renamed = user(2); // in TEAM and in B's team
    await asApp(
      pool,
      {},
      (c) =>
        c.query('select app_private.ensure_user($1, $2, $3, $4, $5)', [
          'test',
          'u2',
          'renamed.2@example.test',
          false,
          '00 Aaron Renamed',
        ]),
      { commit: true },
    );
    const first = await inRequest(async (rdb) => (await listPeople(rdb, { teamId: TEAM }, { first: 1 }, false)).edges[0]!.node);
    expect(first).toMatchObject({ id: expect.any(String), name: '00 Aaron Renamed', email: 'renamed.2@example.test' });
    await expectSameAsBefore({ teamId: TEAM }, [3]);
    await expectSameAsBefore({}, [6]);
    await expectSameAsBefore({ search: 'aaron' }, [3]);
    await expectSameAsBefore({ search: 'renamed.2@' }, [3]);
    expect(await reference({ search: 'aaron' })).toHaveLength(1);
    expect(await reference({ search: 'person.2@' })).toEqual([]);
    expect((await walk({ search: 'person.2@' }, 3)).forward).toEqual([]);
    // The other organization re-sorted too.
    const inB = await inRequest(
      async (rdb) => (await listPeople(rdb, { teamId: OTHER_TEAM }, { first: 1 }, false)).edges[0]!.node.name,
      { ...staffA, orgId: B },
    );
    expect(inB).toBe('00 Aaron Renamed');
    // A name removed: sorted by email again.
    await asApp(
      pool,
      {},
      (c) => c.query('select app_private.ensure_user($1, $2, $3, $4, $5)', ['test', 'u2', 'zz.2@example.test', false, null]),
      { commit: true },
    );
    await expectSameAsBefore({ teamId: TEAM }, [3]);
    const last = await inRequest(async (rdb) => (await listPeople(rdb, { teamId: TEAM }, { last: 1 }, false)).edges[0]!.node);
    expect(last).toMatchObject({ id: expect.any(String), name: null, email: 'zz.2@example.test' });
    void renamed;
  });
});
