import type { RequestDatabase } from '../db/request-database.js';
import { isPermission, systemRole, isSystemRoleKey, type Permission } from '../authz/permissions.js';
import type { Principal } from '../auth/principal.js';

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
    array(
      select srp.permission_key from system_role_permissions srp where srp.role_key = r.system_key
      union
      select rp.permission_key from role_permissions rp where rp.org_id = r.org_id and rp.role_id = r.id
    ) as permissions
  from roles r left join system_roles s on s.key = r.system_key`;

function clean(row: RoleRow): RoleRow {
  return { ...row, permissions: row.permissions.filter(isPermission) };
}

export async function listRoles(db: RequestDatabase): Promise<RoleRow[]> {
  const { rows } = await db.query<RoleRow>(`${ROLE_SELECT} order by s.position nulls last, lower(r.name), r.id`);
  return rows.map(clean);
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
