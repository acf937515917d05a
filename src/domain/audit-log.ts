/** Reading the audit trail: filters, newest first, cursor pages, total count. */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput } from '../errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';

export interface AuditEventRow {
  id: string;
  occurred_at: Date;
  actor_type: 'user' | 'system' | 'service';
  actor_user_id: string | null;
  /** Set when the actor is a service principal (API key, runner, OIDC client). */
  actor_principal_id: string | null;
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
  /** Events by this service principal (API key, runner, OIDC client). */
  servicePrincipalId?: string | null;
  action?: string | null;
  resourceType?: string | null;
  outcome?: 'success' | 'failure' | 'denied' | null;
  from?: Date | null;
  to?: Date | null;
}

const COLUMNS = `a.id, a.occurred_at, a.actor_type, a.actor_user_id, a.actor_principal_id, a.actor_name, a.action, a.resource_type, a.resource_id,
  a.outcome, a.customer_id, a.request_id, host(a.client_ip) as client_ip, a.user_agent, a.details`;

export async function listAuditEvents(
  db: RequestDatabase,
  filter: AuditFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<AuditEventRow>> {
  if (filter.userId && filter.system) throw badUserInput('filter.system', 'cannot be combined with userId');
  if (filter.servicePrincipalId && filter.system)
    throw badUserInput('filter.system', 'cannot be combined with servicePrincipalId');
  if (filter.from && filter.to && filter.from > filter.to) throw badUserInput('filter.from', 'must not be after filter.to');
  const where = new Conditions()
    .add((p) => `a.actor_user_id = ${p}::uuid`, filter.userId)
    .add((p) => `a.actor_type = ${p}`, filter.system ? 'system' : null)
    .add((p) => `a.actor_principal_id = ${p}::uuid`, filter.servicePrincipalId)
    .add((p) => `a.action = ${p}`, filter.action)
    .add((p) => `a.resource_type = ${p}`, filter.resourceType)
    .add((p) => `a.outcome = ${p}`, filter.outcome)
    .add((p) => `a.occurred_at >= ${p}::timestamptz`, filter.from)
    .add((p) => `a.occurred_at < ${p}::timestamptz`, filter.to);
  return pagedQuery<AuditEventRow>(db, {
    columns: COLUMNS,
    from: 'audit_events a',
    where,
    sort: { expression: 'a.occurred_at', type: 'timestamptz', direction: 'desc', id: 'a.id' },
    page,
    withTotal,
  });
}

/** The values the Audit Log page's "All Actions" and "All Types" drop-downs offer. */
export async function auditFacets(db: RequestDatabase): Promise<{ actions: string[]; resourceTypes: string[] }> {
  const { rows } = await db.query<{ actions: string[] | null; resource_types: string[] | null }>(
    `select array(select distinct action from audit_events order by 1) as actions,
            array(select distinct resource_type from audit_events order by 1) as resource_types`,
  );
  return { actions: rows[0]?.actions ?? [], resourceTypes: rows[0]?.resource_types ?? [] };
}
