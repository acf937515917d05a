/** Reading the audit trail: filters, newest first, cursor pages, total count. */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput } from '../errors.js';
import { keyset, pageWindow, toConnection, type Connection, type PageArgs } from './pagination.js';

export interface AuditEventRow {
  id: string;
  occurred_at: Date;
  actor_type: 'user' | 'system';
  actor_user_id: string | null;
  actor_name: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: 'success' | 'failure' | 'denied';
  customer_id: string | null;
  request_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
  cursor_key: string;
}

export interface AuditFilter {
  /** Events by this user… */
  userId?: string | null;
  /** …or, when true, events by the system only. */
  system?: boolean | null;
  action?: string | null;
  resourceType?: string | null;
  outcome?: 'success' | 'failure' | 'denied' | null;
  from?: Date | null;
  to?: Date | null;
}

function auditFilter(filter: AuditFilter, params: unknown[]): string {
  const conditions: string[] = [];
  if (filter.userId && filter.system) throw badUserInput('filter.system', 'cannot be combined with userId');
  if (filter.userId) {
    params.push(filter.userId);
    conditions.push(`a.actor_user_id = $${params.length}::uuid`);
  }
  if (filter.system) conditions.push(`a.actor_type = 'system'`);
  if (filter.action) {
    params.push(filter.action);
    conditions.push(`a.action = $${params.length}`);
  }
  if (filter.resourceType) {
    params.push(filter.resourceType);
    conditions.push(`a.resource_type = $${params.length}`);
  }
  if (filter.outcome) {
    params.push(filter.outcome);
    conditions.push(`a.outcome = $${params.length}`);
  }
  if (filter.from && filter.to && filter.from > filter.to) throw badUserInput('filter.from', 'must not be after filter.to');
  if (filter.from) {
    params.push(filter.from);
    conditions.push(`a.occurred_at >= $${params.length}::timestamptz`);
  }
  if (filter.to) {
    params.push(filter.to);
    conditions.push(`a.occurred_at < $${params.length}::timestamptz`);
  }
  return conditions.length ? conditions.join(' and ') : 'true';
}

const COLUMNS = `a.id, a.occurred_at, a.actor_type, a.actor_user_id, a.actor_name, a.action, a.resource_type, a.resource_id,
  a.outcome, a.customer_id, a.request_id, host(a.client_ip) as client_ip, a.user_agent, a.details`;

export async function listAuditEvents(
  db: RequestDatabase,
  filter: AuditFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<AuditEventRow>> {
  const window = pageWindow(page);
  const params: unknown[] = [];
  const where = auditFilter(filter, params);
  const k = keyset(
    { expression: 'a.occurred_at', type: 'timestamptz', direction: 'desc', id: 'a.id' },
    window,
    params.length + 1,
  );
  const countSql = `select count(*)::int from audit_events a where ${where}`;
  const { rows } = await db.query<AuditEventRow>(
    `select ${COLUMNS}, ${k.cursorKey} as cursor_key${withTotal ? `, (${countSql}) as total_count` : ''}
     from audit_events a where ${where} and ${k.condition} order by ${k.orderBy} limit ${k.limit}`,
    [...params, ...k.params],
  );
  return toConnection(rows, window, async () => (await db.query<{ count: number }>(countSql, params)).rows[0]!.count);
}

/** The values the Audit Log page's "All Actions" and "All Types" drop-downs offer. */
export async function auditFacets(db: RequestDatabase): Promise<{ actions: string[]; resourceTypes: string[] }> {
  const { rows } = await db.query<{ actions: string[] | null; resource_types: string[] | null }>(
    `select array(select distinct action from audit_events order by 1) as actions,
            array(select distinct resource_type from audit_events order by 1) as resource_types`,
  );
  return { actions: rows[0]?.actions ?? [], resourceTypes: rows[0]?.resource_types ?? [] };
}
