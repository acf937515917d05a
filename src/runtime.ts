/**
 * Assembles a running gateway from configuration: database (embedded or DATABASE_URL), migrations,
 * identity provider (the development issuer or OIDC_ISSUER), rate-limit store (memory or Redis),
 * the Yoga server on node:http — and takes it all down again, gracefully. `npm start`, the
 * benchmark and the end-to-end tests all start the gateway this way.
 */
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type pg from 'pg';
import { MemberActivity } from './auth/activity.js';
import { KeyVerifier } from './auth/key-verifier.js';
import { Git } from './integrations/git.js';
import { CredentialCipher, loadOrCreateDevelopmentKey, parseKey } from './integrations/credentials.js';
import { LocalTokenRefresher, scheduleTokenRefresh } from './integrations/token-refresh.js';
import { PrincipalResolver } from './auth/principal.js';
import { DEV_AUDIENCE, startDevIssuer, type DevIssuer } from './auth/dev-issuer.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { ConfigError, devIssuerStateFile, embeddedPostgresDir, type Config } from './config.js';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from './db/bootstrap.js';
import { seedDemo } from './db/demo-seed.js';
import { attachToRunningPostgres, startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';
import { scheduleIdempotencyPurge } from './db/idempotency.js';
import { migrate, verifyMigrated } from './db/migrate.js';
import { detectIndexedSearch, setIndexedSearch } from './domain/pagination.js';
import { assertUnprivilegedRole, createBackgroundPool, createPool, createReadinessProbe } from './db/pool.js';
import { acquireLocalStateLock, currentHolder, type LocalStateLock } from './local-lock.js';
import type { Logger } from './logger.js';
import { FallbackStore, MemoryStore, RedisStore, type RateLimitStoreMode } from './ratelimit/stores.js';
import { createMetricsServer, metricsOnApiPort } from './http/metrics-endpoint.js';
import { createMetrics, type GatewayMetrics } from './observability/metrics.js';
import type { Tracing } from './observability/tracing.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createGateway, type Gateway } from './yoga.js';
import { isClosingBehindRefusedBody } from './http/request-body.js';
import { sealingKey, type SealingKey } from './audit/seal.js';
import { AuditSealer, scheduleAuditSealing } from './audit/sealer.js';

const EMBEDDED_DATABASE = 'gateway';

export interface RunningGateway {
  url: string;
  graphqlUrl: string;
  issuer: string;
  audience: string;
  devIssuer: DevIssuer | undefined;
  /** Where the data lives, for the start log: `embedded` or the server's host/database (no secrets). */
  database: string;
  /** The demo organization was seeded (its members can get tokens from the development issuer). */
  demoSeeded: boolean;
  /** Where Prometheus scrapes, if anywhere. */
  metricsUrl: string | undefined;
  metrics: GatewayMetrics;
  pool: pg.Pool;
  yoga: Gateway;
  /** The embedded cluster this gateway started, if any. */
  embedded: EmbeddedPostgres | undefined;
  /** How rate limits are counted right now (for `/ready` and a metrics gauge). */
  rateLimitStoreMode(): RateLimitStoreMode;
  /** Seals the audit trail (scheduled every AUDIT_SEAL_INTERVAL; tests run rounds by hand). */
  auditSealer: AuditSealer;
  sealingKey: SealingKey;
  /** True from the moment shutdown began. */
  readonly stopping: boolean;
  stop(): Promise<void>;
}

export interface DatabaseUrls {
  appUrl: string;
  ownerUrl: string | undefined;
  embedded: EmbeddedPostgres | undefined;
}

/** Role passwords for the embedded cluster, derived from its (random, local) superuser secret. */
export function derivedPassword(secret: string, role: string): string {
  return createHmac('sha256', secret).update(role).digest('base64url');
}

/**
 * The database to use: DATABASE_URL, or the checkout's embedded cluster. Whoever starts the
 * embedded cluster holds the data directory's lock (src/local-lock.ts) while it runs:
 *  - `whenInUse: 'refuse'` (the gateway): another live holder is an error naming it;
 *  - `whenInUse: 'attach'` (migrate, purge): connect to the cluster the holder is running and
 *    leave it running; take the lock and start it only when nobody holds it.
 */
export async function prepareDatabase(
  config: Config,
  logger: Logger,
  { whenInUse = 'attach' as 'refuse' | 'attach', lock }: { whenInUse?: 'refuse' | 'attach'; lock?: LocalStateLock } = {},
): Promise<DatabaseUrls> {
  if (config.DATABASE_URL) {
    return { appUrl: config.DATABASE_URL, ownerUrl: config.DATABASE_OWNER_URL, embedded: undefined };
  }
  if (config.DATABASE_OWNER_URL && whenInUse === 'refuse') {
    // The gateway never serves requests as the schema owner (it owns every table). Migration
    // tools need only the owner: see prepareOwnerDatabase.
    throw new ConfigError(['DATABASE_URL: is required when DATABASE_OWNER_URL is set (the gateway connects as gateway_app)']);
  }
  const dataDir = embeddedPostgresDir(config);
  let embedded: EmbeddedPostgres | undefined;
  let ownLock: LocalStateLock | undefined;
  const holder = lock ? undefined : currentHolder(config.DATA_DIR);
  if (holder && whenInUse === 'attach') {
    embedded = attachToRunningPostgres(dataDir);
    if (!embedded) {
      throw new Error(
        `The embedded PostgreSQL in ${dataDir} belongs to process ${holder.pid} (${holder.role}) but is not running; try again once it is up.`,
      );
    }
    logger.info({ holder: holder.pid, port: embedded.port }, 'using the embedded PostgreSQL of the running gateway');
  } else {
    ownLock = lock ?? acquireLocalStateLock(config.DATA_DIR, whenInUse === 'refuse' ? 'gateway' : 'maintenance');
    try {
      const started = await startEmbeddedPostgres({ dataDir, port: config.EMBEDDED_POSTGRES_PORT, logger });
      const release = ownLock === lock ? () => {} : ownLock.release;
      embedded = {
        port: started.port,
        pid: started.pid,
        superuserUrl: started.superuserUrl,
        async stop(mode) {
          await started.stop(mode);
          release();
        },
      };
    } catch (error) {
      if (ownLock !== lock) ownLock.release();
      throw error;
    }
  }
  const superuser = embedded.superuserUrl();
  const secret = new URL(superuser).password;
  const ownerPassword = derivedPassword(secret, OWNER_ROLE);
  const appPassword = derivedPassword(secret, APP_ROLE);
  await bootstrapDatabase({ superuserUrl: superuser, database: EMBEDDED_DATABASE, ownerPassword, appPassword });
  return {
    appUrl: withDatabase(superuser, EMBEDDED_DATABASE, { user: APP_ROLE, password: appPassword }),
    ownerUrl: withDatabase(superuser, EMBEDDED_DATABASE, { user: OWNER_ROLE, password: ownerPassword }),
    embedded,
  };
}

/**
 * For owner-only tools (`npm run migrate`, `npm run audit:purge`): DATABASE_OWNER_URL alone is
 * enough; with neither URL set, the embedded cluster (the running gateway's, or started for the
 * duration).
 */
export async function prepareOwnerDatabase(
  config: Config,
  logger: Logger,
): Promise<{ ownerUrl: string; embedded: EmbeddedPostgres | undefined }> {
  if (config.DATABASE_OWNER_URL) return { ownerUrl: config.DATABASE_OWNER_URL, embedded: undefined };
  if (config.DATABASE_URL) {
    throw new ConfigError(['DATABASE_OWNER_URL: is required to change a server database (the schema owner, gateway_owner)']);
  }
  const { ownerUrl, embedded } = await prepareDatabase(config, logger, { whenInUse: 'attach' });
  return { ownerUrl: ownerUrl!, embedded };
}

export interface StartOptions {
  /** Export spans here (tests: an in-memory exporter) instead of OTLP. */
  spanExporter?: SpanExporter;
}

export async function startGateway(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningGateway> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((error) => logger.warn({ err: error }, 'shutdown step failed'));
  };
  if (config.DATABASE_OWNER_URL && !config.DATABASE_URL) {
    throw new ConfigError(['DATABASE_URL: is required when DATABASE_OWNER_URL is set (the gateway connects as gateway_app)']);
  }
  try {
    // Local state (the embedded cluster, the development issuer's key) has one owner per
    // checkout: a second gateway on the same DATA_DIR refuses, naming the first.
    let lock: LocalStateLock | undefined;
    if (!config.DATABASE_URL || !config.OIDC_ISSUER) {
      lock = acquireLocalStateLock(config.DATA_DIR, 'gateway');
      cleanups.push(async () => lock!.release());
    }
    const { appUrl, ownerUrl, embedded } = await prepareDatabase(config, logger, { whenInUse: 'refuse', lock });
    if (embedded) cleanups.push(() => embedded.stop());
    if (ownerUrl) {
      const { applied } = await migrate(ownerUrl, logger);
      logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema up to date');
    }

    // OpenTelemetry is loaded only when traces go somewhere: its SDK and instrumentations cost
    // ~20–30 MB of resident memory in a gateway that exports nothing (issue 10's RSS target).
    let tracing: Tracing | undefined;
    if (options.spanExporter) {
      const { createTracing } = await import('./observability/tracing.js');
      tracing = createTracing({ exporter: options.spanExporter, batch: false, serviceName: config.OTEL_SERVICE_NAME });
    } else if (config.OTEL_EXPORTER_OTLP_ENDPOINT) {
      const { otlpTracing } = await import('./observability/tracing.js');
      tracing = await otlpTracing(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_SERVICE_NAME);
    }
    if (tracing) cleanups.push(() => tracing.shutdown());
    // Process metrics (CPU, memory, event-loop lag) start observers that live as long as the
    // process: one set per real gateway, none for the many gateways a test process starts.
    const metrics = createMetrics({ processMetrics: config.NODE_ENV !== 'test' });

    const pool = createPool(
      appUrl,
      {
        max: config.DATABASE_POOL_MAX,
        statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
        lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT,
        acquireTimeoutMs: config.DATABASE_POOL_TIMEOUT,
        clientClass: tracing?.clientClass,
      },
      logger,
    );
    cleanups.push(() => pool.end());
    metrics.watchPool(pool);
    // GET /audit/export holds a client for as long as its reader reads: its own small pool, so
    // paused exports never take the request pool's clients (the export caps its concurrency to
    // this size). Its transactions may idle up to the pull timeout (+ a margin) between batches.
    const exportPool = createBackgroundPool(
      appUrl,
      {
        name: 'export',
        max: config.AUDIT_EXPORT_POOL_MAX,
        statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
        lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT,
        idleInTransactionTimeoutMs: config.AUDIT_EXPORT_PULL_TIMEOUT + 10_000,
        clientClass: tracing?.clientClass,
      },
      logger,
    );
    cleanups.push(() => exportPool.end());
    const readiness = createReadinessProbe(appUrl, logger);
    cleanups.push(() => readiness.end());
    await assertUnprivilegedRole(pool);
    if (!ownerUrl) await verifyMigrated(pool);
    const indexedSearch = await detectIndexedSearch(pool);
    setIndexedSearch(indexedSearch);
    if (indexedSearch) logger.info('search: indexed (leakproof search operator and pg_trgm indexes)');
    else {
      logger.warn(
        'search: not indexed (run db:bootstrap as a PostgreSQL superuser, then restart): substring search reads until a page fills',
      );
    }

    let devIssuer: DevIssuer | undefined;
    if (!config.OIDC_ISSUER) {
      devIssuer = await startDevIssuer({ port: config.DEV_ISSUER_PORT, stateFile: devIssuerStateFile(config) });
      cleanups.push(() => devIssuer!.stop());
    }
    const issuer = config.OIDC_ISSUER ?? devIssuer!.issuer;
    const audience = config.OIDC_AUDIENCE ?? DEV_AUDIENCE;

    const cipher = new CredentialCipher(
      config.CREDENTIALS_ENCRYPTION_KEY
        ? parseKey(config.CREDENTIALS_ENCRYPTION_KEY)
        : loadOrCreateDevelopmentKey(config.DATA_DIR),
    );

    const demoSeeded = config.SEED_DEMO ?? Boolean(embedded);
    if (demoSeeded) {
      const outcome = await seedDemo(pool, issuer, cipher, logger);
      logger.info({ outcome }, 'demo organization');
    }

    const principals = new PrincipalResolver(pool, (result) => metrics.principalCache.inc({ result }));

    const verifier = createTokenVerifier({
      issuer,
      audience,
      algorithms: config.OIDC_ALGORITHMS,
      jwksUri: config.OIDC_JWKS_URI,
      clockToleranceMs: config.OIDC_CLOCK_TOLERANCE,
      jwksMaxAgeMs: config.OIDC_JWKS_MAX_AGE,
      jwksCooldownMs: config.OIDC_JWKS_COOLDOWN,
      maxStaleMs: config.OIDC_JWKS_MAX_STALE,
      authorizedParties: config.OIDC_AUTHORIZED_PARTIES,
      logger,
      onJwksFetch: (result) => metrics.jwksFetches.inc({ result }),
    });

    let store: MemoryStore | FallbackStore;
    let rateLimitStoreMode: () => RateLimitStoreMode;
    if (config.REDIS_URL) {
      // Loaded only when configured: a single replica never holds ioredis's code in memory.
      const { Redis } = await import('./ratelimit/redis-client.js');
      // Never wait for Redis: commands fail at once while it is away (no offline queue) and the
      // fallback counts locally; reconnection is retried every ≤ 2 s in the background.
      const redis = new Redis(config.REDIS_URL, {
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        commandTimeout: 500,
        connectTimeout: 2_000,
        retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
        lazyConnect: true,
      });
      let lastRedisError = '';
      let closing = false;
      redis.on('error', (error) => {
        // Reconnect attempts repeat the same error; the store logs the transitions that matter.
        if (!closing && error.message !== lastRedisError) logger.debug({ err: error }, 'redis error');
        lastRedisError = error.message;
      });
      const fallback = new FallbackStore(redis, new RedisStore(redis, config.RATE_LIMIT_WINDOW), logger);
      // Give Redis a moment to connect, so a healthy start counts shared from the first
      // request; an unreachable one does not hold the start (ioredis keeps retrying).
      await settledWithin(redis.connect(), 1_000);
      cleanups.push(async () => {
        // The store stops listening first: the connection's own `close` must not log a fallback
        // after the log has ended. Then QUIT, waited for (at most a second), not a dropped socket.
        closing = true;
        fallback.close();
        await settledWithin(redis.quit(), 1_000);
        redis.disconnect();
      });
      store = fallback;
      rateLimitStoreMode = () => fallback.mode();
    } else {
      const memory = new MemoryStore();
      cleanups.push(async () => memory.close());
      store = memory;
      rateLimitStoreMode = () => 'memory';
    }

    if (config.IDEMPOTENCY_PURGE_INTERVAL > 0) {
      cleanups.push(scheduleIdempotencyPurge(pool, logger, config.IDEMPOTENCY_PURGE_INTERVAL));
    }

    // Tamper evidence (src/audit/seal.ts): MACs with a key the database never sees.
    const auditKey = sealingKey(config.AUDIT_SIGNING_KEY);
    if (auditKey.development) {
      logger.warn(
        { keyId: auditKey.id },
        'AUDIT_SIGNING_KEY is unset: audit seals use the published development key and prove nothing (production requires the variable)',
      );
    }
    // The sealer holds a client for a whole round (every organization with new events): one
    // connection of its own, so a long round never takes a request's client (as exports don't).
    const sealingPool = createBackgroundPool(
      appUrl,
      {
        name: 'sealer',
        max: 1,
        statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT,
        lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT,
        clientClass: tracing?.clientClass,
      },
      logger,
    );
    cleanups.push(() => sealingPool.end());
    const auditSealer = new AuditSealer({ pool: sealingPool, key: auditKey, logger });
    if (config.AUDIT_SEAL_INTERVAL > 0) cleanups.push(scheduleAuditSealing(auditSealer, logger, config.AUDIT_SEAL_INTERVAL));

    const refresher = new LocalTokenRefresher();
    if (config.TOKEN_REFRESH_INTERVAL > 0) {
      const stopRefresh = scheduleTokenRefresh({ pool, cipher, refresher, logger, auditKey }, config.TOKEN_REFRESH_INTERVAL);
      cleanups.push(stopRefresh);
    }

    let stopping: Promise<void> | undefined;
    const yoga = createGateway(
      {
        config,
        pool,
        logger,
        verifier,
        oidcIssuer: issuer.replace(/\/+$/, ''),
        exportPool,
        keys: new KeyVerifier(pool),
        principals,
        activity: new MemberActivity(),
        cipher,
        refresher,
        metrics,
        git: new Git({ allowLocalRepositories: config.GIT_ALLOW_LOCAL_REPOSITORIES, timeoutMs: config.GIT_TIMEOUT, logger }),
      },
      store,
      {
        async ready() {
          const database = stopping ? { ok: false, error: 'shutting down' } : await readiness.check();
          return {
            ok: database.ok,
            body: {
              status: database.ok ? 'ready' : 'unavailable',
              database: database.ok ? 'up' : 'down',
              ...(database.error ? { databaseError: database.error } : {}),
              rateLimitStore: rateLimitStoreMode(),
              ...(stopping ? { shuttingDown: true } : {}),
            },
          };
        },
      },
      { tracing, metricsOnApiPort: metricsOnApiPort(config) },
    );
    metrics.watchRateLimitStore(rateLimitStoreMode);
    // Count handlers, not sockets: a client that disconnects mid-request leaves its handler
    // running, and shutdown must not end the pool under it.
    let inFlight = 0;
    const server = http.createServer((req, res) => {
      if (isClosingBehindRefusedBody(req.socket)) {
        // Pipelined behind a body refused with 413 on a connection that is closing: not run
        // (src/http/request-body.ts). Nobody will read this answer; it only ends the exchange.
        res.writeHead(503, { connection: 'close' });
        res.end();
        return;
      }
      if (stopping) {
        // From SIGTERM on nothing new is accepted, not even on a kept-alive connection.
        res.writeHead(503, { connection: 'close', 'retry-after': '1', 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ errors: [{ message: 'The gateway is shutting down.', extensions: { code: 'SERVICE_UNAVAILABLE' } }] }),
        );
        return;
      }
      inFlight++;
      // Answers written after shutdown began tell the client to go elsewhere next time.
      const writeHead = res.writeHead;
      res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
        if (stopping && !this.headersSent) this.setHeader('connection', 'close');
        return writeHead.apply(this, args);
      } as typeof writeHead;
      const serve = () => yoga(req, res);
      Promise.resolve(tracing ? tracing.handle(req, res, serve) : serve()).finally(() => inFlight--);
    });
    server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
    server.listen(config.PORT, config.HOST);
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    const url = `http://${host}:${port}`;

    let metricsUrl = metricsOnApiPort(config) ? `${url}/metrics` : undefined;
    if (config.METRICS_PORT !== undefined) {
      const metricsServer = createMetricsServer(metrics, config.METRICS_TOKEN);
      const metricsHost = config.METRICS_HOST ?? config.HOST;
      metricsServer.listen(config.METRICS_PORT, metricsHost);
      await once(metricsServer, 'listening');
      cleanups.push(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
      const bound = (metricsServer.address() as net.AddressInfo).port;
      metricsUrl = `http://${metricsHost.includes(':') ? `[${metricsHost}]` : metricsHost}:${bound}/metrics`;
    }

    const stop = () =>
      (stopping ??= (async () => {
        // Stop accepting, let in-flight requests finish (they commit or roll back; their answers
        // carry Connection: close), close keep-alive sockets as they become idle (one call is
        // not enough: sockets go idle after it), then the rest. Budget: 5 s for requests, so the
        // whole shutdown (with the embedded cluster's) fits a 10 s grace period.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
        server.closeIdleConnections();
        const drainUntil = Date.now() + 5_000;
        while (inFlight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
        server.closeAllConnections();
        await closed;
        clearInterval(idleCloser);
        await yoga.dispose();
        await cleanup();
      })());

    return {
      url,
      graphqlUrl: `${url}/graphql`,
      issuer,
      audience,
      devIssuer,
      database: embedded ? 'embedded' : describeDatabase(appUrl),
      demoSeeded,
      metricsUrl,
      metrics,
      pool,
      yoga,
      embedded,
      rateLimitStoreMode,
      auditSealer,
      sealingKey: auditKey,
      get stopping() {
        return stopping !== undefined;
      },
      stop,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function describeDatabase(url: string): string {
  const u = new URL(url);
  return `${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
}

export function ensureDataDir(config: Config): void {
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
}

/** Waits for `work` to settle (its failure ignored), for at most `ms`. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  await Promise.race([work.catch(() => {}), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
}
