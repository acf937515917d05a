/**
 * OpenTelemetry traces, on when OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test passes an
 * exporter). A request's trace:
 *
 *   HTTP POST /graphql            one per request, with gateway.request_id       (here)
 *   └ mutation.CreateWorkflow     one per operation                              (@envelop/opentelemetry)
 *     ├ Mutation.createWorkflow   one per resolver that sent SQL, started lazily (here)
 *     │ └ sql select              one per statement                              (here, the pool's client)
 *     └ sql commit
 *
 * Resolvers that never touch the database get no span (a list of 50 items is not 300 spans).
 * Span attributes never carry variables, arguments or SQL parameters: statements are recorded
 * with their placeholders, and documents only when they have no inline arguments.
 */
import type http from 'node:http';
import { useOnResolve } from '@envelop/on-resolve';
import { getCurrentOtelContext, useOpenTelemetry } from '@envelop/opentelemetry';
import {
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  trace,
  type Context as OtelContext,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Plugin } from 'graphql-yoga';
import pg from 'pg';
import { requestIds } from '../context.js';

export const REQUEST_ID_ATTRIBUTE = 'gateway.request_id';

/** Per request: its id, known once the request-id plugin has run. */
const REQUEST_KEY = createContextKey('gateway.request');
/** Per resolver call: its name and its span, created at its first SQL statement. */
const RESOLVER_KEY = createContextKey('gateway.resolver');

interface RequestHolder {
  requestId?: string;
}
interface ResolverHolder {
  name: string;
  parent: OtelContext;
  span?: Span;
}

export interface Tracing {
  readonly tracer: Tracer;
  /** Serves one HTTP request inside its span. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, serve: () => unknown): unknown;
  /** Operation and resolver spans (put early in the plugin list). */
  plugins(): Plugin[];
  /** A pg client class whose statements are spans (for the request pool). */
  readonly clientClass: typeof pg.Client;
  shutdown(): Promise<void>;
}

let contextManagerInstalled = false;

/** Context must follow async work: one AsyncLocalStorage manager for the process. */
function installContextManager(): void {
  if (contextManagerInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerInstalled = true;
}

export interface TracingOptions {
  exporter: SpanExporter;
  /** Batch spans before export (production); a test's in-memory exporter wants them at once. */
  batch: boolean;
  serviceName: string;
}

export async function otlpTracing(endpoint: string, serviceName: string): Promise<Tracing> {
  // Loaded only when asked for: most deployments that do not trace never pay for the exporter.
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const url = `${endpoint.replace(/\/$/, '')}/v1/traces`;
  return createTracing({ exporter: new OTLPTraceExporter({ url }), batch: true, serviceName });
}

function requestIdAttribute(ctx: OtelContext): Record<string, string> {
  const id = (ctx.getValue(REQUEST_KEY) as RequestHolder | undefined)?.requestId;
  return id ? { [REQUEST_ID_ATTRIBUTE]: id } : {};
}

function endSpan(span: Span, error?: unknown): void {
  if (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}

export function createTracing(options: TracingOptions): Tracing {
  installContextManager();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: [options.batch ? new BatchSpanProcessor(options.exporter) : new SimpleSpanProcessor(options.exporter)],
  });
  const tracer = provider.getTracer('control-plane-gateway');

  /** The span a statement belongs under: its resolver's (started now if this is its first), else the active one. */
  function statementParent(active: OtelContext): OtelContext | undefined {
    const resolver = active.getValue(RESOLVER_KEY) as ResolverHolder | undefined;
    if (resolver) {
      resolver.span ??= tracer.startSpan(
        resolver.name,
        { attributes: { 'graphql.field.path': resolver.name, ...requestIdAttribute(active) } },
        resolver.parent,
      );
      return trace.setSpan(active, resolver.span);
    }
    return trace.getSpan(active) ? active : undefined;
  }

  // pg's Client.query has many overloads; one untyped override covers them all.
  const BaseClient = pg.Client as unknown as new (...args: unknown[]) => { query(...args: unknown[]): unknown };
  class TracedClient extends BaseClient {
    override query(...args: unknown[]): unknown {
      const active = context.active();
      const parent = statementParent(active);
      if (!parent) return super.query(...args);
      const first = args[0] as string | { text?: string } | undefined;
      const text = typeof first === 'string' ? first : (first?.text ?? '');
      const verb = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase() ?? 'query';
      const span = tracer.startSpan(
        `sql ${verb}`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'db.system.name': 'postgresql', 'db.query.text': boundedQueryText(text), ...requestIdAttribute(active) },
        },
        parent,
      );
      const callbackAt = args.findIndex((a) => typeof a === 'function');
      if (callbackAt >= 0) {
        const callback = args[callbackAt] as (error: unknown, result: unknown) => void;
        args[callbackAt] = (error: unknown, result: unknown) => {
          endSpan(span, error);
          callback(error, result);
        };
        return super.query(...args);
      }
      const result = super.query(...args);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        return (result as Promise<unknown>).then(
          (value) => {
            endSpan(span);
            return value;
          },
          (error: unknown) => {
            endSpan(span, error);
            throw error;
          },
        );
      }
      endSpan(span);
      return result;
    }
  }

  return {
    tracer,
    clientClass: TracedClient as unknown as typeof pg.Client,
    handle(req, res, serve) {
      const path = (req.url ?? '/').split('?')[0]!;
      const span = tracer.startSpan(`HTTP ${req.method} ${path}`, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method ?? '', 'url.path': path },
      });
      const holder: RequestHolder = {};
      res.once('close', () => {
        if (holder.requestId) span.setAttribute(REQUEST_ID_ATTRIBUTE, holder.requestId);
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      const ctx = trace.setSpan(context.active(), span).setValue(REQUEST_KEY, holder);
      return context.with(ctx, serve);
    },
    plugins() {
      return [
        {
          // The request id is assigned by the request-id plugin (earlier in the list).
          onRequest({ request }) {
            const holder = context.active().getValue(REQUEST_KEY) as RequestHolder | undefined;
            if (holder) holder.requestId = requestIds.get(request);
          },
        },
        useOpenTelemetry(
          { resolvers: false, variables: false, result: false },
          provider,
          SpanKind.INTERNAL,
          {},
          options.serviceName,
        ) as Plugin,
        {
          onExecute({ args }) {
            // After useOpenTelemetry's onExecute: the operation span is current for this context.
            const operationContext = getCurrentOtelContext(args.contextValue);
            trace.getSpan(operationContext)?.setAttributes(requestIdAttribute(operationContext));
          },
        },
        useOnResolve(
          ({ info, replaceResolver, resolver }) => {
            const holder: ResolverHolder = { name: `${info.parentType.name}.${info.fieldName}`, parent: context.active() };
            replaceResolver((root, args, ctx, resolveInfo) =>
              context.with(context.active().setValue(RESOLVER_KEY, holder), () => resolver(root, args, ctx, resolveInfo)),
            );
            return ({ result }) => {
              if (holder.span) endSpan(holder.span, result instanceof Error ? result : undefined);
            };
          },
          { skipDefaultResolvers: true },
        ) as Plugin,
      ];
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}

/**
 * At most ~2,000 characters of a statement, keeping its head and its tail: a COMMIT carries the
 * request's deferred audit writes in front of it (`…; commit`), and the tail says what it was.
 */
function boundedQueryText(text: string): string {
  return text.length <= 2000 ? text : `${text.slice(0, 1200)} … ${text.slice(-790)}`;
}
