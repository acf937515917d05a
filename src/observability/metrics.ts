/**
 * Prometheus metrics, one registry per gateway (tests run several gateways in one process).
 * GraphQL requests are counted and timed by the gateway's request observation
 * (src/http/request-log.ts): by operation and outcome code, with the two phases that cost
 * something (building the context — token, principal, the transaction's first round trip — and
 * executing). Yoga's Prometheus plugin did the same and more (parse and validate, which Yoga
 * caches, and a second request histogram) for ~8 % of the gateway's CPU per request under load
 * (issue 10's profile), so it is not used. Besides: the pool, rate-limit rejections, audit
 * writes, JWKS fetches and the principal cache.
 *
 * Label values are bounded: operation names are taken only when they look like GraphQL names
 * (≤ 64 characters), outcome codes come from a fixed vocabulary.
 */
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ExportMetrics } from '../http/audit-export.js';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation_name' | 'operation_type' | 'outcome'>;
  readonly requestDuration: Histogram<'operation_type' | 'outcome'>;
  /** `context` (token, principal, opening the transaction) and `execute` (resolvers and their SQL). */
  readonly phaseDuration: Histogram<'phase' | 'operation_type'>;
  readonly rateLimitRejections: Counter<'operation_name'>;
  readonly auditEvents: Counter<'outcome' | 'result'>;
  readonly jwksFetches: Counter<'result'>;
  readonly principalCache: Counter<'result'>;
  /** GET /audit/export: rows and bytes sent, exports refused (concurrency caps) and how they ended. */
  readonly auditExport: ExportMetrics;
  /** Report the pool's clients at every scrape. */
  watchPool(pool: pg.Pool): void;
  /** Report how rate limits are counted (redis, local fallback, memory) at every scrape. */
  watchRateLimitStore(mode: () => string): void;
  /** The text exposition, as Prometheus scrapes it. */
  render(): Promise<{ contentType: string; body: string }>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** An operation name fit for a label: a GraphQL name, else a fixed stand-in. */
export function operationLabel(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  return NAME.test(name) ? name : 'invalid_name';
}

export function createMetrics(options: { processMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  const registers = [registry];

  const requests = new Counter({
    name: 'gateway_graphql_requests_total',
    help: 'GraphQL requests by operation and outcome (OK or the first error code, e.g. FORBIDDEN, RATE_LIMITED).',
    labelNames: ['operation_name', 'operation_type', 'outcome'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'gateway_graphql_request_duration_seconds',
    help: 'Time from receiving a GraphQL request to its response, by operation type and outcome.',
    labelNames: ['operation_type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const phaseDuration = new Histogram({
    name: 'gateway_graphql_phase_duration_seconds',
    help: 'Time in each phase of a GraphQL request: context (token, principal, opening the transaction) and execute (resolvers and their SQL), by operation type.',
    labelNames: ['phase', 'operation_type'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const rateLimitRejections = new Counter({
    name: 'gateway_rate_limit_rejections_total',
    help: 'Operations refused with RATE_LIMITED.',
    labelNames: ['operation_name'] as const,
    registers,
  });
  const auditEvents = new Counter({
    name: 'gateway_audit_events_total',
    help: 'Audit events by outcome (success, failure, denied) and whether they reached the database (written) or only the log (unwritten).',
    labelNames: ['outcome', 'result'] as const,
    registers,
  });
  const jwksFetches = new Counter({
    name: 'gateway_jwks_fetches_total',
    help: "Fetches of the issuer's signing keys, by result (ok, failed).",
    labelNames: ['result'] as const,
    registers,
  });
  const principalCache = new Counter({
    name: 'gateway_principal_cache_total',
    help: 'Principal lookups by result: hit (cached and current), miss (read from the database).',
    labelNames: ['result'] as const,
    registers,
  });

  const exportRows = new Counter({
    name: 'gateway_audit_export_rows_total',
    help: 'Audit events sent by GET /audit/export.',
    registers,
  });
  const exportBytes = new Counter({
    name: 'gateway_audit_export_bytes_total',
    help: 'NDJSON bytes sent by GET /audit/export.',
    registers,
  });
  const exportRefused = new Counter({
    name: 'gateway_audit_export_refused_total',
    help: 'Exports refused by a concurrency cap: organization (429, its own exports running) or total (503, this replica is full).',
    labelNames: ['reason'] as const,
    registers,
  });
  const exportEnded = new Counter({
    name: 'gateway_audit_exports_total',
    help: 'Exports that ran, by how they ended: complete, failed, cancelled (the client went away), pull_timeout.',
    labelNames: ['how'] as const,
    registers,
  });
  const auditExport: ExportMetrics = {
    rows: (n) => exportRows.inc(n),
    bytes: (n) => exportBytes.inc(n),
    refused: (reason) => exportRefused.inc({ reason }),
    ended: (how) => exportEnded.inc({ how }),
  };

  const pools: pg.Pool[] = [];
  new Gauge({
    name: 'gateway_db_pool_clients',
    help: 'Request pool clients by state: in_use, idle, and waiting (requests queued for a client).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.reset();
      for (const pool of pools) {
        this.inc({ state: 'in_use' }, pool.totalCount - pool.idleCount);
        this.inc({ state: 'idle' }, pool.idleCount);
        this.inc({ state: 'waiting' }, pool.waitingCount);
      }
    },
  });

  let rateLimitStoreMode: (() => string) | undefined;
  new Gauge({
    name: 'gateway_rate_limit_store',
    help: 'How rate limits are counted right now: 1 for the current mode (shared: Redis; local-fallback: this replica alone while Redis is away; memory: no Redis configured).',
    labelNames: ['mode'] as const,
    registers,
    collect() {
      this.reset();
      if (rateLimitStoreMode) this.set({ mode: rateLimitStoreMode() }, 1);
    },
  });

  return {
    registry,
    requests,
    requestDuration,
    phaseDuration,
    rateLimitRejections,
    auditEvents,
    jwksFetches,
    principalCache,
    auditExport,
    watchPool(pool) {
      pools.push(pool);
    },
    watchRateLimitStore(mode) {
      rateLimitStoreMode = mode;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
