/**
 * Which database errors are the database's fault (and worth a retry), and what to tell the
 * client about them. One place, so every path — the request transaction, the context factory's
 * pool queries, the audit writer, the error mask — answers the same way: HTTP 503
 * `SERVICE_UNAVAILABLE` with `Retry-After`, and a message saying what failed or timed out.
 */
import type { GraphQLError } from 'graphql';
import { gatewayError, ErrorCode } from '../errors.js';

export type DatabaseFaultKind =
  | 'unreachable' // could not connect at all
  | 'connection lost' // an established connection died (terminated backend, restart, network)
  | 'no answer' // the server stopped answering (frozen, partitioned): given up client-side
  | 'shutting down' // the server is stopping or restarting (57P01..57P03)
  | 'lock timeout' // lock_timeout (55P03)
  | 'statement timeout' // statement_timeout (57014)
  | 'pool timeout'; // no pooled connection within the acquisition timeout

export const DATABASE_RETRY_AFTER_SECONDS = 1;

const MESSAGES: Record<DatabaseFaultKind, string> = {
  unreachable: 'The database is unavailable. Try again shortly.',
  'connection lost': 'The connection to the database was lost; nothing was saved. Try again shortly.',
  'no answer': 'The database did not answer in time; nothing was saved. Try again shortly.',
  'shutting down': 'The database is restarting; nothing was saved. Try again shortly.',
  'lock timeout': 'Timed out waiting for a database lock (lock_timeout); nothing was saved. Try again shortly.',
  'statement timeout': 'A database statement timed out (statement_timeout); nothing was saved. Try again shortly.',
  'pool timeout': 'Timed out waiting for a free database connection; nothing was saved. Try again shortly.',
};

const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What kind of database fault `error` is, or undefined for anything else (bad SQL, a constraint…). */
export function databaseFaultOf(error: unknown): DatabaseFaultKind | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code === '55P03') return 'lock timeout';
    if (code === '57014') return /statement timeout/i.test(error.message) ? 'statement timeout' : 'connection lost';
    if (code === '57P01' || code === '57P02' || code === '57P03') return 'shutting down';
    if (code === '53300') return 'unreachable'; // too many connections
    if (code.startsWith('08')) return 'connection lost';
    if (CONNECTION_ERRNOS.has(code))
      return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'unreachable' : 'connection lost';
  }
  const message = error.message;
  if (message === 'timeout exceeded when trying to connect') return 'pool timeout';
  // pg's query_timeout (see createPool): no answer at all, not even a TCP error.
  if (message === 'Query read timeout') return 'no answer';
  if (/^Connection terminated due to connection timeout/.test(message)) return 'unreachable';
  if (
    /^Connection terminated|not queryable|Connection ended unexpectedly|the database system is (starting up|shutting down|in recovery)/i.test(
      message,
    )
  ) {
    return 'connection lost';
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause && cause !== error) return databaseFaultOf(cause);
  // AggregateError (node's happy-eyeballs connect) carries the real errors inside.
  if (error instanceof AggregateError)
    for (const inner of error.errors) if (databaseFaultOf(inner)) return databaseFaultOf(inner);
  return undefined;
}

/** The client's answer to a database fault: 503, SERVICE_UNAVAILABLE, Retry-After, and what failed. */
export function databaseUnavailable(kind: DatabaseFaultKind): GraphQLError {
  return gatewayError(
    ErrorCode.SERVICE_UNAVAILABLE,
    MESSAGES[kind],
    { fault: kind, retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
    { status: 503, headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) } },
  );
}

/**
 * Faults after which the connection cannot be trusted: the server ended the transaction with
 * it, or we stopped waiting for an answer that may still come. Such a client is destroyed and
 * its transaction counted as gone; a COMMIT that met one has an unknown outcome.
 */
export function isConnectionFault(kind: DatabaseFaultKind | undefined): boolean {
  return kind === 'connection lost' || kind === 'shutting down' || kind === 'unreachable' || kind === 'no answer';
}

/** `error` as a 503 when it is a database fault, otherwise unchanged. */
export function asDatabaseFault(error: unknown): unknown {
  const kind = databaseFaultOf(error);
  return kind ? databaseUnavailable(kind) : error;
}

/**
 * The connection died after COMMIT was sent and before its answer arrived: the change may or
 * may not have been saved. Said plainly, so a client neither assumes success nor blindly
 * repeats a change (an Idempotency-Key makes the retry safe).
 */
export function commitOutcomeUnknown(): GraphQLError {
  return gatewayError(
    ErrorCode.SERVICE_UNAVAILABLE,
    'The connection to the database was lost while the change was being committed: it may or may not have been saved. ' +
      'Check before repeating it, or retry with the same Idempotency-Key.',
    { outcome: 'UNKNOWN', retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
    { status: 503, headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) } },
  );
}
