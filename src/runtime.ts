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
import { KeyVerifier } from './auth/key-verifier.js';
import { CredentialCipher, loadOrCreateDevelopmentKey, parseKey } from './integrations/credentials.js';
import { LocalTokenRefresher, scheduleTokenRefresh } from './integrations/token-refresh.js';
import { PrincipalResolver } from './auth/principal.js';
import { DEV_AUDIENCE, startDevIssuer, type DevIssuer } from './auth/dev-issuer.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { devIssuerStateFile, embeddedPostgresDir, type Config } from './config.js';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from './db/bootstrap.js';
import { seedDemo } from './db/demo-seed.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded-postgres.js';
import { migrate, verifyMigrated } from './db/migrate.js';
import { assertUnprivilegedRole, createPool } from './db/pool.js';
import type { Logger } from './logger.js';
import { MemoryStore, RedisStore } from './ratelimit/stores.js';
import { createGateway, type Gateway } from './yoga.js';

const EMBEDDED_DATABASE = 'gateway';

export interface RunningGateway {
  url: string;
  graphqlUrl: string;
  issuer: string;
  audience: string;
  devIssuer: DevIssuer | undefined;
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

export async function prepareDatabase(config: Config, logger: Logger): Promise<DatabaseUrls> {
  if (config.DATABASE_URL) {
    return { appUrl: config.DATABASE_URL, ownerUrl: config.DATABASE_OWNER_URL, embedded: undefined };
  }
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

export async function startGateway(config: Config, logger: Logger): Promise<RunningGateway> {
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

    const pool = createPool(
      appUrl,
      { max: config.DATABASE_POOL_MAX, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT },
      logger,
    );
    cleanups.push(() => pool.end());
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

    if (config.SEED_DEMO ?? Boolean(embedded)) {
      const outcome = await seedDemo(pool, issuer, cipher, logger);
      logger.info({ outcome }, 'demo organization');
    }

    const principals = new PrincipalResolver(pool);

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
      {
        config,
        pool,
        logger,
        verifier,
        oidcIssuer: issuer.replace(/\/+$/, ''),
        keys: new KeyVerifier(pool),
        principals,
        activity: new MemberActivity(),
        cipher,
        refresher,
      },
      store,
    );
    // Count handlers, not sockets: a client that disconnects mid-request leaves its handler
    // running, and shutdown must not end the pool under it.
    let inFlight = 0;
    const server = http.createServer((req, res) => {
      inFlight++;
      Promise.resolve(yoga(req, res)).finally(() => inFlight--);
    });
    server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
    server.listen(config.PORT, config.HOST);
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    const url = `http://${host}:${port}`;

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

    return { url, graphqlUrl: `${url}/graphql`, issuer, audience, devIssuer, pool, yoga, stop };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

export function ensureDataDir(config: Config): void {
  fs.mkdirSync(config.DATA_DIR, { recursive: true });
}
