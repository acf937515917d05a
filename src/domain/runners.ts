/**
 * What a runner does with executions: claim the oldest claimable one under a lease, report
 * progress (extending the lease), and finish it (succeeded / failed with an error / cancelled,
 * with output); and set a connection's sync status. The request is bound as the runner's
 * organization (staff), so RLS keeps it inside its organization; the schema admits runner keys
 * only.
 *
 * Every report names the lease it holds. A report whose lease is not the execution's current,
 * unexpired lease — someone else's execution, a lease that ran out (and maybe went to another
 * runner), an execution already finished — is a CONFLICT and changes nothing.
 */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { EXECUTION_COLUMNS, requireExecution, type ExecutionRow, type TargetKind } from './executions.js';
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
  runnerId: string,
  options: { leaseSeconds?: number | null; targetKinds?: readonly TargetKind[] | null },
): Promise<Claim | null> {
  const leaseSeconds = requireLeaseSeconds('input.leaseSeconds', options.leaseSeconds);
  const kinds = options.targetKinds?.length ? options.targetKinds : null;
  const { rows } = await db.query<ClaimRow>(
    `with next as (
       select e.org_id, e.id from executions e
       where (e.status = 'queued' or (e.status = 'running' and e.lease_expires_at <= now()))
         and ($3::text[] is null or e.target_kind = any($3::text[]))
       order by e.created_at, e.id
       limit 1
       for update skip locked
     )
     update executions e
     set status = 'running', claimed_by = $1, lease_id = gen_random_uuid(),
         lease_expires_at = now() + make_interval(secs => $2), started_at = now(), attempts = e.attempts + 1,
         progress = null
     from next where e.org_id = next.org_id and e.id = next.id
     returning ${EXECUTION_COLUMNS}, e.lease_id, e.lease_expires_at, e.attempts`,
    [runnerId, leaseSeconds, kinds],
  );
  return rows[0] ? toClaim(rows[0]) : null;
}

/**
 * Explains why a report found no row it may change: missing (NOT_FOUND), finished, or not
 * this runner's current lease (CONFLICT). Called only after the guarded update matched nothing.
 */
async function refuseReport(db: RequestDatabase, id: string, runnerId: string, leaseId: string): Promise<never> {
  const execution = await requireExecution(db, id);
  const { rows } = await db.query<{ claimed_by: string | null; lease_id: string | null; expired: boolean }>(
    'select claimed_by, lease_id, lease_expires_at <= now() as expired from executions where id = $1',
    [id],
  );
  const lease = rows[0]!;
  if (execution.status === 'queued') throw conflict('This execution has not been claimed; claim it first.');
  if (execution.status !== 'running') throw conflict(`This execution has already finished (${execution.status}).`);
  if (lease.claimed_by !== runnerId || lease.lease_id !== leaseId) {
    throw conflict('This execution is not held under your lease (claimed by another runner, or re-claimed after your lease expired).');
  }
  throw conflict('Your lease on this execution has expired; it may be claimed again.');
}

const HELD = `id = $1 and status = 'running' and claimed_by = $2 and lease_id = $3 and lease_expires_at > now()`;

export async function reportProgress(
  db: RequestDatabase,
  runnerId: string,
  input: { id: string; leaseId: string; progress: unknown; extendLeaseSeconds?: number | null },
): Promise<Claim> {
  const progress = input.progress == null ? null : requireJsonObject('input.progress', input.progress);
  const extend = input.extendLeaseSeconds == null ? null : requireLeaseSeconds('input.extendLeaseSeconds', input.extendLeaseSeconds);
  const { rows } = await db.query<ClaimRow>(
    `update executions e
     set progress = coalesce($4::jsonb, e.progress),
         lease_expires_at = case when $5::int is null then e.lease_expires_at else now() + make_interval(secs => $5::int) end
     where ${HELD}
     returning ${EXECUTION_COLUMNS}, e.lease_id, e.lease_expires_at, e.attempts`,
    [input.id, runnerId, input.leaseId, progress, extend],
  );
  if (!rows[0]) return refuseReport(db, input.id, runnerId, input.leaseId);
  return toClaim(rows[0]);
}

export type Outcome = 'succeeded' | 'failed' | 'cancelled';

export async function finishExecution(
  db: RequestDatabase,
  runnerId: string,
  input: { id: string; leaseId: string; outcome: Outcome; output?: unknown; error?: string | null },
): Promise<ExecutionRow> {
  const error = input.error?.trim() || null;
  if (input.outcome === 'failed' && !error) throw badUserInput('input.error', 'is required when the execution failed');
  if (input.outcome !== 'failed' && error) throw badUserInput('input.error', 'is only for a failed execution');
  if (error && error.length > 2000) throw badUserInput('input.error', 'must be at most 2000 characters');
  const output = input.output === undefined ? null : input.output;
  if (output !== null && JSON.stringify(output).length > 256 * 1024) throw badUserInput('input.output', 'must be at most 256 KiB');
  const { rows } = await db.query<ExecutionRow>(
    `update executions e
     set status = $4, output = $5::jsonb, error = $6, finished_at = now(), lease_id = null, lease_expires_at = null
     where ${HELD}
     returning ${EXECUTION_COLUMNS}`,
    [input.id, runnerId, input.leaseId, input.outcome, output === null ? null : JSON.stringify(output), error],
  );
  if (!rows[0]) return refuseReport(db, input.id, runnerId, input.leaseId);
  return rows[0];
}

export type SyncStatus = 'syncing' | 'succeeded' | 'failed';

/** A connection's sync status as its runner saw it; `lastSyncedAt` moves on success only. */
export async function setConnectionSyncStatus(
  db: RequestDatabase,
  input: { connectionId: string; status: SyncStatus; error?: string | null },
): Promise<{ id: string; customer_id: string }> {
  const error = input.error?.trim() || null;
  if (input.status === 'failed' && !error) throw badUserInput('input.error', 'is required when the sync failed');
  if (input.status !== 'failed' && error) throw badUserInput('input.error', 'is only for a failed sync');
  if (error && error.length > 2000) throw badUserInput('input.error', 'must be at most 2000 characters');
  const { rows } = await db.query<{ id: string; customer_id: string }>(
    `update connections
     set sync_status = $2,
         last_synced_at = case when $2 = 'succeeded' then now() else last_synced_at end,
         last_error = case when $2 = 'failed' then $3 when $2 = 'succeeded' then null else last_error end
     where id = $1
     returning id, customer_id`,
    [input.connectionId, input.status, error],
  );
  if (!rows[0]) throw notFound('Connection', input.connectionId);
  return rows[0];
}

