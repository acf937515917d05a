/**
 * Definitions built by staff — connectors, workflows, agents, tools — in one table (see
 * migrations/001). Versioned JSON definitions; connectors and workflows are also deployed
 * (which version is live where). Every function runs through the request's transaction and RLS
 * confines it to the organization; `kind` keeps the kinds apart (another kind's id is missing).
 */
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, notFound } from '../errors.js';
import { withDatabaseErrors } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs, type Sort } from './pagination.js';
import { optionalText, requireJsonObject, requireText } from './validation.js';

export type DefinitionKind = 'connector' | 'workflow' | 'agent' | 'tool';
export type DeployableKind = 'connector' | 'workflow';
export type Environment = 'test' | 'production';
export type AuthKind = 'oauth2' | 'api_key' | 'basic' | 'none';

export const KIND_LABEL: Record<DefinitionKind, string> = {
  connector: 'Connector',
  workflow: 'Workflow',
  agent: 'Agent',
  tool: 'Tool',
};

export interface DefinitionRow {
  id: string;
  org_id: string;
  kind: DefinitionKind;
  name: string;
  description: string;
  current_version: number;
  /** The current version's JSON; absent on list rows (loaded per page only when selected). */
  definition?: Record<string, unknown>;
  auth_kind: AuthKind | null;
  logo_url: string | null;
  created_at: Date;
  updated_at: Date;
  created_by: string | null;
  updated_by: string | null;
  workspace_id: string;
  /** Workflows only ("Toggle Flows"); other kinds are always true. */
  enabled: boolean;
}

export interface DeploymentRow {
  definition_id: string;
  environment: Environment;
  version: number;
  deployed_at: Date;
  deployed_by: string | null;
}

export interface DefinitionFilter {
  search?: string | null;
  createdBy?: string | null;
  deployedTo?: Environment | null;
  updatedAfter?: Date | null;
}

export type DefinitionOrderField = 'CREATED_AT' | 'UPDATED_AT' | 'NAME';

const LIST_COLUMNS = `d.id, d.org_id, d.kind, d.name, d.description, d.current_version, d.auth_kind, d.logo_url,
  d.created_at, d.updated_at, d.created_by, d.updated_by, d.workspace_id, d.enabled`;
const COLUMNS = `${LIST_COLUMNS}, v.definition`;
/**
 * What a page needs when it shows only `id`, `name` and `createdBy` (the usual list page): 5
 * columns instead of 14 — a third of the row parsing, and no Date objects (issue 10's list
 * profile had row parsing and timestamps at ~18 % of the gateway's CPU). Callers ask for it only
 * when the selection holds nothing else (LIGHT_DEFINITION_FIELDS, src/schema/definitions.ts).
 */
const LIGHT_LIST_COLUMNS = 'd.id, d.org_id, d.kind, d.name, d.created_by';
const FROM = `definitions d
  left join definition_versions v on v.org_id = d.org_id and v.definition_id = d.id and v.version = d.current_version`;

const SORTS: Record<DefinitionOrderField, Omit<Sort, 'direction'>> = {
  CREATED_AT: { expression: 'd.created_at', type: 'timestamptz', id: 'd.id' },
  UPDATED_AT: { expression: 'd.updated_at', type: 'timestamptz', id: 'd.id' },
  // name_key = lower(name), stored: a leakproof comparison the index can take under RLS.
  NAME: { expression: 'd.name_key', type: 'text', id: 'd.id' },
};

function uniqueName(kind: DefinitionKind) {
  return {
    unique: {
      definitions_name_unique: { field: 'name', message: `A ${kind} with this name already exists in your organization.` },
    },
  };
}

export async function listDefinitions(
  db: RequestDatabase,
  kind: DefinitionKind,
  filter: DefinitionFilter,
  order: { field: DefinitionOrderField; direction: 'asc' | 'desc' },
  page: PageArgs,
  options: { withTotal?: boolean; withCreator?: boolean; light?: boolean } = {},
): Promise<Connection<DefinitionRow & Partial<CreatorColumns> & { cursor_key: string }>> {
  const where = new Conditions()
    .add((p) => `d.kind = ${p}`, kind)
    .search(['d.name', 'd.description'], filter.search)
    .add((p) => `d.created_by = ${p}::uuid`, filter.createdBy)
    .add(
      (p) =>
        `exists (select 1 from definition_deployments dd where dd.org_id = d.org_id and dd.definition_id = d.id and dd.environment = ${p})`,
      filter.deployedTo,
    )
    .add((p) => `d.updated_at > ${p}::timestamptz`, filter.updatedAfter);
  // No join to the versions: a page reads its own rows only, and the JSON of the current
  // version comes through a loader when the query selects `definition`.
  return pagedQuery<DefinitionRow & Partial<CreatorColumns>>(db, {
    columns: options.light ? LIGHT_LIST_COLUMNS : LIST_COLUMNS,
    from: 'definitions d',
    where,
    sort: { ...SORTS[order.field], direction: order.direction },
    page,
    withTotal: options.withTotal ?? false,
    // The creators' names ride along with the page (joined after the cut) when asked for.
    decorate: options.withCreator
      ? {
          columns: 'u.id as creator_id, u.name as creator_name, u.email as creator_email',
          joins: 'left join users u on u.id = page.created_by',
        }
      : undefined,
  });
}

/** The creator as this request may see it (RLS on users): null columns when not visible. */
export interface CreatorColumns {
  creator_id: string | null;
  creator_name: string | null;
  creator_email: string | null;
}

export async function loadDefinitions(db: RequestDatabase, ids: readonly string[]): Promise<DefinitionRow[]> {
  return (await db.query<DefinitionRow>(`select ${COLUMNS} from ${FROM} where d.id = any($1::uuid[])`, [ids])).rows;
}

/** The JSON of given versions, keyed `${definitionId}:${version}`. */
export async function loadDefinitionDocuments(
  db: RequestDatabase,
  keys: readonly { id: string; version: number }[],
): Promise<{ definition_id: string; version: number; definition: Record<string, unknown> }[]> {
  return (
    await db.query<{ definition_id: string; version: number; definition: Record<string, unknown> }>(
      `select v.definition_id, v.version, v.definition from definition_versions v
       join unnest($1::uuid[], $2::int[]) as k(id, version) on v.definition_id = k.id and v.version = k.version
       where v.org_id = (select app_public.current_org_id())`,
      [keys.map((k) => k.id), keys.map((k) => k.version)],
    )
  ).rows;
}

export async function loadDeployments(db: RequestDatabase, ids: readonly string[]): Promise<DeploymentRow[]> {
  return (
    await db.query<DeploymentRow>(
      `select definition_id, environment, version, deployed_at, deployed_by from definition_deployments
       where definition_id = any($1::uuid[]) order by environment`,
      [ids],
    )
  ).rows;
}

/** The definition of this kind with this id; anything else (another kind, another tenant) is missing. */
export async function requireDefinition(db: RequestDatabase, kind: DefinitionKind, id: string): Promise<DefinitionRow> {
  const row = (await loadDefinitions(db, [id]))[0];
  if (!row || row.kind !== kind) throw notFound(KIND_LABEL[kind], id);
  return row;
}

const AUTH_KINDS: readonly AuthKind[] = ['oauth2', 'api_key', 'basic', 'none'];

function connectorFields(kind: DefinitionKind, input: { authKind?: string | null; logoUrl?: string | null }, creating: boolean) {
  if (kind !== 'connector') return { authKind: null, logoUrl: null };
  const authKind = input.authKind ?? (creating ? null : undefined);
  if (creating && !authKind) throw badUserInput('input.authKind', 'is required for a connector');
  if (authKind && !(AUTH_KINDS as readonly string[]).includes(authKind))
    throw badUserInput('input.authKind', `must be one of ${AUTH_KINDS.join(', ')}`);
  const logoUrl = input.logoUrl == null ? null : input.logoUrl.trim();
  if (logoUrl && !/^https:\/\/[^\s]{1,2040}$/.test(logoUrl)) throw badUserInput('input.logoUrl', 'must be an https:// URL');
  return { authKind: authKind ?? null, logoUrl };
}

export interface DefinitionInput {
  name: string;
  description?: string | null;
  definition?: unknown;
  authKind?: string | null;
  logoUrl?: string | null;
  /** Default: the workspace the request acts in, else the organization's default one. */
  workspaceId?: string | null;
}

export async function createDefinition(
  db: RequestDatabase,
  kind: DefinitionKind,
  actorId: string,
  input: DefinitionInput,
): Promise<string> {
  return (await createDefinitionRow(db, kind, actorId, input)).id;
}

/** Creates the definition and its version 1, and returns the new row (no re-read). */
export async function createDefinitionRow(
  db: RequestDatabase,
  kind: DefinitionKind,
  actorId: string,
  input: DefinitionInput,
): Promise<DefinitionRow> {
  const name = requireText('input.name', input.name, 200);
  const description = optionalText('input.description', input.description, 2000) ?? '';
  const definition = input.definition == null ? {} : requireJsonObject('input.definition', input.definition);
  const { authKind, logoUrl } = connectorFields(kind, input, true);
  return withDatabaseErrors(
    async () => {
      // One round trip (migration 023): the definition and its version 1, inserted by a
      // function in that order, under the caller's own grants and policies.
      const { rows } = await db.query<DefinitionRow>(
        `select id, org_id, kind, name, description, current_version, auth_kind, logo_url,
                created_at, updated_at, created_by, updated_by, workspace_id, enabled
           from app_private.create_definition($1, $2, $3, $4, $5, $6, $7, $8)`,
        [kind, name, description, authKind, logoUrl, actorId, input.workspaceId ?? null, definition],
      );
      const row = rows[0]!;
      return { ...row, definition };
    },
    { ...uniqueName(kind), foreignKey: { definitions_org_id_workspace_id_fkey: { resourceType: 'Workspace' } } },
  );
}

export async function updateDefinition(
  db: RequestDatabase,
  kind: DefinitionKind,
  actorId: string,
  id: string,
  input: Partial<DefinitionInput>,
): Promise<void> {
  const name = input.name == null ? null : requireText('input.name', input.name, 200);
  const description = optionalText('input.description', input.description, 2000);
  const definition = input.definition == null ? null : requireJsonObject('input.definition', input.definition);
  const { authKind, logoUrl } = connectorFields(kind, input, false);
  if ([name, description, definition, authKind, logoUrl].every((v) => v == null)) {
    throw badUserInput('input', 'nothing to change');
  }
  await withDatabaseErrors(async () => {
    const { rows } = await db.query<{ current_version: number }>(
      `update definitions set
         name = coalesce($3, name),
         description = coalesce($4, description),
         auth_kind = coalesce($5, auth_kind),
         logo_url = coalesce($6, logo_url),
         current_version = current_version + case when $7::jsonb is null then 0 else 1 end,
         updated_by = $8
       where id = $1 and kind = $2 returning current_version`,
      [id, kind, name, description, authKind, logoUrl, definition, actorId],
    );
    if (!rows[0]) throw notFound(KIND_LABEL[kind], id);
    if (definition != null) {
      await db.query(
        `insert into definition_versions (org_id, definition_id, version, definition, created_by)
         values (app_public.current_org_id(), $1, $2, $3, $4)`,
        [id, rows[0].current_version, definition, actorId],
      );
    }
  }, uniqueName(kind));
}

export async function deleteDefinition(db: RequestDatabase, kind: DefinitionKind, id: string): Promise<void> {
  const { rowCount } = await db.query('delete from definitions where id = $1 and kind = $2', [id, kind]);
  if (!rowCount) throw notFound(KIND_LABEL[kind], id);
}

/** "Toggle Flows": switch a workflow on or off. A disabled workflow does not run. */
export async function setWorkflowEnabled(db: RequestDatabase, id: string, enabled: boolean): Promise<void> {
  // Through the database's own rule (deploy permission, not edit permission): migration 010.
  const { rows } = await withDatabaseErrors(() =>
    db.query<{ found: boolean }>('select app_private.set_workflow_enabled($1, $2) as found', [id, enabled]),
  );
  if (!rows[0]?.found) throw notFound('Workflow', id);
}

/** Make `version` (default: the latest) live in `environment`. */
export async function deployDefinition(
  db: RequestDatabase,
  kind: DeployableKind,
  actorId: string,
  id: string,
  environment: Environment,
  version?: number | null,
): Promise<DeploymentRow> {
  const definition = await requireDefinition(db, kind, id);
  const target = version ?? definition.current_version;
  if (!Number.isInteger(target) || target < 1 || target > definition.current_version) {
    throw badUserInput('input.version', `must be between 1 and ${definition.current_version}`);
  }
  const { rows } = await db.query<DeploymentRow>(
    `insert into definition_deployments (org_id, definition_id, kind, environment, version, deployed_by)
     values (app_public.current_org_id(), $1, $2, $3, $4, $5)
     on conflict (org_id, definition_id, environment)
       do update set version = excluded.version, deployed_at = now(), deployed_by = excluded.deployed_by
     returning definition_id, environment, version, deployed_at, deployed_by`,
    [id, kind, environment, target, actorId],
  );
  return rows[0]!;
}
