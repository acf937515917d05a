import type { RequestDatabase } from '../db/request-database.js';
import {
  isPermission,
  isSystemRoleKey,
  PERMISSION_KEYS,
  SYSTEM_ROLES,
  systemRole,
  type Permission,
} from '../authz/permissions.js';
import type { Principal } from '../auth/principal.js';
import { badUserInput, conflict, forbidden, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedParts, type Connection, type PageArgs } from './pagination.js';
import { optionalText, requireText } from './validation.js';

export interface RoleRow {
  id: string;
  system_key: string | null;
  name: string;
  description: string;
  customer_confined: boolean;
  permissions: Permission[];
  created_at: Date | null;
}

export const ROLE_SELECT = `
  select r.id, r.system_key, r.name, r.description, coalesce(s.customer_confined, false) as customer_confined, r.created_at,
    s.position as system_position,
    -- A system role's permissions come from the catalogue, a custom role's from its grants (a
    -- trigger refuses grants to system roles): one lookup per role, not both.
    case
      when r.system_key is not null
        then array(select srp.permission_key from system_role_permissions srp where srp.role_key = r.system_key)
      else array(select rp.permission_key from role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id)
    end as permissions
  from roles r left join system_roles s on s.key = r.system_key`;

function clean(row: RoleRow): RoleRow {
  return { ...row, permissions: row.permissions.filter(isPermission) };
}

/** A plain (unpaged) list stays bounded: the system roles, then the first CUSTOM_ROLE_LIST_LIMIT custom ones (pageRoles pages them all). */
export const CUSTOM_ROLE_LIST_LIMIT = 500;

export async function listRoles(db: RequestDatabase): Promise<RoleRow[]> {
  // Two ordered reads (system roles are a handful; custom roles by roles_custom_name_key_order,
  // name_key = lower(name) stored, migration 020), so the list never sorts the organization's roles.
  const { rows } = await db.query<RoleRow>(
    `select * from (
       (${ROLE_SELECT} where r.system_key is not null order by s.position)
       union all
       (${ROLE_SELECT} where r.system_key is null order by r.name_key, r.id limit ${CUSTOM_ROLE_LIST_LIMIT})
     ) listed order by system_position nulls last, lower(name), id`,
  );
  return rows.map(clean);
}

/**
 * Roles in listRoles' order, one keyset page: the list's order is the tuple (is custom, sort key,
 * id), read as two parts — the system roles by their position in the matrix (a handful per
 * organization, through their unique (org_id, system_key) key), then the custom roles by name
 * (roles_custom_name_key_order). A cursor names its part, so a page of custom roles never reads
 * the system ones again. Each part reads only what it needs: permissions per listed role.
 */
export async function pageRoles(db: RequestDatabase, page: PageArgs): Promise<Connection<RoleRow & { cursor_key: string }>> {
  const connection = await pagedParts<RoleRow>(db, {
    where: new Conditions(),
    page,
    parts: [
      {
        // A system role's permissions are the matrix's (as roleOfPrincipal reads them), not a catalogue lookup per role.
        columns: `r.id, r.system_key, r.name, r.description, s.customer_confined, r.created_at, '{}'::text[] as permissions`,
        from: 'roles r join system_roles s on s.key = r.system_key',
        condition: 'r.system_key is not null',
        sort: { expression: 's.position', type: 'int', direction: 'asc', id: 'r.id' },
      },
      {
        columns: `r.id, r.system_key, r.name, r.description, false as customer_confined, r.created_at,
          array(select rp.permission_key from role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id) as permissions`,
        from: 'roles r',
        condition: 'r.system_key is null',
        sort: { expression: 'r.name_key', type: 'text', direction: 'asc', id: 'r.id' },
      },
    ],
  });
  for (const { node } of connection.edges) {
    const permissions =
      node.system_key && isSystemRoleKey(node.system_key) ? systemRole(node.system_key).permissions : node.permissions;
    node.permissions = [...permissions].filter(isPermission);
  }
  return connection;
}

export async function loadRoles(db: RequestDatabase, ids: readonly string[]): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(`${ROLE_SELECT} where r.id = any($1::uuid[])`, [ids]);
  return rows.map(clean);
}

export async function countMembersByRole(db: RequestDatabase, roleIds: readonly string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ role_id: string; n: number }>(
    'select role_id, count(*)::int as n from memberships where role_id = any($1::uuid[]) group by role_id',
    [roleIds],
  );
  return new Map(rows.map((r) => [r.role_id, r.n]));
}

/**
 * The caller's own role, from the principal (so End Users, who cannot read org-internal tables,
 * still see theirs). System roles come from the matrix; custom roles are read as staff.
 */
export async function roleOfPrincipal(db: RequestDatabase, principal: Principal): Promise<RoleRow | null> {
  if (!principal.roleId) return null; // a runner key without a role
  if (principal.roleKey && isSystemRoleKey(principal.roleKey)) {
    const definition = systemRole(principal.roleKey);
    return {
      id: principal.roleId,
      system_key: definition.key,
      name: principal.roleName,
      description: definition.description,
      customer_confined: definition.customerConfined,
      permissions: [...definition.permissions],
      created_at: null,
    };
  }
  return (await loadRoles(db, [principal.roleId]))[0] ?? null;
}

// ---------------------------------------------------------------------------------------------
// Custom roles: create, duplicate, edit, delete, with the guards of ARCHITECTURE.md §3 (no privilege escalation).
// ---------------------------------------------------------------------------------------------

const CONSTRAINTS: ConstraintMessages = {
  unique: { roles_name_unique: { field: 'input.name', message: 'A role with this name already exists in your organization.' } },
};

/** Known permission keys only, each once, in matrix order. */
export function requirePermissionKeys(field: string, value: readonly string[]): Permission[] {
  const unknown = value.filter((key) => !isPermission(key));
  if (unknown.length > 0) throw badUserInput(field, `unknown permission ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  return PERMISSION_KEYS.filter((key) => value.includes(key));
}

/** No privilege escalation: nobody grants (or takes from a holder) what they do not hold. */
export function assertHolds(caller: Principal, permissions: readonly Permission[], action: string): void {
  const missing = permissions.filter((p) => !caller.permissions.has(p));
  if (missing.length > 0) {
    throw forbidden(`You cannot ${action}: it involves permissions you do not hold (${missing.join(', ')}).`, { missing });
  }
}

function requireRoleName(value: unknown): string {
  const name = requireText('input.name', value, 60);
  if (SYSTEM_ROLES.some((r) => r.name.toLowerCase() === name.toLowerCase() || r.key === name.toLowerCase())) {
    throw conflict(`"${name}" is the name of a system role.`, { field: 'input.name' });
  }
  return name;
}

export async function requireRole(db: RequestDatabase, id: string): Promise<RoleRow> {
  const role = (await loadRoles(db, [id]))[0];
  if (!role) throw notFound('Role', id);
  return role;
}

async function writePermissions(db: RequestDatabase, roleId: string, permissions: readonly Permission[]): Promise<void> {
  await db.query('delete from role_permissions where role_id = $1', [roleId]);
  await db.query(
    `insert into role_permissions (org_id, role_id, permission_key)
     select app_public.current_org_id(), $1, unnest($2::text[])`,
    [roleId, permissions],
  );
}

export interface RoleInput {
  name: string;
  description?: string | null;
  permissions: readonly string[];
}

export async function createRole(db: RequestDatabase, caller: Principal, actorId: string, input: RoleInput): Promise<string> {
  const name = requireRoleName(input.name);
  const description = optionalText('input.description', input.description, 500) ?? '';
  const permissions = requirePermissionKeys('input.permissions', input.permissions);
  assertHolds(caller, permissions, 'create this role');
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `insert into roles (org_id, name, description, created_by) values (app_public.current_org_id(), $1, $2, $3) returning id`,
      [name, description, actorId],
    );
    await writePermissions(db, rows[0]!.id, permissions);
    return rows[0]!.id;
  }, CONSTRAINTS);
}

/** "Duplicate as Custom": any role's permissions, under a new name. */
export async function duplicateRole(
  db: RequestDatabase,
  caller: Principal,
  actorId: string,
  sourceId: string,
  name?: string | null,
): Promise<string> {
  const source = await requireRole(db, sourceId);
  return createRole(db, caller, actorId, {
    name: name ?? `${source.name} (custom)`,
    description: source.description,
    permissions: source.permissions,
  });
}

export async function updateRole(
  db: RequestDatabase,
  caller: Principal,
  id: string,
  input: { name?: string | null; description?: string | null; permissions?: readonly string[] | null },
): Promise<void> {
  const role = await requireRole(db, id);
  if (role.system_key) throw forbidden('System roles cannot be changed; duplicate one as a custom role instead.');
  const name = input.name == null ? null : requireRoleName(input.name);
  const description = optionalText('input.description', input.description, 500);
  const permissions = input.permissions == null ? null : requirePermissionKeys('input.permissions', input.permissions);
  // Editing a role changes what its holders can do: the editor must hold all of it, before and after.
  assertHolds(caller, [...role.permissions, ...(permissions ?? [])], 'edit this role');
  await withDatabaseErrors(async () => {
    if (name !== null || description !== null) {
      await db.query('update roles set name = coalesce($2, name), description = coalesce($3, description) where id = $1', [
        id,
        name,
        description,
      ]);
    }
    if (permissions) await writePermissions(db, id, permissions);
  }, CONSTRAINTS);
}

export interface RoleUsage {
  members: number;
  teams: number;
  invitations: number;
  autoApprove: boolean;
  /** API keys, runners and OIDC clients holding it (revoked ones too: they keep their role). */
  keys: number;
}

export async function roleUsage(db: RequestDatabase, id: string): Promise<RoleUsage> {
  const { rows } = await db.query<{ members: number; teams: number; invitations: number; auto_approve: boolean; keys: number }>(
    `select (select count(*)::int from memberships where role_id = $1) as members,
            (select count(*)::int from service_principals where role_id = $1) as keys,
            (select count(*)::int from teams where role_id = $1) as teams,
            (select count(*)::int from invitations where role_id = $1 and status = 'pending') as invitations,
            exists (select 1 from organizations where id = app_public.current_org_id() and auto_approve_role_id = $1) as auto_approve`,
    [id],
  );
  const row = rows[0]!;
  return { members: row.members, teams: row.teams, invitations: row.invitations, autoApprove: row.auto_approve, keys: row.keys };
}

function describeUsage(usage: RoleUsage): string {
  const parts = [
    usage.members && `${usage.members} member${usage.members === 1 ? '' : 's'}`,
    usage.teams && `${usage.teams} team${usage.teams === 1 ? '' : 's'}`,
    usage.invitations && `${usage.invitations} pending invitation${usage.invitations === 1 ? '' : 's'}`,
    usage.autoApprove && 'the auto-approve setting',
    usage.keys && `${usage.keys} API key${usage.keys === 1 ? '' : 's'}`,
  ].filter(Boolean);
  return parts.join(', ').replace(/, ([^,]*)$/, ' and $1');
}

export async function deleteRole(db: RequestDatabase, caller: Principal, id: string): Promise<void> {
  const role = await requireRole(db, id);
  if (role.system_key) throw forbidden('System roles cannot be deleted.');
  assertHolds(caller, role.permissions, 'delete this role');
  const usage = await roleUsage(db, id);
  if (usage.members || usage.teams || usage.invitations || usage.autoApprove || usage.keys) {
    throw conflict(`This role is in use by ${describeUsage(usage)}; move them to another role first.`, {
      memberCount: usage.members,
      teamCount: usage.teams,
      invitationCount: usage.invitations,
      usedByAutoApprove: usage.autoApprove,
      apiKeyCount: usage.keys,
    });
  }
  await db.query('delete from roles where id = $1', [id]);
}
