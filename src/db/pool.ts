import pg from 'pg';
import type { Logger } from '../logger.js';
import { CarryingPool } from './parked-transactions.js';
import { useFastTimestamps } from './timestamps.js';

export interface PoolOptions {
  max: number;
  statementTimeoutMs: number;
  /** Default: a fifth of the statement timeout (at most 2 s). */
  lockTimeoutMs?: number;
  /** Waiting for a pooled client, or for a new connection to open. Default 5 s. */
  acquireTimeoutMs?: number;
  applicationName?: string;
  /** The client class (tracing wraps statements in spans). */
  clientClass?: typeof pg.Client;
  /** The server ends a transaction left idle this long (default 30 s). */
  idleInTransactionTimeoutMs?: number;
  /** A read-only request transaction nobody takes over ends after this long (parked-transactions.ts). */
  parkMs?: number;
}

/**
 * How much longer than statement_timeout the client waits for any answer before giving the
 * connection up. statement_timeout is enforced by the server; a server that stopped answering
 * (frozen, partitioned, a failover that drops packets) enforces nothing, and TCP alone would
 * hold the request for many minutes (keepalive does not run while a query is unanswered).
 */
export const ANSWER_GRACE_MS = 2_000;

/**
 * The request pool, connected as the gateway's login role. Sized and tuned on purpose: idle
 * clients live 60 s (pg's 10 s default reconnects under bursty load), a request waits at most
 * `acquireTimeoutMs` for a client (then 503), the server gives up a lock wait after
 * `lockTimeoutMs` (shorter than a statement: requests queued behind one lock fail fast instead
 * of all holding pooled clients until the statement timeout), kills a statement after
 * `statementTimeoutMs` and a transaction left idle for 30 s (a leaked client cannot hold locks
 * forever). TCP keepalive notices a peer that vanished without closing the connection while
 * idle; `query_timeout` (statement timeout + ANSWER_GRACE_MS) bounds a query that is never
 * answered: it fails as 'no answer' (a 503, or an unknown outcome for COMMIT) and the client is
 * destroyed.
 */
export function createPool(connectionString: string, options: PoolOptions, logger: Logger): CarryingPool {
  useFastTimestamps();
  const lockTimeout = options.lockTimeoutMs ?? Math.min(2_000, Math.ceil(options.statementTimeoutMs / 5));
  // A CarryingPool (parked-transactions.ts): a read-only request's client is handed on to the
  // next request with its transaction to end. Such a take-over is not one of pg's pool uses, so
  // `maxUses` (not configured) would undercount.
  const pool = new CarryingPool({
    parkMs: options.parkMs,
    connectionString,
    max: options.max,
    idleTimeoutMillis: 60_000,
    connectionTimeoutMillis: options.acquireTimeoutMs ?? 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: options.statementTimeoutMs + ANSWER_GRACE_MS,
    application_name: options.applicationName ?? 'gateway',
    ...(options.clientClass ? { Client: options.clientClass } : {}),
    options:
      `-c search_path=app_public -c statement_timeout=${options.statementTimeoutMs} -c lock_timeout=${lockTimeout} ` +
      `-c idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs ?? 30_000}`,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database client failed'));
  return pool;
}

/**
 * A small pool for work that must never take the request pool's clients: long-lived background
 * or streaming work (the audit export holds a client for as long as a client reads; the sealer
 * could adopt it too). Same tuning as the request pool (createPool), its own size and name, so
 * however many of its clients are held, GraphQL requests of every tenant still get theirs; and
 * a short wait for a client (its users cap their own concurrency, so waiting means trouble:
 * answer 503 fast instead of queueing).
 */
export function createBackgroundPool(
  connectionString: string,
  options: Omit<PoolOptions, 'applicationName'> & { name: string },
  logger: Logger,
): pg.Pool {
  const { name, ...rest } = options;
  return createPool(
    connectionString,
    { acquireTimeoutMs: 2_000, ...rest, applicationName: `gateway-${name}` },
    logger.child({ pool: name }),
  );
}

/**
 * The readiness probe's own connection: one client, short timeouts, outside the request pool,
 * so `/ready` answers within its budget whatever the pool is doing (all clients busy, waiting
 * on a lock). Answers whether the database took `select 1` within `timeoutMs`.
 */
export function createReadinessProbe(connectionString: string, logger: Logger, timeoutMs = 800) {
  const probe = new pg.Pool({
    connectionString,
    max: 1,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: timeoutMs,
    // A probe query nobody answers must not keep the probe's only client forever: pg gives
    // it up and the pool destroys it, so the next check connects afresh.
    query_timeout: timeoutMs,
    application_name: 'gateway-ready',
    options: `-c statement_timeout=${timeoutMs}`,
  });
  probe.on('error', (error) => logger.debug({ err: error }, 'readiness probe connection failed'));
  probe.on('connect', (client) => client.on('error', () => {}));
  return {
    async check(): Promise<{ ok: boolean; error?: string }> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([probe.query('select 1'), timeout]);
        return { ok: true };
      } catch (error) {
        return { ok: false, error: (error as Error).message };
      } finally {
        clearTimeout(timer);
      }
    },
    end: () => probe.end(),
  };
}
export type ReadinessProbe = ReturnType<typeof createReadinessProbe>;

/** The gateway refuses to run as a role that would make RLS meaningless. */
export async function assertUnprivilegedRole(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; owned: number }>(`
    select r.rolname, r.rolsuper, r.rolbypassrls,
      (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relowner = r.oid and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')) as owned
    from pg_roles r where r.rolname = current_user`);
  const role = rows[0];
  if (!role) throw new Error('Cannot read the current database role.');
  const problems = [
    role.rolsuper && 'is a superuser',
    role.rolbypassrls && 'has BYPASSRLS',
    role.owned > 0 && `owns ${role.owned} relation(s)`,
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new Error(
      `DATABASE_URL connects as "${role.rolname}", which ${problems.join(' and ')}: row-level security would not protect tenants. ` +
        'Connect as gateway_app (see README, "Running against your own PostgreSQL").',
    );
  }
}
