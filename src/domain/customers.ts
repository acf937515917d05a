import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { requireText } from './validation.js';

export interface CustomerRow {
  id: string;
  org_id: string;
  name: string;
  slug: string;
  region: 'US' | 'EU' | 'APAC';
  plan: string;
  status: 'active' | 'suspended';
  max_connections: number | null;
  max_executions_per_month: number | null;
  created_at: Date;
  updated_at: Date;
}

export const CUSTOMER_COLUMNS =
  'c.id, c.org_id, c.name, c.slug, c.region, c.plan, c.status, c.max_connections, c.max_executions_per_month, c.created_at, c.updated_at';

export async function loadCustomers(db: RequestDatabase, ids: readonly string[]): Promise<CustomerRow[]> {
  const { rows } = await db.query<CustomerRow>(`select ${CUSTOMER_COLUMNS} from customers c where c.id = any($1::uuid[])`, [ids]);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Customers: the organization's tenants, with per-customer billing limits.
// ---------------------------------------------------------------------------------------------

export interface CustomerFilter {
  status?: 'active' | 'suspended' | null;
  region?: 'US' | 'EU' | 'APAC' | null;
  search?: string | null;
}

const CONSTRAINTS: ConstraintMessages = {
  unique: { customers_org_id_slug_key: { field: 'input.slug', message: 'Another customer of your organization has this slug.' } },
};

export async function listCustomers(
  db: RequestDatabase,
  filter: CustomerFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<CustomerRow & { cursor_key: string }>> {
  const where = new Conditions()
    .add((p) => `c.status = ${p}`, filter.status)
    .add((p) => `c.region = ${p}`, filter.region)
    .search(['c.name', 'c.slug'], filter.search);
  return pagedQuery<CustomerRow>(db, {
    columns: CUSTOMER_COLUMNS,
    from: 'customers c',
    where,
    sort: { expression: 'lower(c.name)', type: 'text', direction: 'asc', id: 'c.id' },
    page,
    withTotal,
  });
}

export async function requireCustomer(db: RequestDatabase, id: string): Promise<CustomerRow> {
  const customer = (await loadCustomers(db, [id]))[0];
  if (!customer) throw notFound('Customer', id);
  return customer;
}

const REGIONS = ['US', 'EU', 'APAC'] as const;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function slugify(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63)
      .replace(/-+$/, '') || 'customer'
  );
}

export interface CustomerInput {
  name: string;
  slug?: string | null;
  region?: string | null;
  plan?: string | null;
}

function requireSlug(value: string): string {
  if (!SLUG.test(value)) throw badUserInput('input.slug', 'lowercase letters, digits and dashes, 1–63 characters');
  return value;
}

function requireRegion(value: string): CustomerRow['region'] {
  if (!(REGIONS as readonly string[]).includes(value)) throw badUserInput('input.region', `must be one of ${REGIONS.join(', ')}`);
  return value as CustomerRow['region'];
}

export async function createCustomer(db: RequestDatabase, input: CustomerInput): Promise<string> {
  const name = requireText('input.name', input.name, 120);
  const slug = requireSlug(input.slug?.trim() || slugify(name));
  const region = requireRegion(input.region ?? 'US');
  const plan = requireText('input.plan', input.plan ?? 'starter', 40);
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `insert into customers (org_id, name, slug, region, plan) values (app_public.current_org_id(), $1, $2, $3, $4) returning id`,
      [name, slug, region, plan],
    );
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export async function updateCustomer(
  db: RequestDatabase,
  id: string,
  input: { name?: string | null; slug?: string | null; region?: string | null; plan?: string | null },
): Promise<void> {
  await requireCustomer(db, id);
  const name = input.name == null ? null : requireText('input.name', input.name, 120);
  const slug = input.slug == null ? null : requireSlug(input.slug.trim());
  const region = input.region == null ? null : requireRegion(input.region);
  const plan = input.plan == null ? null : requireText('input.plan', input.plan, 40);
  await withDatabaseErrors(
    () =>
      db.query(
        `update customers set name = coalesce($2, name), slug = coalesce($3, slug), region = coalesce($4, region), plan = coalesce($5, plan)
         where id = $1`,
        [id, name, slug, region, plan],
      ),
    CONSTRAINTS,
  );
}

export async function setCustomerStatus(db: RequestDatabase, id: string, status: CustomerRow['status']): Promise<void> {
  const customer = await requireCustomer(db, id);
  if (customer.status === status) throw conflict(`This customer is already ${status}.`);
  await db.query('update customers set status = $2 where id = $1', [id, status]);
}

export interface LimitsInput {
  /** Null: unlimited. */
  maxConnections?: number | null;
  maxExecutionsPerMonth?: number | null;
}

export async function setCustomerLimits(db: RequestDatabase, id: string, input: LimitsInput): Promise<void> {
  await requireCustomer(db, id);
  for (const [field, value] of Object.entries(input)) {
    if (value != null && (!Number.isInteger(value) || value < 0 || value > 100_000_000)) {
      throw badUserInput(`input.${field}`, 'must be a whole number between 0 and 100000000, or null for no limit');
    }
  }
  await db.query('update customers set max_connections = $2, max_executions_per_month = $3 where id = $1', [
    id,
    input.maxConnections ?? null,
    input.maxExecutionsPerMonth ?? null,
  ]);
}

export interface CustomerUsage {
  executions_this_month: number;
}

/** The month is the organization's (its timezone setting). */
export async function customerUsage(
  db: RequestDatabase,
  ids: readonly string[],
): Promise<(CustomerUsage & { customer_id: string })[]> {
  return (
    // Counted by the database whatever the caller may read of the runs (executions.read).
    (
      await db.query<CustomerUsage & { customer_id: string }>(
        'select customer_id, executions_this_month from app_private.executions_this_month($1::uuid[])',
        [ids],
      )
    ).rows
  );
}

/**
 * Serializes work that counts against a customer's limits. An advisory lock, not FOR UPDATE:
 * row locks need the UPDATE policy, which customer-confined requests do not have. Counting
 * happens in a later statement: in READ COMMITTED a statement's snapshot predates its lock wait.
 */
export async function lockCustomer(
  db: { query(text: string, values?: unknown[]): Promise<unknown> },
  customerId: string,
): Promise<void> {
  await db.query(`select pg_advisory_xact_lock(hashtextextended('customer:' || $1, 0))`, [customerId]);
}

/**
 * Locks the customer (so concurrent runs count one after another) and refuses a run that
 * would exceed its monthly executions limit, or any run for a suspended customer.
 */
export async function assertCanRun(db: RequestDatabase, customerId: string): Promise<void> {
  await lockCustomer(db, customerId);
  const { rows } = await db.query<{ status: string; max_executions_per_month: number | null; used: number }>(
    `select c.status, c.max_executions_per_month,
       (select u.executions_this_month from app_private.executions_this_month(array[c.id]) u) as used
     from customers c
     where c.id = $1`,
    [customerId],
  );
  const customer = rows[0];
  if (!customer) throw notFound('Customer', customerId);
  if (customer.status !== 'active')
    throw conflict('This customer is suspended; nothing can run for it.', { field: 'input.customerId' });
  if (customer.max_executions_per_month !== null && customer.used >= customer.max_executions_per_month) {
    throw conflict(`This customer has used its ${customer.max_executions_per_month} executions for this month.`, {
      limit: 'maxExecutionsPerMonth',
      max: customer.max_executions_per_month,
    });
  }
}
