/**
 * GET /audit/export?from=…&to=…&order=asc|desc&after=… — the audit trail of a time range as NDJSON (one
 * event per line, the fields of the GraphQL `AuditEvent` plus its `seq`), for SIEMs.
 *
 *  - Same authentication as GraphQL (bearer JWT or API key, X-Organization-Id), built by the same
 *    context factory: refused sign-ins and headers answer 401/403 and count against the client IP.
 *  - Requires `audit_log.read`; counted like a root field (`auditExport`) against the caller's and
 *    the organization's budgets. A refusal is audited as denied (`audit_log.export`), like every
 *    denied read; a finished export is audited as a success with its range and count, because it
 *    copies the organization's whole trail out of the gateway (ARCHITECTURE.md §6: denied reads are audited;
 *    this bulk read is audited either way).
 *  - Constant memory: keyset batches of EXPORT_BATCH rows inside ONE read-only REPEATABLE READ
 *    transaction bound like the request (RLS: the caller's organization only, one snapshot for the
 *    whole export), fetched only when the client has taken the previous batch (a pull stream:
 *    the node adapter waits for 'drain', so a slow reader slows the queries, never the heap).
 *  - Capacity (review S5): that transaction holds a connection for as long as the client reads,
 *    so it comes from the export's own small pool (AUDIT_EXPORT_POOL_MAX), never the request pool;
 *    ExportSlots caps exports per replica (that pool's size: 503 beyond) and per organization
 *    (429 beyond), both with Retry-After; a client that takes nothing for AUDIT_EXPORT_PULL_TIMEOUT
 *    has its export ended (rolled back, slot freed) — PG's idle-in-transaction timeout is only
 *    the backstop.
 *  - Resumable: each line carries `cursor` (the keyset (occurred_at µs, id), opaque); `after=`
 *    continues strictly after it. An export that stops early ends with one
 *    `{"error":{code,message,resumeAfter,events}}` line naming the cursor to resume after.
 *  - Errors before the first byte are JSON `{ errors: [{ message, extensions: { code } }] }` with
 *    401/403/400/429/503; dates and cursors are checked strictly here (400 naming the parameter),
 *    so PostgreSQL never sees a value it would refuse mid-stream (review S7).
 */
import { GraphQLError } from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import type pg from 'pg';
import type { Context, ServerContext } from '../context.js';
import { heldPermissions } from '../authz/scopes.js';
import { asDatabaseFault } from '../db/faults.js';
import { bindingSql } from '../db/request-database.js';
import { ErrorCode, badUserInput, errorCodeOf, forbidden, gatewayError, serviceUnavailable, unauthenticated } from '../errors.js';
import type { Logger } from '../logger.js';
import { limitRouteCall, type RateLimitOptions } from '../ratelimit/rate-limit.js';

export const AUDIT_EXPORT_PATH = '/audit/export';
export const EXPORT_BATCH = 1_000;

type ContextFactory = (initial: YogaInitialContext & ServerContext) => Promise<Context>;

const STATUS: Record<string, number> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.BAD_REQUEST]: 400,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

function errorResponse(thrown: unknown, logger: Logger): Response {
  // A database fault before the first byte (the request pool busy, a lost connection) is a
  // retryable 503 with its kind, as in GraphQL, not a 500.
  const error = asDatabaseFault(thrown);
  const known = error instanceof GraphQLError && errorCodeOf(error) !== undefined;
  if (!known) logger.error({ err: error }, 'audit export failed');
  const code = known ? errorCodeOf(error)! : ErrorCode.INTERNAL_SERVER_ERROR;
  const { http, ...extensions } = (known ? (error as GraphQLError).extensions : {}) as {
    http?: { status?: number; headers?: Record<string, string> };
  } & Record<string, unknown>;
  return new Response(
    JSON.stringify({
      errors: [{ message: known ? (error as GraphQLError).message : 'Unexpected error.', extensions: { ...extensions, code } }],
    }),
    {
      status: http?.status ?? STATUS[code] ?? 500,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...(http?.headers ?? {}) },
    },
  );
}

export interface ExportParams {
  /** Canonical instants (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, microseconds as PostgreSQL keeps them) or ±infinity. */
  from: string;
  to: string;
  order: 'asc' | 'desc';
  /** Resume strictly after this (occurred_at, id) in `order` (the `after` cursor of a line). */
  after: { at: string; id: string } | null;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(?:Z|([+-])(\d{2}):?(\d{2})))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PARAMETERS = ['from', 'to', 'order', 'after'];

/**
 * A strict ISO 8601 instant → its canonical UTC text, or null. Date.parse accepts 2026-02-31,
 * T24:00 and year 0, PostgreSQL does not (or reads them otherwise): every field must round-trip,
 * the year lie in 1970–9999 and the offset within ±14:59. A date alone is midnight UTC (in SQL
 * too: SQL only ever sees the canonical text, never the raw parameter, so the session time zone
 * plays no part).
 */
export function canonicalInstant(value: string): string | null {
  const m = ISO.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as number[];
  const fraction = (m[7] ?? '').padEnd(6, '0');
  if (y! < 1970 || y! > 9999) return null;
  const local = new Date(Date.UTC(y!, mo! - 1, d!, h, mi, s));
  if (
    local.getUTCFullYear() !== y ||
    local.getUTCMonth() !== mo! - 1 ||
    local.getUTCDate() !== d ||
    local.getUTCHours() !== h ||
    local.getUTCMinutes() !== mi ||
    local.getUTCSeconds() !== s
  ) {
    return null;
  }
  const [oh, om] = [Number(m[9] ?? 0), Number(m[10] ?? 0)];
  if (oh > 14 || om > 59) return null;
  const utc = new Date(local.getTime() - (m[8] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000);
  if (utc.getUTCFullYear() < 1970 || utc.getUTCFullYear() > 9999) return null;
  return `${utc.toISOString().slice(0, 19)}.${fraction}Z`;
}

/**
 * The resume cursor of a line: opaque to clients (pass it back as `after=` unchanged), in fact
 * base64url of `<occurred_at with microseconds>|<id>`, the export's keyset. `occurredAt` alone
 * cannot resume: it has milliseconds, and events may share one.
 */
export function exportCursor(at: string, id: string): string {
  return Buffer.from(`${at}|${id}`).toString('base64url');
}

function parseCursor(value: string): { at: string; id: string } | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) return null;
  const [at, id, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || !at || !id || !UUID.test(id) || canonicalInstant(at) !== at) return null;
  return { at, id };
}

export function parseExportParams(url: URL): ExportParams {
  for (const name of new Set(url.searchParams.keys())) {
    if (!PARAMETERS.includes(name)) throw badUserInput(name, 'is not a parameter of the export (from, to, order, after)');
    if (url.searchParams.getAll(name).length > 1) throw badUserInput(name, 'is given more than once');
  }
  const time = (name: 'from' | 'to'): string | null => {
    const value = url.searchParams.get(name);
    if (value === null || value === '') return null;
    const instant = canonicalInstant(value);
    if (instant === null) {
      throw badUserInput(
        name,
        'must be an ISO 8601 date (midnight UTC) or date and time with a zone, years 1970 to 9999 (2026-01-31T00:00:00Z)',
      );
    }
    return instant;
  };
  const from = time('from');
  const to = time('to');
  // Same fixed-width format: text order is time order.
  if (from && to && from > to) throw badUserInput('from', 'must not be after to');
  const order = url.searchParams.get('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw badUserInput('order', 'must be asc or desc');
  const cursor = url.searchParams.get('after');
  let after: ExportParams['after'] = null;
  if (cursor !== null && cursor !== '') {
    after = parseCursor(cursor);
    if (!after) throw badUserInput('after', 'must be the cursor of a line of an earlier export, unchanged');
  }
  return { from: from ?? '-infinity', to: to ?? 'infinity', order, after };
}

interface ExportRow {
  seq: string;
  id: string;
  occurred_at: Date;
  at_key: string;
  actor_type: string;
  actor_user_id: string | null;
  actor_principal_id: string | null;
  actor_name: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  customer_id: string | null;
  request_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  details: unknown;
}

/** As the GraphQL AuditEvent answers (enums in their GraphQL spelling), plus `seq` and the resume `cursor`. */
function line(r: ExportRow): string {
  return (
    JSON.stringify({
      id: r.id,
      seq: r.seq,
      occurredAt: r.occurred_at.toISOString(),
      actor: {
        type: r.actor_type.toUpperCase(),
        name: r.actor_name ?? 'system',
        userId: r.actor_user_id,
        servicePrincipalId: r.actor_principal_id,
      },
      action: r.action,
      resourceType: r.resource_type,
      resourceId: r.resource_id,
      outcome: r.outcome.toUpperCase(),
      customerId: r.customer_id,
      requestId: r.request_id,
      clientIp: r.client_ip,
      userAgent: r.user_agent,
      details: r.details,
      cursor: exportCursor(r.at_key, r.id),
    }) + '\n'
  );
}

function batchSql(order: 'asc' | 'desc', after: boolean): string {
  const cmp = order === 'asc' ? '>' : '<';
  return `select a.seq::text as seq, a.id, a.occurred_at,
      to_char(a.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at_key,
      a.actor_type, a.actor_user_id, a.actor_principal_id, a.actor_name, a.action, a.resource_type, a.resource_id,
      a.outcome, a.customer_id, a.request_id, host(a.client_ip) as client_ip, a.user_agent, a.details
    from audit_events a
    where a.occurred_at >= $1::timestamptz and a.occurred_at < $2::timestamptz
      ${after ? `and (a.occurred_at, a.id) ${cmp} ($4::timestamptz, $5::uuid)` : ''}
    order by a.occurred_at ${order}, a.id ${order}
    limit $3`;
}

/**
 * Exports running on this replica: at most `total` (one export-pool client each, so the pool
 * never queues) and `perOrganization` per organization (one tenant cannot take every slot).
 * Slots are taken before the first byte and given back exactly once when the export ends,
 * whatever ends it (done, failed, client gone, pull timeout).
 */
export class ExportSlots {
  private running = 0;
  private readonly byOrg = new Map<string, number>();

  constructor(
    readonly total: number,
    readonly perOrganization: number,
  ) {}

  /** A release function, or why not: 'organization' (429) or 'total' (503). */
  acquire(orgId: string): (() => void) | 'organization' | 'total' {
    const own = this.byOrg.get(orgId) ?? 0;
    if (own >= this.perOrganization) return 'organization';
    if (this.running >= this.total) return 'total';
    this.running++;
    this.byOrg.set(orgId, own + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byOrg.get(orgId) ?? 1) - 1;
      if (left > 0) this.byOrg.set(orgId, left);
      else this.byOrg.delete(orgId);
    };
  }

  get inProgress(): number {
    return this.running;
  }
}

export interface ExportMetrics {
  rows(count: number): void;
  bytes(count: number): void;
  refused(reason: 'organization' | 'total'): void;
  ended(how: 'complete' | 'failed' | 'cancelled' | 'pull_timeout'): void;
}

export interface AuditExportOptions {
  /** The request pool: the sign-in's bookkeeping and the export's own audit record. */
  pool: pg.Pool;
  /** The export's own small pool (createBackgroundPool): a paused reader never holds a request client. */
  exportPool: pg.Pool;
  slots: ExportSlots;
  /** An export whose client takes nothing for this long is ended (see AUDIT_EXPORT_PULL_TIMEOUT). */
  pullTimeoutMs: number;
  logger: Logger;
  createContext: ContextFactory;
  rateLimits: RateLimitOptions;
  metrics?: ExportMetrics;
}

/** Seconds a refused export is told to wait: exports are long; a short pause, then try again. */
const RETRY_AFTER_SECONDS = 30;

export function useAuditExport(options: AuditExportOptions): Plugin {
  return {
    // Not async: every other request passes through here, and should not pay for a promise.
    onRequest({ request, url, serverContext, endResponse }) {
      if (url.pathname !== AUDIT_EXPORT_PATH) return;
      return exportAuditTrail(options, request, url, serverContext as ServerContext).then(endResponse);
    },
  };
}

async function exportAuditTrail(
  options: AuditExportOptions,
  request: Request,
  url: URL,
  server: ServerContext,
): Promise<Response> {
  const { pool, logger } = options;
  if (request.method !== 'GET') {
    return errorResponse(
      new GraphQLError('Use GET.', {
        extensions: { code: ErrorCode.BAD_REQUEST, http: { status: 405, headers: { allow: 'GET' } } },
      }),
      logger,
    );
  }
  let ctx: Context;
  try {
    ctx = await options.createContext({ ...server, request } as YogaInitialContext & ServerContext);
  } catch (error) {
    return errorResponse(error, logger);
  }
  const action = { action: 'audit_log.export', resourceType: 'audit_log' };
  let releaseSlot: (() => void) | undefined;
  try {
    if (ctx.caller.kind === 'anonymous') throw unauthenticated('Sign in to export the audit log.');
    if (!ctx.principal) throw forbidden('Name the organization to export (X-Organization-Id).', { http: { status: 403 } });
    const permitted = heldPermissions(ctx).has('audit_log.read');
    await limitRouteCall(options.rateLimits, ctx, 'auditExport', permitted);
    if (!permitted) {
      ctx.audit.defer('denied', ctx.principal.orgId, { ...action, details: { permission: 'audit_log.read' } });
      throw forbidden('You do not have permission to do this.', { permission: 'audit_log.read', http: { status: 403 } });
    }
    const params = parseExportParams(url);
    const slot = options.slots.acquire(ctx.principal.orgId);
    if (slot === 'organization' || slot === 'total') {
      options.metrics?.refused(slot);
      throw slot === 'organization'
        ? gatewayError(
            ErrorCode.RATE_LIMITED,
            `This organization already has ${options.slots.perOrganization} export(s) running; try again when one ends.`,
            { reason: 'EXPORTS_PER_ORGANIZATION', retryAfterSeconds: RETRY_AFTER_SECONDS },
            { status: 429, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } },
          )
        : gatewayError(
            ErrorCode.SERVICE_UNAVAILABLE,
            'Too many audit exports are running; try again shortly.',
            { reason: 'EXPORTS_TOTAL', retryAfterSeconds: RETRY_AFTER_SECONDS },
            { status: 503, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } },
          );
    }
    releaseSlot = slot;
    // The context's transaction carried the sign-in bookkeeping: commit it, then export in a
    // read-only one of its own under the same binding, on the export pool.
    if ((await ctx.db.finish()) === 'committed') ctx.afterCommit?.();
    const binding = ctx.db.currentBinding;
    let client: pg.PoolClient;
    try {
      client = await options.exportPool.connect();
    } catch (error) {
      ctx.logger.warn({ err: error }, 'audit export: no export connection');
      throw serviceUnavailable('The export could not start; try again shortly.', 5);
    }
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      await client.query(`begin isolation level repeatable read read only; ${bindingSql(binding)}`);
    } catch (error) {
      client.removeListener('error', onError);
      client.on('error', () => {});
      client.release(error as Error);
      throw error;
    }
    const release = (error?: Error) => {
      // Pooled clients are reused: leave no listener behind (a destroyed one keeps a quiet one).
      client.removeListener('error', onError);
      if (error) client.on('error', () => {});
      client.release(error);
    };
    const body = streamRows(options, ctx, client, release, slot, params, () => broken);
    releaseSlot = undefined; // the stream owns it now
    return new Response(body, {
      status: 200,
      headers: {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'cache-control': 'no-store',
        'content-disposition': 'inline; filename="audit-export.ndjson"',
      },
    });
  } catch (error) {
    releaseSlot?.();
    await ctx.db.abandon();
    await ctx.audit.flush(pool, ctx.db.currentBinding);
    return errorResponse(error, ctx.logger);
  }
}

function streamRows(
  options: AuditExportOptions,
  ctx: Context,
  client: pg.PoolClient,
  release: (error?: Error) => void,
  releaseSlot: () => void,
  params: ExportParams,
  broken: () => Error | undefined,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after = params.after;
  let sent = 0;
  let ended = false;
  let ending: Promise<void> = Promise.resolve();
  let idle: NodeJS.Timeout | undefined;
  // Runs once, whatever ends the export first; later callers wait for that same ending.
  const end = (how: 'complete' | 'failed' | 'cancelled' | 'pull_timeout'): Promise<void> => {
    if (ended) return ending;
    ended = true;
    clearTimeout(idle);
    ending = finish(how);
    return ending;
  };
  const finish = async (how: 'complete' | 'failed' | 'cancelled' | 'pull_timeout') => {
    try {
      await client.query(how === 'complete' ? 'commit' : 'rollback');
      release(broken());
    } catch (error) {
      release(error as Error);
    }
    releaseSlot();
    options.metrics?.ended(how);
    ctx.audit.recordAfter(ctx.principal!.orgId, {
      action: 'audit_log.export',
      resourceType: 'audit_log',
      details: {
        from: params.from,
        to: params.to,
        order: params.order,
        ...(params.after ? { after: exportCursor(params.after.at, params.after.id) } : {}),
        events: sent,
        complete: how === 'complete',
        ...(how === 'complete' ? {} : { ended: how }),
      },
    });
    await ctx.audit.flush(options.pool, ctx.db.currentBinding);
  };
  /** The last line of an export that stopped early: where to resume (null: from the start). */
  const stopLine = (message: string) => {
    const resumeAfter = after ? exportCursor(after.at, after.id) : null;
    return encoder.encode(
      JSON.stringify({
        error: {
          code: ErrorCode.SERVICE_UNAVAILABLE,
          message: `${message} Resume: repeat the request with the same from, to and order${resumeAfter ? ' and after=<resumeAfter>' : ''}.`,
          resumeAfter,
          events: sent,
        },
      }) + '\n',
    );
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        clearTimeout(idle);
        // Ended by the pull timeout just as the client read again: wait until its last line is
        // queued and the stream closed (returning at once would have the stream call pull in
        // a loop of microtasks, starving the I/O the ending waits for).
        if (ended) return ending;
        try {
          const values: unknown[] = [params.from, params.to, EXPORT_BATCH];
          if (after) values.push(after.at, after.id);
          const { rows } = await client.query<ExportRow>(batchSql(params.order, after !== null), values);
          if (ended) return ending; // cancelled meanwhile
          if (rows.length === 0) {
            await end('complete');
            controller.close();
            return;
          }
          const last = rows.at(-1)!;
          after = { at: last.at_key, id: last.id };
          sent += rows.length;
          const chunk = encoder.encode(rows.map(line).join(''));
          options.metrics?.rows(rows.length);
          options.metrics?.bytes(chunk.byteLength);
          controller.enqueue(chunk);
          // A client that stops taking lines must not keep a slot and a connection (its
          // transaction open) forever: end the export cleanly after the pull timeout. The line
          // says where to resume; the client reads it whenever it reads again.
          idle = setTimeout(() => {
            void end('pull_timeout').finally(() => {
              ctx.logger.info({ sent }, 'audit export ended: the client took nothing for the pull timeout');
              try {
                controller.enqueue(stopLine('The export was ended: nothing was read for too long.'));
                controller.close();
              } catch {
                // cancelled meanwhile: nobody to tell
              }
            });
          }, options.pullTimeoutMs);
          idle.unref?.();
        } catch (error) {
          if (ended) return ending;
          ctx.logger.error({ err: error, sent }, 'audit export stopped');
          await end('failed');
          try {
            controller.enqueue(stopLine('The export stopped.'));
            controller.close();
          } catch {
            // cancelled meanwhile: nobody to tell
          }
        }
      },
      async cancel() {
        await end('cancelled'); // the client went away: roll back, give the connection back
      },
    },
    { highWaterMark: 1 },
  );
}
