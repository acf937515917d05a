/**
 * The audit trail (ARCHITECTURE.md §6). A success is written through the request's own transaction, so
 * the change and its event commit or vanish together. Failures and denials are kept in memory
 * and written after the request's transaction has ended, in a transaction of their own, so a
 * rollback cannot erase them.
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { randomUUID } from 'node:crypto';
import { withBoundTransaction, type DatabaseBinding, type RequestDatabase } from '../db/request-database.js';
import { eventMac, type SealingKey } from './seal.js';

export type AuditOutcome = 'success' | 'failure' | 'denied';

export interface AuditEntry {
  /** Dot notation: `workflow.deploy_prod`, `role.create`, `auth.login`… */
  action: string;
  resourceType: string;
  resourceId?: string | null;
  customerId?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditActor {
  /** A person's user id, or the identity a service principal acts as. */
  userId: string;
  name: string | null;
  /** Set when the actor is a service principal (API key, runner, OIDC client). */
  servicePrincipalId?: string | null;
}

interface AuditRow extends AuditEntry {
  outcome: AuditOutcome;
  orgId: string;
}

export interface RequestMeta {
  requestId: string;
  clientIp: string | null;
  userAgent: string | null;
}

interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/**
 * The gateway names each event's id and time itself, so its MAC (migration 019, seal.ts
 * `eventMac`) covers every column it sets and travels in the same INSERT: no lock, no extra
 * round trip. The time is UTC text with microseconds, strictly increasing within the process
 * (events of one request keep their order, as clock_timestamp() kept it); the database keeps it
 * unless it is implausibly far from its own clock (see migration 019).
 */
let lastMicros = 0n;
export function auditTimestamp(): string {
  let micros = BigInt(Date.now()) * 1000n;
  if (micros <= lastMicros) micros = lastMicros + 1n;
  lastMicros = micros;
  const ms = micros / 1000n;
  return new Date(Number(ms)).toISOString().replace(/Z$/, `${(micros % 1000n).toString().padStart(3, '0')}Z`);
}

interface PreparedEvent {
  id: string;
  occurredAt: string;
  actorType: string;
  actorUserId: string | null;
  actorName: string;
  principalId: string | null;
  details: string;
  mac: Buffer;
}

function prepare(key: SealingKey, meta: RequestMeta, actor: AuditActor | null, row: AuditRow): PreparedEvent {
  const id = randomUUID();
  const occurredAt = auditTimestamp();
  const actorType = actor ? (actor.servicePrincipalId ? 'service' : 'user') : 'system';
  const actorUserId = actor?.userId ?? null;
  const actorName = actor?.name ?? 'system';
  const principalId = actor?.servicePrincipalId ?? null;
  const details = JSON.stringify(row.details ?? {});
  const mac = eventMac(key, {
    org_id: row.orgId,
    id,
    occurred_at: occurredAt,
    actor_type: actorType,
    actor_user_id: actorUserId,
    actor_principal_id: principalId,
    actor_name: actorName,
    action: row.action,
    resource_type: row.resourceType,
    resource_id: row.resourceId ?? null,
    outcome: row.outcome,
    customer_id: row.customerId ?? null,
    request_id: meta.requestId,
    client_ip: meta.clientIp,
    user_agent: meta.userAgent?.slice(0, 512) ?? null,
    details,
  });
  return { id, occurredAt, actorType, actorUserId, actorName, principalId, details, mac };
}

export async function insertAuditRows(
  db: Queryable,
  meta: RequestMeta,
  actor: AuditActor | null,
  rows: AuditRow[],
  key: SealingKey,
): Promise<void> {
  if (rows.length === 0) return;
  const prepared = rows.map((r) => prepare(key, meta, actor, r));
  const first = prepared[0]!;
  await db.query(
    `insert into app_public.audit_events
       (org_id, actor_type, actor_user_id, actor_name, action, resource_type, resource_id, outcome,
        customer_id, request_id, client_ip, user_agent, details, actor_principal_id, id, occurred_at, event_mac)
     select org_id, $2, $3, $4, action, resource_type, resource_id, outcome, customer_id, $5, $6::inet, $7, details, $14::uuid,
       id, occurred_at, decode(mac, 'hex')
     from unnest($1::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::uuid[], $13::jsonb[], $15::uuid[],
       $16::timestamptz[], $17::text[])
       as e(org_id, action, resource_type, resource_id, outcome, customer_id, details, id, occurred_at, mac)`,
    [
      rows.map((r) => r.orgId),
      first.actorType,
      first.actorUserId,
      first.actorName,
      meta.requestId,
      meta.clientIp,
      meta.userAgent?.slice(0, 512) ?? null,
      rows.map((r) => r.action),
      rows.map((r) => r.resourceType),
      rows.map((r) => r.resourceId ?? null),
      rows.map((r) => r.outcome),
      rows.map((r) => r.customerId ?? null),
      prepared.map((p) => p.details),
      first.principalId,
      prepared.map((p) => p.id),
      prepared.map((p) => p.occurredAt),
      prepared.map((p) => p.mac.toString('hex')),
    ],
  );
}

/** One event as a statement with literal values (it travels with the request's COMMIT). */
function singleEventStatement(key: SealingKey, meta: RequestMeta, actor: AuditActor | null, row: AuditRow) {
  const p = prepare(key, meta, actor, row);
  return {
    text: `insert into app_public.audit_events
       (org_id, actor_type, actor_user_id, actor_name, action, resource_type, resource_id, outcome,
        customer_id, request_id, client_ip, user_agent, details, actor_principal_id, id, occurred_at, event_mac)
     values ($1::uuid, $2, $3::uuid, $4, $5, $6, $7, $8, $9::uuid, $10, $11::inet, $12, $13::jsonb, $14::uuid, $15::uuid,
       $16::timestamptz, decode($17, 'hex'))`,
    values: [
      row.orgId,
      p.actorType,
      p.actorUserId,
      p.actorName,
      row.action,
      row.resourceType,
      row.resourceId ?? null,
      row.outcome,
      row.customerId ?? null,
      meta.requestId,
      meta.clientIp,
      meta.userAgent?.slice(0, 512) ?? null,
      p.details,
      p.principalId,
      p.id,
      p.occurredAt,
      p.mac.toString('hex'),
    ],
  };
}
/** Hears audit events as they reach the database (written) or only the log (unwritten), for metrics. */
export type AuditObserver = (outcome: AuditOutcome, result: 'written' | 'unwritten', count: number) => void;

export class RequestAudit {
  /** Set by the context factory when metrics are on. */
  observer: AuditObserver = () => {};
  private readonly deferred: AuditRow[] = [];
  private readonly seen = new Set<string>();
  private readonly pendingSuccesses: AuditRow[] = [];

  constructor(
    private readonly meta: RequestMeta,
    private readonly actor: AuditActor | null,
    private readonly logger: Logger,
    /** Signs each event (AUDIT_SIGNING_KEY; seal.ts `eventMac`). */
    private readonly key: SealingKey,
  ) {}

  /**
   * Record a success inside the request transaction (call it last, inside the mutation). It is
   * written in the round trip that commits the transaction, under the binding in force now: the
   * change and its event still commit, or vanish, together.
   */
  async success(db: RequestDatabase, entry: AuditEntry): Promise<void> {
    const orgId = db.currentBinding.orgId;
    if (!orgId) throw new Error(`audit: ${entry.action} succeeded outside any organization`);
    // A customer-confined request records for its customer (the database insists).
    const customerId = entry.customerId === undefined ? db.currentBinding.tenantId : entry.customerId;
    const row: AuditRow = { ...entry, customerId, orgId, outcome: 'success' };
    const { text, values } = singleEventStatement(this.key, this.meta, this.actor, row);
    db.deferUntilCommit(text, values);
    this.pendingSuccesses.push(row);
  }

  /**
   * Queue a failure or a denial for after the request transaction. A denial repeated within a
   * request (the same field refused on every item of a list) is written once; failures are
   * distinct attempts and are all written.
   */
  defer(outcome: Exclude<AuditOutcome, 'success'>, orgId: string | null, entry: AuditEntry): void {
    if (outcome === 'denied') {
      const key = `${entry.action}|${entry.resourceId ?? ''}`;
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    if (!orgId) {
      // No organization to file it under (anonymous, or none selected): logs only.
      this.logger.info(
        { audit: { ...entry, outcome, actor: this.actor?.userId ?? 'anonymous' } },
        'audit event without organization',
      );
      this.observer(outcome, 'unwritten', 1);
      return;
    }
    this.deferred.push({ ...entry, orgId, outcome });
  }

  /**
   * A success that belongs to no transaction of the request (a finished read worth recording,
   * such as an audit export): written by flush(), like failures and denials.
   */
  recordAfter(orgId: string, entry: AuditEntry): void {
    this.deferred.push({ ...entry, orgId, outcome: 'success' });
  }

  /** Changes reported as done in this request, still waiting for its commit (sign-ins aside). */
  get hasPendingChanges(): boolean {
    return this.pendingSuccesses.some((row) => row.action !== 'auth.login');
  }

  /**
   * The commit failed: the successes it carried never happened — or, when the connection died
   * after COMMIT was sent, nobody knows. Report them as failures, marked `outcome: "unknown"`
   * in the latter case (the Success event may then exist too: it committed with the change).
   */
  commitFailed(code: string, outcomeUnknown = false): void {
    for (const row of this.pendingSuccesses.splice(0)) {
      this.deferred.push({
        ...row,
        outcome: 'failure',
        details: { ...row.details, code, ...(outcomeUnknown ? { outcome: 'unknown' } : {}) },
      });
    }
  }

  private logUnwritten(row: AuditRow, error: unknown): void {
    this.logger.error(
      {
        audit_unwritten: true,
        event: {
          orgId: row.orgId,
          actorType: this.actor ? 'user' : 'system',
          actorUserId: this.actor?.userId ?? null,
          actorName: this.actor?.name ?? 'system',
          action: row.action,
          resourceType: row.resourceType,
          resourceId: row.resourceId ?? null,
          outcome: row.outcome,
          customerId: row.customerId ?? null,
          requestId: this.meta.requestId,
          clientIp: this.meta.clientIp,
          userAgent: this.meta.userAgent?.slice(0, 512) ?? null,
          details: row.details ?? {},
          occurredAt: new Date().toISOString(),
        },
        reason: error instanceof Error ? error.message : String(error),
      },
      'audit.unwritten',
    );
  }

  /** Write deferred events in a transaction of their own. Never throws: the response stands. */
  async flush(pool: pg.Pool, binding: DatabaseBinding): Promise<void> {
    // Successes still pending here went out with the request's commit (a failed commit turned
    // them into failures, see commitFailed).
    const committed = this.pendingSuccesses.length;
    if (committed) this.observer('success', 'written', committed);
    this.pendingSuccesses.length = 0;
    const rows = this.deferred.splice(0);
    if (rows.length === 0) return;
    const byOrg = new Map<string, AuditRow[]>();
    for (const row of rows) byOrg.set(row.orgId, [...(byOrg.get(row.orgId) ?? []), row]);
    for (const [orgId, orgRows] of byOrg) {
      try {
        // The insert policy wants the event's organization bound; nothing else is read.
        // Another organization's events (a refused invitation, say) are filed with no access there.
        const here =
          orgId === binding.orgId
            ? binding
            : { userId: binding.userId, orgId, access: null, tenantId: null, principal: binding.principal };
        await withBoundTransaction(pool, here, (client) => insertAuditRows(client, this.meta, this.actor, orgRows, this.key));
        for (const row of orgRows) this.observer(row.outcome, 'written', 1);
      } catch (error) {
        // The database is down (or refused): the events live on in the log, one line each with
        // every field and a stable marker, so log shipping keeps what the table could not.
        for (const row of orgRows) {
          this.logUnwritten(row, error);
          this.observer(row.outcome, 'unwritten', 1);
        }
      }
    }
  }
}
