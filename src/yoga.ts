/**
 * Builds the gateway (a Yoga server) from its services; binding a port is main.ts's job, so tests
 * call `yoga.fetch(...)` in-process or serve it on an ephemeral port.
 *
 * The plugin order is the request's way through the gateway (ARCHITECTURE.md §4):
 *   request id, JSON-only bodies within the size limit, GraphiQL assets → parse + validate with
 *   operation limits (armor), introspection policy → context: verify the token (JWT), resolve
 *   the principal, bind the PostgreSQL variables (src/context.ts; refused sign-ins and headers
 *   count against the client IP) → permissions decide, then rate limits count (src/ratelimit/rate-limit.ts)
 *   → input PostgreSQL cannot store refused → Idempotency-Key claimed (or replayed) in the
 *   request transaction → execute with scope-auth on every field, DB work in one request
 *   transaction → commit, then deferred audit events → response.
 */
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import type { Store } from '@envelop/rate-limiter';
import type { GraphQLError, ValidationContext } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { createContextFactory, type Context, type GatewayServices, type ServerContext } from './context.js';
import { useIdempotencyKeys } from './db/idempotency.js';
import { useRequestTransaction } from './db/request-transaction-plugin.js';
import { corsPolicy } from './http/cors.js';
import { graphiqlOptions, renderOfflineGraphiQL, useOfflineGraphiQLAssets } from './http/graphiql.js';
import { useIntrospectionPolicy } from './http/introspection.js';
import { maskUnexpectedError, useStableErrorCodes, useUnexpectedErrorLogging } from './http/error-codes.js';
import { useMetricsEndpoint } from './http/metrics-endpoint.js';
import { ExportSlots, useAuditExport } from './http/audit-export.js';
import { useReadinessEndpoint } from './http/readiness.js';
import { useRequestBodyPolicy } from './http/request-body.js';
import { useRequestId } from './http/request-id.js';
import { useRequestObservation } from './http/request-log.js';
import { useStorableInput } from './http/storable-input.js';
import { useTrustedDocuments } from './http/trusted-documents.js';
import type { Tracing } from './observability/tracing.js';
import { limitRefusedRequests, useRateLimits } from './ratelimit/rate-limit.js';
import { schema } from './schema/index.js';

export const OPERATION_LIMITS = {
  // Relay lists nest quickly: workflows → edges → node → deployments → deployedBy → name is 6.
  maxDepth: 12,
  maxAliases: 15,
  maxTokens: 2000,
  maxCost: 5000,
  maxDirectives: 50,
};

export type Gateway = YogaServerInstance<ServerContext, Context>;

export interface Readiness {
  /** Must answer within a second whatever the request pool is doing (see createReadinessProbe). */
  ready(): Promise<{ ok: boolean; body: Record<string, unknown> }>;
}

export interface ObservabilityOptions {
  tracing?: Tracing;
  /** Answer /metrics on this server (see http/metrics-endpoint.ts for when). */
  metricsOnApiPort?: boolean;
}

export function createGateway(
  services: GatewayServices,
  rateLimitStore: Store,
  readiness?: Readiness,
  observability: ObservabilityOptions = {},
): Gateway {
  const { metrics } = services;
  const { tracing } = observability;
  const { config, logger, pool } = services;
  // Armor's rules throw out of validation by default (HTTP 200, no code); reporting through the
  // validation context makes them ordinary validation errors: HTTP 400 with a stable code.
  const reject = {
    propagateOnRejection: false,
    onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)],
  };
  const rateLimits = {
    windowMs: config.RATE_LIMIT_WINDOW,
    userMax: config.RATE_LIMIT_USER_MAX,
    orgMax: config.RATE_LIMIT_ORG_MAX,
    ipMax: config.RATE_LIMIT_IP_MAX,
    store: rateLimitStore,
  };
  const armor = new EnvelopArmor({
    maxDepth: { n: OPERATION_LIMITS.maxDepth, exposeLimits: true, ...reject },
    maxAliases: { n: OPERATION_LIMITS.maxAliases, exposeLimits: true, ...reject },
    maxTokens: { n: OPERATION_LIMITS.maxTokens, exposeLimits: true },
    costLimit: { maxCost: OPERATION_LIMITS.maxCost, exposeLimits: true, ...reject },
    maxDirectives: { n: OPERATION_LIMITS.maxDirectives, exposeLimits: true, ...reject },
    // "Did you mean …?" names fields: hidden whenever introspection is (production's default).
    blockFieldSuggestion: { enabled: !config.INTROSPECTION },
  });

  const createContext = limitRefusedRequests(createContextFactory(services), { ...rateLimits, trustProxy: config.TRUST_PROXY });

  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    batching: false,
    // Operations arrive as JSON only (src/http/request-body.ts, which also owns the body limit).
    multipart: false,
    maxRequestBodySize: false,
    // Trusted documents are sent as { documentId, variables } (src/http/trusted-documents.ts).
    extraParamNames: ['documentId'],
    logging: {
      debug: (...args) => logger.debug({ yoga: args.map(String) }, 'yoga'),
      info: (...args) => logger.info({ yoga: args.map(String) }, 'yoga'),
      warn: (...args) => logger.warn({ yoga: args.map(String) }, 'yoga'),
      error: (...args) => logger.error({ yoga: args.map(String) }, 'yoga'),
    },
    maskedErrors: { isDev: false, maskError: maskUnexpectedError(logger), errorMessage: 'Unexpected error.' },
    cors: corsPolicy(config.CORS_ORIGINS),
    graphiql: config.GRAPHIQL ? graphiqlOptions() : false,
    renderGraphiQL: renderOfflineGraphiQL,
    context: createContext,
    plugins: [
      useRequestId(),
      ...(tracing ? tracing.plugins() : []),
      ...(metrics && observability.metricsOnApiPort ? [useMetricsEndpoint(metrics, config.METRICS_TOKEN)] : []),
      useRequestObservation(logger, metrics),
      // GET /audit/export: NDJSON for SIEMs, same authentication and budgets (src/http/audit-export.ts).
      useAuditExport({
        pool,
        exportPool: services.exportPool ?? pool,
        slots: new ExportSlots(config.AUDIT_EXPORT_POOL_MAX, config.AUDIT_EXPORT_PER_ORGANIZATION),
        pullTimeoutMs: config.AUDIT_EXPORT_PULL_TIMEOUT,
        logger,
        createContext,
        rateLimits,
        metrics: metrics?.auditExport,
      }),
      useRequestBodyPolicy(config.MAX_REQUEST_BYTES),
      ...(config.GRAPHIQL ? [useOfflineGraphiQLAssets()] : []),
      useIntrospectionPolicy(config.INTROSPECTION),
      useReadinessEndpoint(pool, readiness),
      ...useTrustedDocuments(config.TRUSTED_DOCUMENTS, config.TRUSTED_DOCUMENTS_MANIFEST),
      ...(armor.protect().plugins as Plugin[]),
      useStableErrorCodes(),
      useRateLimits(rateLimits),
      useStorableInput(),
      useUnexpectedErrorLogging(),
      // Before the request transaction: its result is stored just before that commits.
      useIdempotencyKeys(config.IDEMPOTENCY_KEY_TTL),
      useRequestTransaction(pool),
    ],
  });
}
