/**
 * Project members (DESIGN §3b): an organization member (staff) or a team, in one workspace,
 * with one project role. Managed with `project.members.manage` in that workspace; giving,
 * changing or taking a project role needs every project permission it involves (no escalation).
 * Everything here acts in the workspace the request is bound to: RLS shows no other
 * workspace's project members.
 */
import type { ProjectPermission } from '../authz/permissions.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedParts, type Connection, type PageArgs } from './pagination.js';
import { assertHoldsProject, requireProjectRole, type ProjectRoleRow } from './project-roles.js';

export interface ProjectMemberRow {
  id: string;
  workspace_id: string;
  membership_id: string | null;
  team_id: string | null;
  user_id: string | null;
  name: string | null;
  email: string | null;
  role_id: string;
  created_at: Date;
}

const CONSTRAINTS: ConstraintMessages = {
  unique: {
    project_members_member: { field: 'input.memberId', message: 'This member already has a project role in this workspace.' },
    project_members_team: { field: 'input.teamId', message: 'This team already has a project role in this workspace.' },
  },
  foreignKey: {
    project_members_org_id_membership_id_fkey: { resourceType: 'Member' },
    project_members_org_id_team_id_fkey: { resourceType: 'Team' },
  },
};

// The person or team of each row is looked up per row (a LATERAL subquery with LIMIT stays a
// nested loop over the primary keys): joined plainly, the planner may hash the whole
// organization's memberships for one page (memberships' policy is an OR the index cannot serve).
const COLUMNS = `pm.id, pm.workspace_id, pm.membership_id, pm.team_id, m.user_id,
    coalesce(m.name, t.name) as name, m.email, coalesce(pm.system_role_key, pm.project_role_id::text) as role_id, pm.created_at`;
const LOOKUPS = `
  left join lateral (
    select m.user_id, u.name, u.email from memberships m join users u on u.id = m.user_id
    where m.org_id = pm.org_id and m.id = pm.membership_id limit 1
  ) m on true
  left join lateral (select t.name from teams t where t.org_id = pm.org_id and t.id = pm.team_id limit 1) t on true`;
const SELECT_FROM = (members: string) => `select ${COLUMNS} from ${members} pm ${LOOKUPS}`;
const SELECT = SELECT_FROM('project_members');

/**
 * A plain (unpaged) list stays bounded (issue 10): the first PROJECT_MEMBER_LIST_LIMIT of a
 * workspace's project members, people first, then teams, each in the order they were added —
 * the order of index project_members_listed (migration 017), so the page is cut before the
 * names are joined. (By name it would sort every member of the workspace: the names live in
 * users and teams, which no index of this table can order by.)
 */
export const PROJECT_MEMBER_LIST_LIMIT = 500;

export async function listProjectMembers(db: RequestDatabase, workspaceId: string): Promise<ProjectMemberRow[]> {
  return (
    await db.query<ProjectMemberRow>(
      `${SELECT_FROM(`(select * from project_members where workspace_id = $1
           order by (team_id is not null), created_at, id limit ${PROJECT_MEMBER_LIST_LIMIT})`)}
       order by (pm.team_id is not null), pm.created_at, pm.id`,
      [workspaceId],
    )
  ).rows;
}

/**
 * A workspace's project members in listProjectMembers' order, one keyset page: people, then
 * teams, each by when they were added — two parts of index project_members_listed (017), whose
 * column `(team_id is not null)` each part fixes (`is false` / `is true`: written so, the planner
 * matches the index column; `team_id is null` it would not). The page is cut on the index, then
 * each row's person or team is looked up (SELECT_FROM's lateral lookups).
 */
export async function pageProjectMembers(
  db: RequestDatabase,
  workspaceId: string,
  page: PageArgs,
): Promise<Connection<ProjectMemberRow & { cursor_key: string }>> {
  const sort = { expression: 'pm.created_at', type: 'timestamptz', direction: 'asc', id: 'pm.id' } as const;
  const [columns, from] = [COLUMNS, `project_members pm ${LOOKUPS}`];
  return pagedParts<ProjectMemberRow>(db, {
    where: new Conditions().add((p) => `pm.workspace_id = ${p}::uuid`, workspaceId),
    page,
    parts: [
      { columns, from, countFrom: 'project_members pm', condition: '(pm.team_id is not null) is false', sort },
      { columns, from, countFrom: 'project_members pm', condition: '(pm.team_id is not null) is true', sort },
    ],
  });
}

export async function requireProjectMember(db: RequestDatabase, id: string): Promise<ProjectMemberRow> {
  const row = (await db.query<ProjectMemberRow>(`${SELECT} where pm.id = $1`, [id])).rows[0];
  if (!row) throw notFound('Project member', id);
  return row;
}

function roleColumns(role: ProjectRoleRow): [string | null, string | null] {
  return role.system_key ? [role.system_key, null] : [null, role.id];
}

export async function addProjectMember(
  db: RequestDatabase,
  held: ReadonlySet<ProjectPermission>,
  actorId: string,
  workspaceId: string,
  input: { memberId?: string | null; teamId?: string | null; roleId: string },
): Promise<string> {
  if (Boolean(input.memberId) === Boolean(input.teamId)) throw badUserInput('input', 'name exactly one of memberId and teamId');
  const role = await requireProjectRole(db, input.roleId, 'input.roleId');
  assertHoldsProject(held, role.permissions, 'give this project role');
  if (input.memberId) {
    const { rows } = await db.query<{ customer_id: string | null }>('select customer_id from memberships where id = $1', [
      input.memberId,
    ]);
    if (!rows[0]) throw notFound('Member', input.memberId);
    if (rows[0].customer_id) throw badUserInput('input.memberId', 'End Users act for their customer and cannot join a workspace');
  }
  const [systemKey, customId] = roleColumns(role);
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `insert into project_members (org_id, workspace_id, membership_id, team_id, system_role_key, project_role_id, created_by)
       values (app_public.current_org_id(), $1, $2, $3, $4, $5, $6) returning id`,
      [workspaceId, input.memberId ?? null, input.teamId ?? null, systemKey, customId, actorId],
    );
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export async function changeProjectMemberRole(
  db: RequestDatabase,
  held: ReadonlySet<ProjectPermission>,
  id: string,
  roleId: string,
): Promise<void> {
  const current = await requireProjectMember(db, id);
  const [before, after] = [await requireProjectRole(db, current.role_id), await requireProjectRole(db, roleId, 'input.roleId')];
  assertHoldsProject(held, [...before.permissions, ...after.permissions], 'change this project role');
  const [systemKey, customId] = roleColumns(after);
  await db.query('update project_members set system_role_key = $2, project_role_id = $3 where id = $1', [
    id,
    systemKey,
    customId,
  ]);
}

export async function removeProjectMember(db: RequestDatabase, held: ReadonlySet<ProjectPermission>, id: string): Promise<void> {
  const current = await requireProjectMember(db, id);
  assertHoldsProject(held, (await requireProjectRole(db, current.role_id)).permissions, 'remove this project member');
  await db.query('delete from project_members where id = $1', [id]);
}
