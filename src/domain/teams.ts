/**
 * Teams group staff members; a team may carry a role, and its members' effective permissions
 * are the union of their own role and their teams' roles (see app_private.resolve_principal).
 * Putting someone on a team with a role is assigning that role: the escalation guard applies.
 */
import type { Principal } from '../auth/principal.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { assertHolds, requireRole, type RoleRow } from './roles.js';
import { optionalText, requireText } from './validation.js';

export interface TeamRow {
  id: string;
  name: string;
  description: string;
  role_id: string | null;
  created_at: Date;
}

const CONSTRAINTS: ConstraintMessages = {
  unique: { teams_name_unique: { field: 'input.name', message: 'A team with this name already exists in your organization.' } },
};

// Member counts come through a loader, only when asked for: a list of teams reads teams.
const SELECT = `select t.id, t.name, t.description, t.role_id, t.created_at from teams t`;

export async function countMembersOfTeams(db: RequestDatabase, teamIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ team_id: string; n: number }>(
    'select team_id, count(*)::int as n from team_members where team_id = any($1::uuid[]) group by team_id',
    [teamIds],
  );
  return new Map(rows.map((r) => [r.team_id, r.n]));
}

/** A plain (unpaged) list stays bounded: the first TEAM_LIST_LIMIT teams by name (pageTeams pages them all). */
export const TEAM_LIST_LIMIT = 500;

export async function listTeams(db: RequestDatabase): Promise<TeamRow[]> {
  // name_key = lower(name), stored (migration 020): the order of index teams_name_key_order.
  return (await db.query<TeamRow>(`${SELECT} order by t.name_key, t.id limit ${TEAM_LIST_LIMIT}`)).rows;
}

/** Teams by name, ties broken by id: one keyset page (the same order as listTeams). */
export async function pageTeams(
  db: RequestDatabase,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<TeamRow & { cursor_key: string }>> {
  return pagedQuery<TeamRow>(db, {
    columns: 't.id, t.name, t.description, t.role_id, t.created_at',
    from: 'teams t',
    where: new Conditions(),
    sort: { expression: 't.name_key', type: 'text', direction: 'asc', id: 't.id' },
    page,
    withTotal,
  });
}

export async function loadTeams(db: RequestDatabase, ids: readonly string[]): Promise<TeamRow[]> {
  return (await db.query<TeamRow>(`${SELECT} where t.id = any($1::uuid[])`, [ids])).rows;
}

export async function requireTeam(db: RequestDatabase, id: string): Promise<TeamRow> {
  const team = (await loadTeams(db, [id]))[0];
  if (!team) throw notFound('Team', id);
  return team;
}

/** Team ids per membership, for the People table and member details. */
export async function teamIdsOfMembers(
  db: RequestDatabase,
  membershipIds: readonly string[],
): Promise<{ membership_id: string; team_id: string }[]> {
  return (
    await db.query<{ membership_id: string; team_id: string }>(
      `select tm.membership_id, tm.team_id from team_members tm join teams t on t.org_id = tm.org_id and t.id = tm.team_id
       where tm.membership_id = any($1::uuid[]) order by lower(t.name)`,
      [membershipIds],
    )
  ).rows;
}

export async function memberIdsOfTeams(
  db: RequestDatabase,
  teamIds: readonly string[],
): Promise<{ team_id: string; membership_id: string }[]> {
  return (
    await db.query<{ team_id: string; membership_id: string }>(
      'select team_id, membership_id from team_members where team_id = any($1::uuid[]) order by added_at',
      [teamIds],
    )
  ).rows;
}

/** A role a team may carry: not Owner (there is one), not customer-confined, and one you hold. */
async function requireTeamRole(db: RequestDatabase, caller: Principal, roleId: string): Promise<RoleRow> {
  const role = await requireRole(db, roleId);
  if (role.system_key === 'owner') throw badUserInput('input.roleId', 'a team cannot carry the Owner role');
  if (role.customer_confined) throw badUserInput('input.roleId', 'a team cannot carry a customer-confined role');
  assertHolds(caller, role.permissions, 'give a team this role');
  return role;
}

export interface TeamInput {
  name: string;
  description?: string | null;
  roleId?: string | null;
}

export async function createTeam(db: RequestDatabase, caller: Principal, input: TeamInput): Promise<string> {
  const name = requireText('input.name', input.name, 80);
  const description = optionalText('input.description', input.description, 500) ?? '';
  if (input.roleId) await requireTeamRole(db, caller, input.roleId);
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `insert into teams (org_id, name, description, role_id) values (app_public.current_org_id(), $1, $2, $3) returning id`,
      [name, description, input.roleId ?? null],
    );
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export async function updateTeam(
  db: RequestDatabase,
  caller: Principal,
  id: string,
  input: { name?: string | null; description?: string | null; roleId?: string | null; removeRole?: boolean | null },
): Promise<void> {
  const team = await requireTeam(db, id);
  const name = input.name == null ? null : requireText('input.name', input.name, 80);
  const description = optionalText('input.description', input.description, 500);
  if (input.roleId && input.removeRole) throw badUserInput('input.removeRole', 'cannot be combined with roleId');
  // Changing what a team grants changes what its members can do: hold both the old and the new.
  if (input.roleId || input.removeRole) {
    if (team.role_id) assertHolds(caller, (await requireRole(db, team.role_id)).permissions, "change this team's role");
    if (input.roleId) await requireTeamRole(db, caller, input.roleId);
  }
  await withDatabaseErrors(
    () =>
      db.query(
        `update teams set name = coalesce($2, name), description = coalesce($3, description),
           role_id = case when $5 then null else coalesce($4, role_id) end
         where id = $1`,
        [id, name, description, input.roleId ?? null, input.removeRole ?? false],
      ),
    CONSTRAINTS,
  );
}

export async function deleteTeam(db: RequestDatabase, caller: Principal, id: string): Promise<void> {
  const team = await requireTeam(db, id);
  if (team.role_id) assertHolds(caller, (await requireRole(db, team.role_id)).permissions, 'delete this team');
  await db.query('delete from teams where id = $1', [id]);
}

async function requireStaffMember(db: RequestDatabase, membershipId: string): Promise<void> {
  const { rows } = await db.query<{ customer_id: string | null }>('select customer_id from memberships where id = $1', [
    membershipId,
  ]);
  if (!rows[0]) throw notFound('Member', membershipId);
  if (rows[0].customer_id) throw badUserInput('input.memberId', 'End Users cannot join teams');
}

export async function addTeamMember(db: RequestDatabase, caller: Principal, teamId: string, membershipId: string): Promise<void> {
  const team = await requireTeam(db, teamId);
  await requireStaffMember(db, membershipId);
  if (team.role_id) assertHolds(caller, (await requireRole(db, team.role_id)).permissions, 'add members to this team');
  await db.query(
    `insert into team_members (org_id, team_id, membership_id) values (app_public.current_org_id(), $1, $2)
     on conflict do nothing`,
    [teamId, membershipId],
  );
}

export async function removeTeamMember(
  db: RequestDatabase,
  caller: Principal,
  teamId: string,
  membershipId: string,
): Promise<void> {
  const team = await requireTeam(db, teamId);
  if (team.role_id) assertHolds(caller, (await requireRole(db, team.role_id)).permissions, 'remove members from this team');
  const { rowCount } = await db.query('delete from team_members where team_id = $1 and membership_id = $2', [
    teamId,
    membershipId,
  ]);
  if (!rowCount) throw notFound('Team member', membershipId);
}

/** Where each of a member's permissions comes from: their role, and which teams. */
export async function permissionSources(
  db: RequestDatabase,
  membershipId: string,
): Promise<{ permission_key: string; source: 'role' | 'team'; role_id: string; team_id: string | null }[]> {
  return (
    await db.query<{ permission_key: string; source: 'role' | 'team'; role_id: string; team_id: string | null }>(
      `with granted as (
         select m.role_id, null::uuid as team_id, 'role' as source from memberships m where m.id = $1
         union all
         select t.role_id, t.id, 'team' from team_members tm
         join teams t on t.org_id = tm.org_id and t.id = tm.team_id
         where tm.membership_id = $1 and t.role_id is not null
       )
       select p.permission_key, g.source, g.role_id, g.team_id
       from granted g
       join roles r on r.id = g.role_id
       join lateral (
         select srp.permission_key from system_role_permissions srp where srp.role_key = r.system_key
         union
         select rp.permission_key from role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id
       ) p on true`,
      [membershipId],
    )
  ).rows;
}
