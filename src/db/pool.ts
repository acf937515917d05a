import pg from 'pg';
import type { Logger } from '../logger.js';

export interface PoolOptions {
  max: number;
  statementTimeoutMs: number;
  applicationName?: string;
  /** The client class (tracing wraps statements in spans). */
  clientClass?: typeof pg.Client;
}

/**
 * The request pool, connected as the gateway's login role. Sized and tuned on purpose: idle
 * clients live 60 s (pg's 10 s default reconnects under bursty load), a request waits at most
 * 5 s for a client (then 503), and the server kills a statement after `statementTimeoutMs` and
 * a transaction left idle for 30 s (a leaked client cannot hold locks forever).
 */
export function createPool(connectionString: string, options: PoolOptions, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max,
    idleTimeoutMillis: 60_000,
    connectionTimeoutMillis: 5_000,
    application_name: options.applicationName ?? 'gateway',
    ...(options.clientClass ? { Client: options.clientClass } : {}),
    options: `-c search_path=app_public -c statement_timeout=${options.statementTimeoutMs} -c idle_in_transaction_session_timeout=30000`,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database client failed'));
  return pool;
}

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
