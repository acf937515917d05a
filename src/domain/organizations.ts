import { randomUUID } from 'node:crypto';
import { systemRole } from '../authz/permissions.js';
import type { RequestDatabase } from '../db/request-database.js';
import { requireText } from './validation.js';

export interface OrganizationRow {
  id: string;
  name: string;
  /** Absent when the row came from the caller's principal rather than a query. */
  created_at?: Date;
}

/**
 * Creates an organization with its six system roles and makes `userId` its Owner. The request's
 * transaction is re-bound to the new organization while it works (RLS checks every insert
 * against app.org_id), and `inside` runs there too (the audit event belongs to the new one).
 */
export async function createOrganization(
  db: RequestDatabase,
  userId: string,
  rawName: unknown,
  inside: (orgId: string) => Promise<void> = async () => {},
  orgId: string = randomUUID(),
): Promise<string> {
  const name = requireText('input.name', rawName, 120);
  // The creator is bound as what they become: the Owner (the write policies want its permissions).
  const restore = await db.rebind({
    userId,
    orgId,
    access: 'staff',
    tenantId: null,
    permissions: systemRole('owner').permissions,
  });
  try {
    await db.query('insert into organizations (id, name, created_by) values ($1, $2, $3)', [orgId, name, userId]);
    await db.query(
      `insert into roles (org_id, system_key, name, description)
       select $1, key, name, description from system_roles order by position`,
      [orgId],
    );
    await db.query(
      `insert into memberships (org_id, user_id, role_id)
       select $1, $2, id from roles where org_id = $1 and system_key = 'owner'`,
      [orgId, userId],
    );
    await inside(orgId);
  } finally {
    await restore();
  }
  return orgId;
}

export async function loadOrganization(db: RequestDatabase, id: string): Promise<OrganizationRow | null> {
  const { rows } = await db.query<OrganizationRow>('select id, name, created_at from organizations where id = $1', [id]);
  return rows[0] ?? null;
}
