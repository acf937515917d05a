/**
 * What every request leaves behind: one log line and its metrics. The line carries the request
 * id, method, path, HTTP status, duration and, for GraphQL, the operation's name and type, the
 * caller (user id), the organization it acted in, and the outcome code — `OK`, or the first
 * error's stable code (FORBIDDEN, RATE_LIMITED, UNAUTHENTICATED, …). No bodies, no variables,
 * no tokens.
 */
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { requestIds, type Context } from '../context.js';
import type { Logger } from '../logger.js';
import { operationLabel, type GatewayMetrics } from '../observability/metrics.js';

interface RequestFacts {
  started: number;
  path: string;
  graphql: boolean;
  operationName?: string | null;
  operationType?: string;
  userId?: string;
  orgId?: string;
  customerId?: string;
  outcome?: string;
  /** Seconds spent building the context (token, principal, opening the transaction) and executing. */
  contextSeconds?: number;
  executeSeconds?: number;
}

const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

function outcomeOf(result: unknown, status: number): string {
  const first = Array.isArray(result) ? result[0] : result;
  const errors = (first as ExecutionResult | undefined)?.errors;
  if (errors?.length) {
    const code = errors[0]?.extensions?.code;
    return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
  }
  return status >= 400 ? `HTTP_${status}` : 'OK';
}

export function useRequestObservation(logger: Logger, metrics: GatewayMetrics | undefined): Plugin {
  const facts = new WeakMap<Request, RequestFacts>();
  const noteDocument = (request: Request, document: DocumentNode, operationName: string | null | undefined) => {
    const f = facts.get(request);
    if (!f) return;
    const operation = getOperationAST(document, operationName ?? undefined);
    f.operationType = operation?.operation ?? 'unknown';
    f.operationName = operation?.name?.value ?? operationName ?? null;
  };
  return {
    onRequest({ request, url }) {
      facts.set(request, { started: performance.now(), path: url.pathname, graphql: false });
    },
    onParams({ request, params }) {
      const f = facts.get(request);
      if (!f) return;
      f.graphql = true;
      f.operationName = params.operationName ?? null;
    },
    onValidate({ params, context }) {
      const request = (context as { request?: Request }).request;
      if (request) noteDocument(request, params.documentAST, facts.get(request)?.operationName);
    },
    onContextBuilding({ context }) {
      const f = facts.get((context as { request: Request }).request);
      if (!f) return;
      const started = performance.now();
      return () => {
        f.contextSeconds = (performance.now() - started) / 1000;
      };
    },
    onExecute({ args }) {
      const ctx = args.contextValue as unknown as Context & { request: Request };
      const f = facts.get(ctx.request);
      if (!f) return;
      if (ctx.caller?.kind === 'user') f.userId = ctx.caller.userId;
      if (ctx.principal) f.orgId = ctx.principal.orgId;
      if (ctx.confinedToCustomer) f.customerId = ctx.confinedToCustomer;
      const started = performance.now();
      return {
        onExecuteDone() {
          f.executeSeconds = (performance.now() - started) / 1000;
        },
      };
    },
    onResultProcess({ request, result }) {
      const f = facts.get(request);
      if (f) f.outcome = outcomeOf(result, 200);
    },
    onResponse({ request, response }) {
      const f = facts.get(request);
      if (!f || QUIET_PATHS.has(f.path)) return;
      const { path } = f;
      const seconds = (performance.now() - f.started) / 1000;
      const outcome = f.graphql ? (f.outcome ?? outcomeOf(undefined, response.status)) : undefined;
      if (f.graphql && metrics) {
        const operationType = f.operationType ?? 'unknown';
        metrics.requests.inc({
          operation_name: operationLabel(f.operationName),
          operation_type: operationType,
          outcome: outcome!,
        });
        metrics.requestDuration.observe({ operation_type: operationType, outcome: outcome! }, seconds);
        if (f.contextSeconds !== undefined)
          metrics.phaseDuration.observe({ phase: 'context', operation_type: operationType }, f.contextSeconds);
        if (f.executeSeconds !== undefined)
          metrics.phaseDuration.observe({ phase: 'execute', operation_type: operationType }, f.executeSeconds);
        if (outcome === 'RATE_LIMITED') metrics.rateLimitRejections.inc({ operation_name: operationLabel(f.operationName) });
      }
      logger.info(
        {
          requestId: requestIds.get(request),
          method: request.method,
          path,
          status: response.status,
          durationMs: Math.round(seconds * 10_000) / 10,
          ...(f.graphql
            ? {
                operationName: f.operationName ?? null,
                operationType: f.operationType ?? 'unknown',
                userId: f.userId ?? null,
                orgId: f.orgId ?? null,
                ...(f.customerId ? { customerId: f.customerId } : {}),
                outcome,
              }
            : {}),
        },
        'request',
      );
    },
  };
}
