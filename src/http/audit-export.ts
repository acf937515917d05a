/**
 * GET /audit/export?from=…&to=…&order=asc|desc — the audit trail of a time range as NDJSON (one
 * event per line, the fields of the GraphQL `AuditEvent` plus its `seq`), for SIEMs.
 *
 *  - Same authentication as GraphQL (bearer JWT or API key, X-Organization-Id), built by the same
 *    context factory: refused sign-ins and headers answer 401/403 and count against the client IP.
 *  - Requires `audit_log.read`; counted like a root field (`auditExport`) against the caller's and
 *    the organization's budgets. A refusal is audited as denied (`audit_log.export`), like every
 *    denied read; a finished export is audited as a success with its range and count, because it
 *    copies the organization's whole trail out of the gateway (DESIGN.md §6 audits denied reads;
 *    this bulk read is audited either way).
 *  - Constant memory: keyset batches of EXPORT_BATCH rows inside ONE read-only REPEATABLE READ
 *    transaction bound like the request (RLS: the caller's organization only, one snapshot for the
 *    whole export), fetched only when the client has taken the previous batch (a pull stream:
 *    the node adapter waits for 'drain', so a slow reader slows the queries, never the heap).
 *  - Errors before the first byte are JSON `{ errors: [{ message, extensions: { code } }] }` with
 *    401/403/400/429/503; a failure mid-stream ends the body with one `{"error":{…}}` line.
 */
import { GraphQLError } from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import type pg from 'pg';
import type { Context, ServerContext } from '../context.js';
import { heldPermissions } from '../authz/scopes.js';
import { bindingSql } from '../db/request-database.js';
import { ErrorCode, badUserInput, errorCodeOf, forbidden, unauthenticated } from '../errors.js';
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

function errorResponse(error: unknown, logger: Logger): Response {
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
  from: string;
  to: string;
  order: 'asc' | 'desc';
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

export function parseExportParams(url: URL): ExportParams {
  const time = (name: 'from' | 'to'): string | null => {
    const value = url.searchParams.get(name);
    if (value === null || value === '') return null;
    const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
    const calendar = new Date(Date.UTC(y, m - 1, d));
    // Date.parse accepts 2026-02-31 and year 0; PostgreSQL does not: refuse them here (a 400, not a
    // failed stream). A date alone means midnight UTC, in SQL too.
    if (
      !ISO.test(value) ||
      Number.isNaN(Date.parse(value)) ||
      y < 1 ||
      calendar.getUTCFullYear() !== y ||
      calendar.getUTCMonth() !== m - 1 ||
      calendar.getUTCDate() !== d
    ) {
      throw badUserInput(name, 'must be an ISO 8601 date or time with a zone (2026-01-31T00:00:00Z)');
    }
    return value.length === 10 ? `${value}T00:00:00Z` : value;
  };
  const from = time('from');
  const to = time('to');
  if (from && to && Date.parse(from) > Date.parse(to)) throw badUserInput('from', 'must not be after to');
  const order = url.searchParams.get('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw badUserInput('order', 'must be asc or desc');
  for (const name of url.searchParams.keys()) {
    if (!['from', 'to', 'order'].includes(name)) throw badUserInput(name, 'is not a parameter of the export (from, to, order)');
  }
  return { from: from ?? '-infinity', to: to ?? 'infinity', order };
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

/** As the GraphQL AuditEvent answers (enums in their GraphQL spelling), plus `seq`. */
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

export interface AuditExportOptions {
  pool: pg.Pool;
  logger: Logger;
  createContext: ContextFactory;
  rateLimits: RateLimitOptions;
  /** Exports in progress and rows sent (metrics), if wanted. */
  onRows?: (rows: number) => void;
}

export function useAuditExport(options: AuditExportOptions): Plugin {
  return {
    async onRequest({ request, url, serverContext, endResponse }) {
      if (url.pathname !== AUDIT_EXPORT_PATH) return;
      endResponse(await exportAuditTrail(options, request, url, serverContext as ServerContext));
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
    // The context's transaction carried the sign-in bookkeeping: commit it, then export in a
    // read-only one of its own under the same binding.
    if ((await ctx.db.finish()) === 'committed') ctx.afterCommit?.();
    const binding = ctx.db.currentBinding;
    const client = await pool.connect();
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
    return new Response(
      streamRows(options, ctx, client, release, params, () => broken),
      {
        status: 200,
        headers: {
          'content-type': 'application/x-ndjson; charset=utf-8',
          'cache-control': 'no-store',
          'content-disposition': 'inline; filename="audit-export.ndjson"',
        },
      },
    );
  } catch (error) {
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
  params: ExportParams,
  broken: () => Error | undefined,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after: { at: string; id: string } | null = null;
  let sent = 0;
  let ended = false;
  const end = async (complete: boolean) => {
    if (ended) return;
    ended = true;
    try {
      await client.query(complete ? 'commit' : 'rollback');
      release(broken());
    } catch (error) {
      release(error as Error);
    }
    ctx.audit.recordAfter(ctx.principal!.orgId, {
      action: 'audit_log.export',
      resourceType: 'audit_log',
      details: { from: params.from, to: params.to, order: params.order, events: sent, complete },
    });
    await ctx.audit.flush(options.pool, ctx.db.currentBinding);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const values: unknown[] = [params.from, params.to, EXPORT_BATCH];
          if (after) values.push(after.at, after.id);
          const { rows } = await client.query<ExportRow>(batchSql(params.order, after !== null), values);
          if (rows.length === 0) {
            await end(true);
            controller.close();
            return;
          }
          const last = rows.at(-1)!;
          after = { at: last.at_key, id: last.id };
          sent += rows.length;
          options.onRows?.(rows.length);
          controller.enqueue(encoder.encode(rows.map(line).join('')));
        } catch (error) {
          ctx.logger.error({ err: error, sent }, 'audit export stopped');
          await end(false);
          controller.enqueue(
            encoder.encode(
              JSON.stringify({
                error: { code: ErrorCode.SERVICE_UNAVAILABLE, message: 'The export stopped; resume after the last line.' },
              }) + '\n',
            ),
          );
          controller.close();
        }
      },
      async cancel() {
        await end(false); // the client went away: roll back, give the connection back
      },
    },
    { highWaterMark: 1 },
  );
}
