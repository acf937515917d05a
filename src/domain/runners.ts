/**
 * What a runner does with executions: claim the oldest claimable one under a lease, report
 * progress (extending the lease), and finish it (succeeded / failed with an error / cancelled,
 * with output); and set a connection's sync status. The schema admits runner keys only; the
 * database does the work in SECURITY DEFINER functions (migration 013) that check, again, that
 * the bound principal is an active runner of the bound organization, and stay inside it.
 *
 * Every report names the lease it holds. A report whose lease is not the execution's current,
 * unexpired lease — someone else's execution, a lease that ran out (and maybe went to another
 * runner), an execution already finished — is a CONFLICT and changes nothing.
 */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { EXECUTION_COLUMNS, type ExecutionRow, type TargetKind } from './executions.js';
import { requireJsonObject } from './validation.js';

export const DEFAULT_LEASE_SECONDS = 300;
const MAX_LEASE_SECONDS = 3600;
const MIN_LEASE_SECONDS = 5;

export interface Claim {
  execution: ExecutionRow;
  leaseId: string;
  leaseExpiresAt: Date;
  attempts: number;
}

interface ClaimRow extends ExecutionRow {
  lease_id: string;
  lease_expires_at: Date;
  attempts: number;
}

function requireLeaseSeconds(field: string, value: number | null | undefined): number {
  const seconds = value ?? DEFAULT_LEASE_SECONDS;
  if (!Number.isInteger(seconds) || seconds < MIN_LEASE_SECONDS || seconds > MAX_LEASE_SECONDS) {
    throw badUserInput(field, `must be between ${MIN_LEASE_SECONDS} and ${MAX_LEASE_SECONDS} seconds`);
  }
  return seconds;
}

const toClaim = (row: ClaimRow): Claim => ({
  execution: row,
  leaseId: row.lease_id,
  leaseExpiresAt: row.lease_expires_at,
  attempts: row.attempts,
});

/**
 * The oldest queued execution (or a running one whose lease expired: its runner is presumed
 * dead), now running under a new lease held by `runnerId`. Null when there is nothing to do.
 */
export async function claimExecution(
  db: RequestDatabase,
  options: { leaseSeconds?: number | null; targetKinds?: readonly TargetKind[] | null },
): Promise<Claim | null> {
  const leaseSeconds = requireLeaseSeconds('input.leaseSeconds', options.leaseSeconds);
  const kinds = options.targetKinds?.length ? options.targetKinds : null;
  const { rows } = await db.query<ClaimRow>(
    `select ${EXECUTION_COLUMNS}, e.lease_id, e.lease_expires_at, e.attempts
     from app_private.claim_execution($1, $2::text[]) e`,
    [leaseSeconds, kinds],
  );
  return rows[0] ? toClaim(rows[0]) : null;
}

/**
 * Explains why a report found no row it may change: missing (NOT_FOUND), finished, or not
 * this runner's current lease (CONFLICT). Called only after the guarded update matched nothing.
 */
async function refuseReport(db: RequestDatabase, id: string, leaseId: string): Promise<never> {
  const { rows } = await db.query<{ state: 'not_found' | 'queued' | 'finished' | 'not_yours' | 'expired' }>(
    'select app_private.execution_lease_state($1, $2) as state',
    [id, leaseId],
  );
  switch (rows[0]!.state) {
    case 'not_found':
      throw notFound('Execution', id);
    case 'queued':
      throw conflict('This execution has not been claimed; claim it first.');
    case 'finished':
      throw conflict('This execution has already finished.');
    case 'not_yours':
      throw conflict(
        'This execution is not held under your lease (claimed by another runner, or re-claimed after your lease expired).',
      );
    default:
      throw conflict('Your lease on this execution has expired; it may be claimed again.');
  }
}

export async function reportProgress(
  db: RequestDatabase,
  input: { id: string; leaseId: string; progress: unknown; extendLeaseSeconds?: number | null },
): Promise<Claim> {
  const progress = input.progress == null ? null : requireJsonObject('input.progress', input.progress);
  const extend =
    input.extendLeaseSeconds == null ? null : requireLeaseSeconds('input.extendLeaseSeconds', input.extendLeaseSeconds);
  const { rows } = await db.query<ClaimRow>(
    `select ${EXECUTION_COLUMNS}, e.lease_id, e.lease_expires_at, e.attempts
     from app_private.report_execution_progress($1, $2, $3::jsonb, $4::int) e`,
    [input.id, input.leaseId, progress === null ? null : JSON.stringify(progress), extend],
  );
  if (!rows[0]) return refuseReport(db, input.id, input.leaseId);
  return toClaim(rows[0]);
}

export type Outcome = 'succeeded' | 'failed' | 'cancelled';

export async function finishExecution(
  db: RequestDatabase,
  input: { id: string; leaseId: string; outcome: Outcome; output?: unknown; error?: string | null },
): Promise<ExecutionRow> {
  const error = input.error?.trim() || null;
  if (input.outcome === 'failed' && !error) throw badUserInput('input.error', 'is required when the execution failed');
  if (input.outcome !== 'failed' && error) throw badUserInput('input.error', 'is only for a failed execution');
  if (error && error.length > 2000) throw badUserInput('input.error', 'must be at most 2000 characters');
  const output = input.output === undefined ? null : input.output;
  if (output !== null && JSON.stringify(output).length > 256 * 1024)
    throw badUserInput('input.output', 'must be at most 256 KiB');
  const { rows } = await db.query<ExecutionRow>(
    `select ${EXECUTION_COLUMNS} from app_private.finish_execution($1, $2, $3, $4::jsonb, $5) e`,
    [input.id, input.leaseId, input.outcome, output === null ? null : JSON.stringify(output), error],
  );
  if (!rows[0]) return refuseReport(db, input.id, input.leaseId);
  return rows[0];
}

export type SyncStatus = 'syncing' | 'succeeded' | 'failed';

export interface SyncStatusRow {
  id: string;
  customer_id: string;
  sync_status: SyncStatus;
  last_synced_at: Date | null;
  last_error: string | null;
}

/** A connection's sync status as its runner saw it; `lastSyncedAt` moves on success only. */
export async function setConnectionSyncStatus(
  db: RequestDatabase,
  input: { connectionId: string; status: SyncStatus; error?: string | null },
): Promise<SyncStatusRow> {
  const error = input.error?.trim() || null;
  if (input.status === 'failed' && !error) throw badUserInput('input.error', 'is required when the sync failed');
  if (input.status !== 'failed' && error) throw badUserInput('input.error', 'is only for a failed sync');
  if (error && error.length > 2000) throw badUserInput('input.error', 'must be at most 2000 characters');
  const { rows } = await db.query<SyncStatusRow>('select * from app_private.set_connection_sync_status($1, $2, $3)', [
    input.connectionId,
    input.status,
    error,
  ]);
  if (!rows[0]) throw notFound('Connection', input.connectionId);
  return rows[0];
}
