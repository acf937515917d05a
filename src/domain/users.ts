import type { RequestDatabase } from '../db/request-database.js';

export interface UserRow {
  id: string;
  email: string | null;
  name: string | null;
}

/** Users the request may see (itself, and colleagues in its organization: RLS decides). */
export async function loadUsers(db: RequestDatabase, ids: readonly string[]): Promise<UserRow[]> {
  const { rows } = await db.query<UserRow>('select id, email, name from users where id = any($1::uuid[])', [ids]);
  return rows;
}
