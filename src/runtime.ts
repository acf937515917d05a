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
import { Redis } from 'ioredis';
import type pg from 'pg';
import { MemberActivity } from './auth/activity.js';
import { CredentialCipher, loadOrCreateDevelopmentKey, parseKey } from './integrations/credentials.js';
import { LocalTokenRefresher, scheduleTokenRefresh } from './integrations/token-refresh.js';
import { PrincipalResolver } from './auth/principal.js';
import { DEV_AUDIENCE, startDevIssuer, type DevIssuer } from './auth/dev-issuer.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { ConfigError, devIssuerStateFile, embeddedPostgresDir, type Config } from './config.js';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from './db/bootstrap.js';
import { seedDemo } from './db/demo-seed.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';
import { migrate, verifyMigrated } from './db/migrate.js';
import { assertUnprivilegedRole, createPool } from './db/pool.js';
import type { Logger } from './logger.js';
import { MemoryStore, RedisStore } from './ratelimit/stores.js';
import { createMetricsServer, metricsOnApiPort } from './http/metrics-endpoint.js';
import { createMetrics, type GatewayMetrics } from './observability/metrics.js';
import { createTracing, otlpTracing, type Tracing } from './observability/tracing.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createGateway, type Gateway } from './yoga.js';

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

/** The databases the gateway itself connects to: DATABASE_URL (+ owner to migrate), or embedded. */
export async function prepareDatabase(config: Config, logger: Logger): Promise<DatabaseUrls> {
  if (config.DATABASE_URL) {
    return { appUrl: config.DATABASE_URL, ownerUrl: config.DATABASE_OWNER_URL, embedded: undefined };
  }
  if (config.DATABASE_OWNER_URL) {
    // The gateway never serves requests as the schema owner: that role is exempt from nothing
    // RLS forgives, but it owns every table. Migration tools need only the owner (see below).
    throw new ConfigError(['DATABASE_URL: is required when DATABASE_OWNER_URL is set (the gateway connects as gateway_app)']);
  }
  return startEmbeddedDatabase(config, logger);
}

/**
 * For owner-only tools (`npm run migrate`, `npm run audit:purge`): DATABASE_OWNER_URL alone is
 * enough; with neither URL set, the embedded cluster is started for the duration.
 */
export async function prepareOwnerDatabase(
  config: Config,
  logger: Logger,
): Promise<{ ownerUrl: string; embedded: EmbeddedPostgres | undefined }> {
  if (config.DATABASE_OWNER_URL) return { ownerUrl: config.DATABASE_OWNER_URL, embedded: undefined };
  if (config.DATABASE_URL) {
    throw new ConfigError(['DATABASE_OWNER_URL: is required to change a server database (the schema owner, gateway_owner)']);
  }
  const { ownerUrl, embedded } = await startEmbeddedDatabase(config, logger);
  return { ownerUrl: ownerUrl!, embedded };
}

async function startEmbeddedDatabase(config: Config, logger: Logger): Promise<DatabaseUrls> {
  const embedded = await startEmbeddedPostgres({
    dataDir: embeddedPostgresDir(config),
    port: config.EMBEDDED_POSTGRES_PORT,
    logger,
  });
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

export interface StartOptions {
  /** Export spans here (tests: an in-memory exporter) instead of OTLP. */
  spanExporter?: SpanExporter;
}

export async function startGateway(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningGateway> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((error) => logger.warn({ err: error }, 'shutdown step failed'));
  };
  try {
    const { appUrl, ownerUrl, embedded } = await prepareDatabase(config, logger);
    if (embedded) cleanups.push(() => embedded.stop());
    if (ownerUrl) {
      const { applied } = await migrate(ownerUrl, logger);
      logger.info({ applied }, applied.length ? 'migrations applied' : 'database schema up to date');
    }

    let tracing: Tracing | undefined;
    if (options.spanExporter) {
      tracing = createTracing({ exporter: options.spanExporter, batch: false, serviceName: config.OTEL_SERVICE_NAME });
    } else if (config.OTEL_EXPORTER_OTLP_ENDPOINT) {
      tracing = await otlpTracing(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_SERVICE_NAME);
    }
    if (tracing) cleanups.push(() => tracing.shutdown());
    // Process metrics (CPU, memory, event-loop lag) start observers that live as long as the
    // process: one set per real gateway, none for the many gateways a test process starts.
    const metrics = createMetrics({ processMetrics: config.NODE_ENV !== 'test' });

    const pool = createPool(
      appUrl,
      { max: config.DATABASE_POOL_MAX, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT, clientClass: tracing?.clientClass },
      logger,
    );
    cleanups.push(() => pool.end());
    metrics.watchPool(pool);
    await assertUnprivilegedRole(pool);
    if (!ownerUrl) await verifyMigrated(pool);

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

    let store: MemoryStore | RedisStore;
    if (config.REDIS_URL) {
      const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: true });
      redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
      await redis.connect();
      cleanups.push(() => redis.quit());
      store = new RedisStore(redis, config.RATE_LIMIT_WINDOW);
    } else {
      const memory = new MemoryStore();
      cleanups.push(async () => memory.close());
      store = memory;
    }

    const refresher = new LocalTokenRefresher();
    if (config.TOKEN_REFRESH_INTERVAL > 0) {
      const stopRefresh = scheduleTokenRefresh({ pool, cipher, refresher, logger }, config.TOKEN_REFRESH_INTERVAL);
      cleanups.push(stopRefresh);
    }

    const yoga = createGateway(
      { config, pool, logger, verifier, principals, activity: new MemberActivity(), cipher, refresher, metrics },
      store,
      { tracing, metricsOnApiPort: metricsOnApiPort(config) },
    );
    // Count handlers, not sockets: a client that disconnects mid-request leaves its handler
    // running, and shutdown must not end the pool under it.
    let inFlight = 0;
    const server = http.createServer((req, res) => {
      inFlight++;
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

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        // Stop accepting, let in-flight requests finish, close idle keep-alive sockets as they
        // become idle (one call is not enough: sockets go idle after it), then the rest.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const idleCloser = setInterval(() => server.closeIdleConnections(), 100);
        server.closeIdleConnections();
        const deadline = setTimeout(() => server.closeAllConnections(), 10_000);
        await closed;
        clearInterval(idleCloser);
        const drainUntil = Date.now() + 10_000;
        while (inFlight > 0 && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
        clearTimeout(deadline);
        await yoga.dispose();
        await cleanup();
      })());

    const database = embedded ? 'embedded' : describeDatabase(appUrl);
    return {
      url,
      graphqlUrl: `${url}/graphql`,
      issuer,
      audience,
      devIssuer,
      database,
      demoSeeded,
      metricsUrl,
      metrics,
      pool,
      yoga,
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
