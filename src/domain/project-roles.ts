/**
 * Project roles (DESIGN §3b): the four system ones come from the matrix module; custom ones
 * ("Platform Admin → Security → Project Roles") are created, duplicated, edited and deleted by
 * holders of `roles.manage`, with the organization roles' guards: unique names
 * (case-insensitive, never a system project role's), known keys only, no escalation (nobody
 * grants a project permission they do not hold), and no deleting a role someone holds.
 */
import {
  PROJECT_PERMISSION_KEYS,
  SYSTEM_PROJECT_ROLES,
  isProjectPermission,
  isProjectRoleKey,
  type ProjectPermission,
} from '../authz/permissions.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, forbidden, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedParts, type Connection, type PageArgs } from './pagination.js';
import { optionalText, requireText } from './validation.js';
import { acrossWorkspaces } from './workspaces.js';

export interface ProjectRoleRow {
  /** A system project role's key (admin, editor, operator, viewer), or a custom role's id. */
  id: string;
  system_key: string | null;
  name: string;
  description: string;
  permissions: ProjectPermission[];
  created_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const CONSTRAINTS: ConstraintMessages = {
  unique: {
    project_roles_name_unique: {
      field: 'input.name',
      message: 'A project role with this name already exists in your organization.',
    },
  },
};

function systemRows(): ProjectRoleRow[] {
  return SYSTEM_PROJECT_ROLES.map((r) => ({
    id: r.key,
    system_key: r.key,
    name: r.name,
    description: r.description,
    permissions: [...r.permissions],
    created_at: null,
  }));
}

const SELECT = `select r.id, null as system_key, r.name, r.description, r.created_at,
  array(select p.permission_key from project_role_permissions p where p.org_id = r.org_id and p.role_id = r.id) as permissions
  from project_roles r`;

function inMatrixOrder(row: ProjectRoleRow): ProjectRoleRow {
  return { ...row, permissions: PROJECT_PERMISSION_KEYS.filter((k) => (row.permissions as string[]).includes(k)) };
}

/**
 * A plain (unpaged) list stays bounded (issue 10): the first PROJECT_ROLE_LIST_LIMIT custom roles
 * by name, read in the order of index project_roles_listed (migration 017).
 */
export const PROJECT_ROLE_LIST_LIMIT = 500;

/** System project roles first (in matrix order), then custom ones by name. */
export async function listProjectRoles(db: RequestDatabase, staff: boolean): Promise<ProjectRoleRow[]> {
  if (!staff) return systemRows();
  // name_key = lower(name), stored (migration 020): the order of index project_roles_name_key_order.
  const { rows } = await db.query<ProjectRoleRow>(`${SELECT} order by r.name_key, r.id limit ${PROJECT_ROLE_LIST_LIMIT}`);
  return [...systemRows(), ...rows.map(inMatrixOrder)];
}

/**
 * Project roles in listProjectRoles' order, one keyset page: the four system ones (held in code,
 * in matrix order), then the custom ones by name (project_roles_name_key_order); a request that
 * is not staff sees the system ones only, as in the plain list.
 */
export async function pageProjectRoles(
  db: RequestDatabase,
  staff: boolean,
  page: PageArgs,
): Promise<Connection<ProjectRoleRow & { cursor_key: string }>> {
  const connection = await pagedParts<ProjectRoleRow>(db, {
    where: new Conditions(),
    page,
    parts: [
      { rows: systemRows() },
      ...(staff
        ? [
            {
              columns: `r.id, null as system_key, r.name, r.description, r.created_at,
                array(select p.permission_key from project_role_permissions p where p.org_id = r.org_id and p.role_id = r.id) as permissions`,
              from: 'project_roles r',
              condition: 'true',
              sort: { expression: 'r.name_key', type: 'text', direction: 'asc', id: 'r.id' } as const,
            },
          ]
        : []),
    ],
  });
  for (const edge of connection.edges) Object.assign(edge.node, inMatrixOrder(edge.node));
  return connection;
}

/** A project role by id: a system key or a custom role's id; anything else is missing. */
export async function requireProjectRole(db: RequestDatabase, id: string, field = 'id'): Promise<ProjectRoleRow> {
  if (isProjectRoleKey(id)) return systemRows().find((r) => r.id === id)!;
  if (!UUID.test(id)) throw badUserInput(field, 'must be a project role key (admin, editor, operator, viewer) or id');
  const row = (await db.query<ProjectRoleRow>(`${SELECT} where r.id = $1`, [id])).rows[0];
  if (!row) throw notFound('Project role', id);
  return inMatrixOrder(row);
}

export function requireProjectPermissionKeys(field: string, value: readonly string[]): ProjectPermission[] {
  const unknown = value.filter((key) => !isProjectPermission(key));
  if (unknown.length > 0) {
    throw badUserInput(field, `unknown project permission ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  return PROJECT_PERMISSION_KEYS.filter((key) => value.includes(key));
}

/** No escalation: nobody grants, changes or removes project permissions they do not hold. */
export function assertHoldsProject(
  held: ReadonlySet<ProjectPermission>,
  permissions: readonly ProjectPermission[],
  action: string,
) {
  const missing = permissions.filter((p) => !held.has(p));
  if (missing.length > 0) {
    throw forbidden(`You cannot ${action}: it involves project permissions you do not hold (${missing.join(', ')}).`, {
      missing,
    });
  }
}

function requireProjectRoleName(value: unknown): string {
  const name = requireText('input.name', value, 60);
  if (SYSTEM_PROJECT_ROLES.some((r) => r.name.toLowerCase() === name.toLowerCase())) {
    throw conflict(`"${name}" is the name of a system project role.`, { field: 'input.name' });
  }
  return name;
}

async function writePermissions(db: RequestDatabase, roleId: string, permissions: readonly ProjectPermission[]) {
  await db.query('delete from project_role_permissions where role_id = $1', [roleId]);
  await db.query(
    `insert into project_role_permissions (org_id, role_id, permission_key)
     select app_public.current_org_id(), $1, unnest($2::text[])`,
    [roleId, permissions],
  );
}

export interface ProjectRoleInput {
  name: string;
  description?: string | null;
  permissions: readonly string[];
}

export async function createProjectRole(
  db: RequestDatabase,
  held: ReadonlySet<ProjectPermission>,
  actorId: string,
  input: ProjectRoleInput,
): Promise<string> {
  const name = requireProjectRoleName(input.name);
  const description = optionalText('input.description', input.description, 500) ?? '';
  const permissions = requireProjectPermissionKeys('input.permissions', input.permissions);
  assertHoldsProject(held, permissions, 'create this project role');
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      'insert into project_roles (org_id, name, description, created_by) values (app_public.current_org_id(), $1, $2, $3) returning id',
      [name, description, actorId],
    );
    await writePermissions(db, rows[0]!.id, permissions);
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export async function duplicateProjectRole(
  db: RequestDatabase,
  held: ReadonlySet<ProjectPermission>,
  actorId: string,
  sourceId: string,
  name?: string | null,
): Promise<string> {
  const source = await requireProjectRole(db, sourceId, 'input.id');
  return createProjectRole(db, held, actorId, {
    name: name ?? `${source.name} (custom)`,
    description: source.description,
    permissions: source.permissions,
  });
}

export async function updateProjectRole(
  db: RequestDatabase,
  held: ReadonlySet<ProjectPermission>,
  id: string,
  input: { name?: string | null; description?: string | null; permissions?: readonly string[] | null },
): Promise<void> {
  const role = await requireProjectRole(db, id, 'input.id');
  if (role.system_key) throw forbidden('System project roles cannot be changed; duplicate one as a custom role instead.');
  const name = input.name == null ? null : requireProjectRoleName(input.name);
  const description = optionalText('input.description', input.description, 500);
  const permissions = input.permissions == null ? null : requireProjectPermissionKeys('input.permissions', input.permissions);
  // Editing changes what its holders can do: the editor must hold all of it, before and after.
  assertHoldsProject(held, [...role.permissions, ...(permissions ?? [])], 'edit this project role');
  await withDatabaseErrors(async () => {
    if (name !== null || description !== null) {
      await db.query(
        'update project_roles set name = coalesce($2, name), description = coalesce($3, description) where id = $1',
        [id, name, description],
      );
    }
    if (permissions) await writePermissions(db, id, permissions);
  }, CONSTRAINTS);
}

/** Who holds a project role, in every workspace of the organization. */
export async function projectRoleUsage(db: RequestDatabase, id: string): Promise<{ members: number; teams: number }> {
  const system = isProjectRoleKey(id);
  return acrossWorkspaces(db, async () => {
    const { rows } = await db.query<{ members: number; teams: number }>(
      `select count(*) filter (where membership_id is not null)::int as members, count(*) filter (where team_id is not null)::int as teams
       from project_members where ${system ? 'system_role_key = $1' : 'project_role_id = $1::uuid'}`,
      [id],
    );
    return rows[0]!;
  });
}

export async function deleteProjectRole(db: RequestDatabase, held: ReadonlySet<ProjectPermission>, id: string): Promise<void> {
  const role = await requireProjectRole(db, id, 'input.id');
  if (role.system_key) throw forbidden('System project roles cannot be deleted.');
  assertHoldsProject(held, role.permissions, 'delete this project role');
  const usage = await projectRoleUsage(db, id);
  if (usage.members || usage.teams) {
    const parts = [
      usage.members && `${usage.members} project member${usage.members === 1 ? '' : 's'}`,
      usage.teams && `${usage.teams} team${usage.teams === 1 ? '' : 's'}`,
    ].filter(Boolean);
    throw conflict(`This project role is in use by ${parts.join(' and ')}; give them another role first.`, {
      memberCount: usage.members,
      teamCount: usage.teams,
    });
  }
  await db.query('delete from project_roles where id = $1', [id]);
}
