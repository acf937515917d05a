/**
 * Executions: queued runs of a workflow, agent or tool (or a connection's action) for one
 * customer. There is no engine here: a runner picks queued rows up. Customer-confined callers
 * see only their customer's executions (RLS).
 */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { assertCanRun } from './customers.js';
import { requireDefinition } from './definitions.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { requireJsonObject } from './validation.js';

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type TargetKind = 'workflow' | 'agent' | 'tool' | 'connection';
export type ExecutableKind = 'workflow' | 'agent' | 'tool';

export interface ExecutionRow {
  id: string;
  org_id: string;
  customer_id: string;
  target_kind: TargetKind;
  definition_id: string | null;
  connection_id: string | null;
  target_name: string;
  target_version: number | null;
  status: ExecutionStatus;
  input: Record<string, unknown>;
  output: unknown;
  error: string | null;
  retry_of: string | null;
  requested_by: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  /** The last progress a runner reported (migration 013). */
  progress: Record<string, unknown> | null;
  /** How many times a runner claimed it (more than 1: a lease expired before). */
  attempts: number;
}

export const EXECUTION_COLUMNS = `e.id, e.org_id, e.customer_id, e.target_kind, e.definition_id, e.connection_id, e.target_name,
  e.target_version, e.status, e.input, e.output, e.error, e.retry_of, e.requested_by, e.created_at,
  e.started_at, e.finished_at, e.progress, e.attempts`;

export async function loadExecutions(db: RequestDatabase, ids: readonly string[]): Promise<ExecutionRow[]> {
  return (await db.query<ExecutionRow>(`select ${EXECUTION_COLUMNS} from executions e where e.id = any($1::uuid[])`, [ids])).rows;
}

export async function requireExecution(db: RequestDatabase, id: string): Promise<ExecutionRow> {
  const row = (await loadExecutions(db, [id]))[0];
  if (!row) throw notFound('Execution', id);
  return row;
}

interface NewExecution {
  customerId: string;
  kind: TargetKind;
  definitionId: string | null;
  connectionId: string | null;
  name: string;
  version: number | null;
  input: Record<string, unknown>;
  retryOf?: string | null;
}

/** Queues a run after checking the customer may run anything (active, under its monthly limit). */
async function insertExecution(db: RequestDatabase, actorId: string | null, run: NewExecution): Promise<ExecutionRow> {
  await assertCanRun(db, run.customerId);
  const { rows } = await db.query<ExecutionRow>(
    `insert into executions as e (org_id, customer_id, target_kind, definition_id, connection_id, target_name, target_version, input, requested_by, retry_of)
     values (app_public.current_org_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9)
     returning ${EXECUTION_COLUMNS}`,
    [
      run.customerId,
      run.kind,
      run.definitionId,
      run.connectionId,
      run.name,
      run.version,
      run.input,
      actorId,
      run.retryOf ?? null,
    ],
  );
  return rows[0]!;
}

/** Queue a run of a workflow, agent or tool version for a customer. */
export async function enqueueExecution(
  db: RequestDatabase,
  actorId: string,
  kind: ExecutableKind,
  definitionId: string,
  customerId: string,
  input: unknown,
  version: number | null | undefined,
): Promise<ExecutionRow> {
  const payload = input == null ? {} : requireJsonObject('input.parameters', input);
  const definition = await requireDefinition(db, kind, definitionId);
  if (!definition.enabled) throw conflict('This workflow is disabled; enable it to run it.', { field: 'input.id' });
  const target = version ?? definition.current_version;
  if (target < 1 || target > definition.current_version) {
    throw badUserInput('input.version', `must be between 1 and ${definition.current_version}`);
  }
  return insertExecution(db, actorId, {
    customerId,
    kind,
    definitionId,
    connectionId: null,
    name: definition.name,
    version: target,
    input: payload,
  });
}

/** Queue an action on a customer's connection. */
export async function enqueueConnectionAction(
  db: RequestDatabase,
  actorId: string | null,
  connection: { id: string; customer_id: string; name: string },
  action: string,
  input: Record<string, unknown>,
): Promise<ExecutionRow> {
  return insertExecution(db, actorId, {
    customerId: connection.customer_id,
    kind: 'connection',
    definitionId: null,
    connectionId: connection.id,
    name: `${connection.name}: ${action}`,
    version: null,
    input: { action, ...input },
  });
}

/** A new execution of the same thing for the same customer, linked to the one retried. */
export async function retryExecution(db: RequestDatabase, actorId: string, id: string): Promise<ExecutionRow> {
  const original = await requireExecution(db, id);
  if (original.status === 'queued' || original.status === 'running') {
    throw conflict('This execution has not finished; retry it once it has.');
  }
  if (original.target_kind !== 'connection' && !original.definition_id) {
    throw conflict(`The ${original.target_kind} that ran was deleted; it cannot run again.`);
  }
  if (original.target_kind === 'workflow') {
    // "Toggle Flows": a disabled workflow does not run, retried or not.
    const { rows } = await db.query<{ enabled: boolean }>('select enabled from definitions where id = $1', [
      original.definition_id,
    ]);
    if (rows[0] && !rows[0].enabled) throw conflict('This workflow is disabled; enable it to run it.');
  }
  if (original.target_kind === 'connection') {
    const { rows } = await db.query('select 1 from connections where id = $1', [original.connection_id]);
    if (!rows[0]) throw conflict('The connection that ran was deleted; it cannot run again.');
  }
  return insertExecution(db, actorId, {
    customerId: original.customer_id,
    kind: original.target_kind,
    definitionId: original.definition_id,
    connectionId: original.connection_id,
    name: original.target_name,
    version: original.target_version,
    input: original.input,
    retryOf: original.id,
  });
}

export interface ExecutionFilter {
  status?: ExecutionStatus | null;
  targetKind?: TargetKind | null;
  /** The workflow, agent, tool or connection that ran. */
  targetId?: string | null;
  customerId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export async function listExecutions(
  db: RequestDatabase,
  filter: ExecutionFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<ExecutionRow & { cursor_key: string }>> {
  if (filter.from && filter.to && filter.from > filter.to) throw badUserInput('filter.from', 'must not be after filter.to');
  const where = new Conditions()
    .add((p) => `e.status = ${p}`, filter.status)
    .add((p) => `e.target_kind = ${p}`, filter.targetKind)
    // target_id: the definition or connection that ran (a stored column, indexed; migration 007).
    .add((p) => `e.target_id = ${p}::uuid`, filter.targetId)
    .add((p) => `e.customer_id = ${p}::uuid`, filter.customerId)
    .add((p) => `e.created_at >= ${p}::timestamptz`, filter.from)
    .add((p) => `e.created_at < ${p}::timestamptz`, filter.to);
  // RLS confines a customer's request already; saying so here lets the plan use the customer's index.
  if (db.currentBinding.access === 'customer') where.raw('e.customer_id = (select app_public.current_tenant_id())');
  return pagedQuery<ExecutionRow>(db, {
    columns: EXECUTION_COLUMNS,
    from: 'executions e',
    where,
    sort: { expression: 'e.created_at', type: 'timestamptz', direction: 'desc', id: 'e.id' },
    page,
    withTotal,
  });
}
