/**
 * Migration 025 on a database that already has team rows: every team row gets its member's status
 * and role (an invitation's row, its invitation's role), the keys and pending flags 022 wrote stay
 * as they were (the copies' triggers read their source under a request's binding, which a
 * migration has not: run during the backfill they blanked every invitation row), and the tables
 * the backfill briefly un-forced are forced again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createUnmigratedDatabase, type UnmigratedDatabase } from '../helpers/unmigrated-database.js';

let db: UnmigratedDatabase;
let owner: UnmigratedDatabase['owner'];
let superuser: UnmigratedDatabase['superuser'];

beforeAll(async () => {
  db = await createUnmigratedDatabase('team_copies');
  ({ owner, superuser } = db);
});
afterAll(() => db?.drop());

const apply = (which: (id: number) => boolean) => db.apply(which);

/** Team rows beside their sources, read as the superuser (no RLS); the copies once 025 made them. */
async function teamRows(copies: boolean) {
  const invitations = await superuser.query<{
    email: string;
    status: string;
    sort_key: string;
    pending: boolean;
    role_matches: boolean;
  }>(
    `select i.email, i.status, it.sort_key, it.pending${copies ? ', it.role_id is not distinct from i.role_id as role_matches' : ''}
     from app_public.invitation_teams it join app_public.invitations i on i.id = it.invitation_id order by i.email`,
  );
  const members = await superuser.query<{ sort_key: string; status_matches: boolean; role_matches: boolean }>(
    `select tm.sort_key${copies ? ', tm.status is not distinct from m.status as status_matches, tm.role_id is not distinct from m.role_id as role_matches' : ''}
     from app_public.team_members tm join app_public.memberships m on m.id = tm.membership_id order by tm.sort_key`,
  );
  return { invitations: invitations.rows, members: members.rows };
}

it('copies every team row’s status and role, and keeps the sort keys and pending flags', async () => {
  await apply((id) => id < 25);
  await owner.query(
    `insert into app_public.system_roles (key, name, description, customer_confined, position)
     values ('owner', 'Owner', '', false, 0), ('developer', 'Developer', '', false, 3), ('viewer', 'Viewer', '', false, 5)`,
  );
  const org = randomUUID();
  const team = randomUUID();
  await owner.query('begin');
  await owner.query(`select set_config('app.org_id', $1, true), set_config('app.role', 'staff', true)`, [org]);
  await owner.query(`insert into app_public.organizations (id, name) values ($1, 'Before 025')`, [org]);
  await owner.query(`insert into app_public.roles (org_id, system_key, name) select $1, key, name from app_public.system_roles`, [
    org,
  ]);
  const users: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { rows } = await owner.query<{ id: string }>(
      `select app_private.ensure_user('https://issuer.test', $1, $2, true, $3) as id`,
      [randomUUID(), `u${i}@x.test`, `User ${i}`],
    );
    users.push(rows[0]!.id);
  }
  await owner.query(
    `insert into app_public.memberships (org_id, user_id, role_id, status)
     select $1, u, r.id, case when n = 3 then 'inactive' else 'active' end
     from unnest($2::uuid[]) with ordinality as t(u, n)
     join app_public.roles r on r.org_id = $1
       and r.system_key = case when n = 1 then 'owner' when n = 2 then 'developer' else 'viewer' end`,
    [org, users],
  );
  await owner.query(`insert into app_public.teams (org_id, id, name) values ($1, $2, 'T')`, [org, team]);
  await owner.query(
    `insert into app_public.team_members (org_id, team_id, membership_id) select org_id, $2, id from app_public.memberships where org_id = $1`,
    [org, team],
  );
  await owner.query(
    `insert into app_public.invitations (org_id, email, role_id, expires_at, status)
     select $1, 'inv' || g || '@x.test',
            (select id from app_public.roles where org_id = $1 and system_key = case when g = 2 then 'developer' else 'viewer' end),
            now() + interval '7 days', case when g = 3 then 'revoked' else 'pending' end
     from generate_series(1, 3) g`,
    [org],
  );
  await owner.query(
    `insert into app_public.invitation_teams (org_id, invitation_id, team_id) select org_id, id, $2 from app_public.invitations where org_id = $1`,
    [org, team],
  );
  await owner.query('commit');

  const before = await teamRows(false);
  expect(before.invitations.map(({ email, sort_key, pending }) => ({ email, sort_key, pending }))).toEqual([
    { email: 'inv1@x.test', sort_key: 'inv1@x.test', pending: true },
    { email: 'inv2@x.test', sort_key: 'inv2@x.test', pending: true },
    { email: 'inv3@x.test', sort_key: 'inv3@x.test', pending: false },
  ]);

  await apply((id) => id === 25);

  const after = await teamRows(true);
  // 022's keys and flags as they were; the role copied onto every invitation row.
  expect(after.invitations).toEqual(before.invitations.map((row) => ({ ...row, role_matches: true })));
  expect(after.members).toHaveLength(4);
  for (const row of after.members) expect(row).toMatchObject({ status_matches: true, role_matches: true });
  expect(after.members.map((row) => row.sort_key)).toEqual(before.members.map((row) => row.sort_key));

  const unforced = await superuser.query(
    `select relname from pg_class where relnamespace = 'app_public'::regnamespace and relname = any($1)
       and not (relrowsecurity and relforcerowsecurity)`,
    [['memberships', 'invitations', 'team_members', 'invitation_teams']],
  );
  expect(unforced.rows).toEqual([]);
  const triggers = await superuser.query(
    `select tgname from pg_trigger where tgname in ('zz_team_members_sort_key', 'zz_invitation_teams_sort_key') and tgenabled = 'D'`,
  );
  expect(triggers.rows).toEqual([]);
});
