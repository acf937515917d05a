/**
 * Workflows: versioned definitions, deployments per environment, and queued executions.
 * Every function runs through the request's transaction; RLS confines it to the organization,
 * so no query here filters by org_id for isolation (inserts name it because the column is
 * NOT NULL and the policy's WITH CHECK verifies it).
 */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { keyset, pageWindow, toConnection, type Connection, type PageArgs, type Sort } from './pagination.js';
import { requireText, optionalText, requireJsonObject } from './validation.js';

export type Environment = 'test' | 'production';

export interface WorkflowRow {
  id: string;
  org_id: string;
  name: string;
  description: string;
  current_version: number;
  definition: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  created_by: string | null;
  updated_by: string | null;
}

export interface DeploymentRow {
  workflow_id: string;
  environment: Environment;
  version: number;
  deployed_at: Date;
  deployed_by: string | null;
}

export interface WorkflowFilter {
  search?: string | null;
  createdBy?: string | null;
  deployedTo?: Environment | null;
  updatedAfter?: Date | null;
}

export type WorkflowOrderField = 'CREATED_AT' | 'UPDATED_AT' | 'NAME';

const COLUMNS = `w.id, w.org_id, w.name, w.description, w.current_version, v.definition,
  w.created_at, w.updated_at, w.created_by, w.updated_by`;
const FROM = `workflows w
  left join workflow_versions v on v.org_id = w.org_id and v.workflow_id = w.id and v.version = w.current_version`;

const CONSTRAINTS: ConstraintMessages = {
  unique: { workflows_name_unique: { field: 'name', message: 'A workflow with this name already exists in your organization.' } },
};

const SORTS: Record<WorkflowOrderField, Omit<Sort, 'direction'>> = {
  CREATED_AT: { expression: 'w.created_at', type: 'timestamptz', id: 'w.id' },
  UPDATED_AT: { expression: 'w.updated_at', type: 'timestamptz', id: 'w.id' },
  NAME: { expression: 'lower(w.name)', type: 'text', id: 'w.id' },
};

function filterSql(filter: WorkflowFilter, params: unknown[]): string {
  const conditions: string[] = [];
  if (filter.search?.trim()) {
    params.push(`%${filter.search.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    conditions.push(`(w.name ilike $${params.length} or w.description ilike $${params.length})`);
  }
  if (filter.createdBy) {
    params.push(filter.createdBy);
    conditions.push(`w.created_by = $${params.length}::uuid`);
  }
  if (filter.deployedTo) {
    params.push(filter.deployedTo);
    conditions.push(
      `exists (select 1 from workflow_deployments d where d.org_id = w.org_id and d.workflow_id = w.id and d.environment = $${params.length})`,
    );
  }
  if (filter.updatedAfter) {
    params.push(filter.updatedAfter);
    conditions.push(`w.updated_at > $${params.length}::timestamptz`);
  }
  return conditions.length ? conditions.join(' and ') : 'true';
}

export async function listWorkflows(
  db: RequestDatabase,
  filter: WorkflowFilter,
  order: { field: WorkflowOrderField; direction: 'asc' | 'desc' },
  page: PageArgs,
  options: { withTotal?: boolean } = {},
): Promise<Connection<WorkflowRow & { cursor_key: string }>> {
  const window = pageWindow(page);
  const params: unknown[] = [];
  const where = filterSql(filter, params);
  const k = keyset({ ...SORTS[order.field], direction: order.direction }, window, params.length + 1);
  const countSql = `select count(*)::int from workflows w where ${where}`;
  // The total rides along as an uncorrelated sub-select (evaluated once) when it is wanted.
  const { rows } = await db.query<WorkflowRow & { cursor_key: string; total_count?: number }>(
    `select ${COLUMNS}, ${k.cursorKey} as cursor_key${options.withTotal ? `, (${countSql}) as total_count` : ''}
     from ${FROM}
     where ${where} and ${k.condition}
     order by ${k.orderBy} limit ${k.limit}`,
    [...params, ...k.params],
  );
  return toConnection(rows, window, async () => (await db.query<{ count: number }>(countSql, params)).rows[0]!.count);
}

export async function loadWorkflows(db: RequestDatabase, ids: readonly string[]): Promise<WorkflowRow[]> {
  const { rows } = await db.query<WorkflowRow>(`select ${COLUMNS} from ${FROM} where w.id = any($1::uuid[])`, [ids]);
  return rows;
}

export async function loadDeployments(db: RequestDatabase, workflowIds: readonly string[]): Promise<DeploymentRow[]> {
  const { rows } = await db.query<DeploymentRow>(
    `select workflow_id, environment, version, deployed_at, deployed_by from workflow_deployments
     where workflow_id = any($1::uuid[]) order by environment`,
    [workflowIds],
  );
  return rows;
}

export interface CreateWorkflowInput {
  name: string;
  description?: string | null;
  definition?: unknown;
}

export async function createWorkflow(db: RequestDatabase, actorId: string, input: CreateWorkflowInput): Promise<string> {
  const name = requireText('input.name', input.name, 200);
  const description = optionalText('input.description', input.description, 2000) ?? '';
  const definition = input.definition == null ? {} : requireJsonObject('input.definition', input.definition);
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      `with w as (
         insert into workflows (org_id, name, description, created_by, updated_by)
         values (app_public.current_org_id(), $1, $2, $3, $3) returning org_id, id
       )
       insert into workflow_versions (org_id, workflow_id, version, definition, created_by)
       select org_id, id, 1, $4, $3 from w returning workflow_id as id`,
      [name, description, actorId, definition],
    );
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export interface UpdateWorkflowInput {
  name?: string | null;
  description?: string | null;
  /** A new definition makes a new version. */
  definition?: unknown;
}

export async function updateWorkflow(
  db: RequestDatabase,
  actorId: string,
  id: string,
  input: UpdateWorkflowInput,
): Promise<void> {
  const name = input.name == null ? null : requireText('input.name', input.name, 200);
  const description = optionalText('input.description', input.description, 2000);
  const definition = input.definition == null ? null : requireJsonObject('input.definition', input.definition);
  if (name == null && description == null && definition == null) {
    throw badUserInput('input', 'name, description or definition must be given');
  }
  await withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string; current_version: number }>(
      `update workflows set
         name = coalesce($2, name),
         description = coalesce($3, description),
         current_version = current_version + case when $4::jsonb is null then 0 else 1 end,
         updated_by = $5
       where id = $1 returning id, current_version`,
      [id, name, description, definition, actorId],
    );
    const updated = rows[0];
    if (!updated) throw notFound('Workflow', id);
    if (definition != null) {
      await db.query(
        `insert into workflow_versions (org_id, workflow_id, version, definition, created_by)
         values (app_public.current_org_id(), $1, $2, $3, $4)`,
        [id, updated.current_version, definition, actorId],
      );
    }
  }, CONSTRAINTS);
}

export async function deleteWorkflow(db: RequestDatabase, id: string): Promise<void> {
  const { rowCount } = await db.query('delete from workflows where id = $1', [id]);
  if (!rowCount) throw notFound('Workflow', id);
}

/** Make `version` (default: the current one) live in `environment`. */
export async function deployWorkflow(
  db: RequestDatabase,
  actorId: string,
  id: string,
  environment: Environment,
  version?: number | null,
): Promise<DeploymentRow> {
  const { rows: found } = await db.query<{ current_version: number }>('select current_version from workflows where id = $1', [
    id,
  ]);
  const workflow = found[0];
  if (!workflow) throw notFound('Workflow', id);
  const target = version ?? workflow.current_version;
  if (!Number.isInteger(target) || target < 1 || target > workflow.current_version) {
    throw badUserInput('input.version', `must be between 1 and ${workflow.current_version}`);
  }
  const { rows } = await db.query<DeploymentRow>(
    `insert into workflow_deployments (org_id, workflow_id, environment, version, deployed_by)
     values (app_public.current_org_id(), $1, $2, $3, $4)
     on conflict (org_id, workflow_id, environment)
       do update set version = excluded.version, deployed_at = now(), deployed_by = excluded.deployed_by
     returning workflow_id, environment, version, deployed_at, deployed_by`,
    [id, environment, target, actorId],
  );
  return rows[0]!;
}

export async function requireWorkflow(db: RequestDatabase, id: string): Promise<WorkflowRow> {
  const rows = await loadWorkflows(db, [id]);
  if (!rows[0]) throw notFound('Workflow', id);
  return rows[0];
}
