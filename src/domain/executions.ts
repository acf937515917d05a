import type { RequestDatabase } from '../db/request-database.js';
import { conflict, notFound } from '../errors.js';
import { assertCanRun } from './customers.js';
import { requireJsonObject } from './validation.js';

export type ExecutionStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type TargetKind = 'workflow' | 'agent' | 'tool';

export interface ExecutionRow {
  id: string;
  org_id: string;
  customer_id: string;
  target_kind: TargetKind;
  workflow_id: string | null;
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
}

export const EXECUTION_COLUMNS = `e.id, e.org_id, e.customer_id, e.target_kind, e.workflow_id, e.target_name,
  e.target_version, e.status, e.input, e.output, e.error, e.retry_of, e.requested_by, e.created_at,
  e.started_at, e.finished_at`;

export async function loadExecutions(db: RequestDatabase, ids: readonly string[]): Promise<ExecutionRow[]> {
  const { rows } = await db.query<ExecutionRow>(`select ${EXECUTION_COLUMNS} from executions e where e.id = any($1::uuid[])`, [
    ids,
  ]);
  return rows;
}

/** Queue a run of a workflow version for a customer; a runner picks queued rows up. */
export async function enqueueWorkflowExecution(
  db: RequestDatabase,
  actorId: string,
  workflowId: string,
  customerId: string,
  input: unknown,
  version: number | null | undefined,
): Promise<ExecutionRow> {
  const payload = input == null ? {} : requireJsonObject('input.input', input);
  const { rows: found } = await db.query<{ name: string; current_version: number }>(
    'select name, current_version from workflows where id = $1',
    [workflowId],
  );
  const workflow = found[0];
  if (!workflow) throw notFound('Workflow', workflowId);
  const target = version ?? workflow.current_version;
  if (target < 1 || target > workflow.current_version) {
    throw conflict(`Version ${target} of this workflow does not exist.`, { field: 'input.version' });
  }
  await assertCanRun(db, customerId);
  const { rows } = await db.query<ExecutionRow>(
    `insert into executions as e (org_id, customer_id, target_kind, workflow_id, target_name, target_version, input, requested_by)
     values (app_public.current_org_id(), $1, 'workflow', $2, $3, $4, $5, $6)
     returning ${EXECUTION_COLUMNS}`,
    [customerId, workflowId, workflow.name, target, payload, actorId],
  );
  return rows[0]!;
}
