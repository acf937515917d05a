import type { RequestDatabase } from '../db/request-database.js';

export interface CustomerRow {
  id: string;
  org_id: string;
  name: string;
  slug: string;
  region: 'US' | 'EU' | 'APAC';
  plan: string;
  status: 'active' | 'suspended';
  created_at: Date;
  updated_at: Date;
}

export const CUSTOMER_COLUMNS = 'c.id, c.org_id, c.name, c.slug, c.region, c.plan, c.status, c.created_at, c.updated_at';

export async function loadCustomers(db: RequestDatabase, ids: readonly string[]): Promise<CustomerRow[]> {
  const { rows } = await db.query<CustomerRow>(`select ${CUSTOMER_COLUMNS} from customers c where c.id = any($1::uuid[])`, [ids]);
  return rows;
}
