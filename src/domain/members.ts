import type { SystemRoleKey } from '../authz/permissions.js';
import type { RequestDatabase } from '../db/request-database.js';
import { notFound } from '../errors.js';

/** Adds a user to the bound organization with a system role (End Users: in one customer). */
export async function addMembership(
  db: RequestDatabase,
  userId: string,
  role: SystemRoleKey,
  customerId: string | null = null,
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into memberships (org_id, user_id, role_id, customer_id)
     select app_public.current_org_id(), $1, id, $3 from roles where system_key = $2
     returning id`,
    [userId, role, customerId],
  );
  if (!rows[0]) throw notFound('Role', role);
  return rows[0].id;
}
