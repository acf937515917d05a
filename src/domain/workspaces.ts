/**
 * Workspaces (DESIGN §3b): groups of an organization's definitions, a default one per
 * organization (migration 010 creates it with the organization). Managing them needs
 * `settings.manage`; the counts show what the request may see (in a workspace context, only
 * that workspace's definitions are visible, so the others count zero).
 */
import type { Permission } from '../authz/permissions.js';
import { resolveWorkspaceAccess, workspaceSubjectOf } from '../authz/workspace-access.js';
import type { Principal } from '../auth/principal.js';
import type { RequestDatabase } from '../db/request-database.js';
import { conflict, forbidden, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { KIND_LABEL, requireDefinition, type DefinitionKind } from './definitions.js';
import { Conditions, pagedParts, type Connection, type PageArgs } from './pagination.js';
import { requireText } from './validation.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
}

/** What a workspace holds, counted only when a count is selected (see countWorkspaceContents). */
export interface WorkspaceCounts {
  workspace_id: string;
  connectors: number;
  workflows: number;
  agents: number;
  tools: number;
  project_members: number;
}

const CONSTRAINTS: ConstraintMessages = {
  unique: {
    workspaces_name_unique: { field: 'input.name', message: 'A workspace with this name already exists in your organization.' },
  },
};

const SELECT = `select w.id, w.name, w.is_default, w.created_at, w.updated_at from workspaces w`;

/**
 * A plain (unpaged) list stays bounded (issue 10): the first WORKSPACE_LIST_LIMIT workspaces in
 * the order of index workspaces_listed (migration 017), so a page never sorts the organization's
 * workspaces. The counts are not part of the row: they are read per workspace, and only when
 * selected (countWorkspaceContents, through a request loader).
 */
export const WORKSPACE_LIST_LIMIT = 500;

export async function listWorkspaces(db: RequestDatabase): Promise<WorkspaceRow[]> {
  // name_key = lower(name), stored (migration 020): the order of index workspaces_name_key_listed.
  return (await db.query<WorkspaceRow>(`${SELECT} order by w.is_default desc, w.name_key, w.id limit ${WORKSPACE_LIST_LIMIT}`))
    .rows;
}

/**
 * Workspaces in listWorkspaces' order, one keyset page: the default one, then the others by
 * name — two parts of index workspaces_name_key_listed (`is_default` an equality in each), so a
 * cursor resumes inside its part. `onlyId`: the one workspace a workspace-scoped key may see.
 */
export async function pageWorkspaces(
  db: RequestDatabase,
  page: PageArgs,
  onlyId: string | null,
): Promise<Connection<WorkspaceRow & { cursor_key: string }>> {
  const columns = 'w.id, w.name, w.is_default, w.created_at, w.updated_at';
  const sort = { expression: 'w.name_key', type: 'text', direction: 'asc', id: 'w.id' } as const;
  return pagedParts<WorkspaceRow>(db, {
    where: new Conditions().add((p) => `w.id = ${p}::uuid`, onlyId),
    page,
    parts: [
      { columns, from: 'workspaces w', condition: 'w.is_default', sort },
      { columns, from: 'workspaces w', condition: 'not w.is_default', sort },
    ],
  });
}

/**
 * Definitions by kind and project members of these workspaces, as this request may see them (in
 * a workspace context, only that workspace's definitions are visible, so the others count zero).
 * Counting is O(what the workspaces hold), like a totalCount: only when a count is asked for.
 */
export async function countWorkspaceContents(db: RequestDatabase, ids: readonly string[]): Promise<WorkspaceCounts[]> {
  return (
    await db.query<WorkspaceCounts>(
      `select w.id as workspace_id,
          coalesce(c.connectors, 0) as connectors, coalesce(c.workflows, 0) as workflows,
          coalesce(c.agents, 0) as agents, coalesce(c.tools, 0) as tools,
          (select count(*)::int from project_members pm where pm.org_id = w.org_id and pm.workspace_id = w.id) as project_members
        from workspaces w
        left join lateral (
          select count(*) filter (where d.kind = 'connector')::int as connectors,
                 count(*) filter (where d.kind = 'workflow')::int as workflows,
                 count(*) filter (where d.kind = 'agent')::int as agents,
                 count(*) filter (where d.kind = 'tool')::int as tools
          from definitions d where d.org_id = w.org_id and d.workspace_id = w.id
        ) c on true
        where w.id = any($1::uuid[])`,
      [ids],
    )
  ).rows;
}

/** Workspaces by id, as this request may see them (a request loader batches them). */
export async function loadWorkspaces(db: RequestDatabase, ids: readonly string[]): Promise<WorkspaceRow[]> {
  return (await db.query<WorkspaceRow>(`${SELECT} where w.id = any($1::uuid[])`, [ids])).rows;
}

export async function requireWorkspace(db: RequestDatabase, id: string): Promise<WorkspaceRow> {
  const row = (await db.query<WorkspaceRow>(`${SELECT} where w.id = $1`, [id])).rows[0];
  if (!row) throw notFound('Workspace', id);
  return row;
}

export async function createWorkspace(db: RequestDatabase, actorId: string, rawName: unknown): Promise<string> {
  const name = requireText('input.name', rawName, 80);
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>(
      'insert into workspaces (org_id, name, created_by) values (app_public.current_org_id(), $1, $2) returning id',
      [name, actorId],
    );
    return rows[0]!.id;
  }, CONSTRAINTS);
}

export async function renameWorkspace(db: RequestDatabase, id: string, rawName: unknown): Promise<void> {
  const name = requireText('input.name', rawName, 80);
  await withDatabaseErrors(async () => {
    const { rowCount } = await db.query('update workspaces set name = $2 where id = $1', [id, name]);
    if (!rowCount) throw notFound('Workspace', id);
  }, CONSTRAINTS);
}

/**
 * Runs `fn` with the request's workspace confinement lifted (still bound to its organization
 * and role), then restores it. Only for operations whose permissions the gateway has checked in
 * every workspace they touch (moving a definition, counting a workspace's contents for a
 * settings.manage holder).
 */
export async function acrossWorkspaces<T>(db: RequestDatabase, fn: () => Promise<T>): Promise<T> {
  if (!db.currentBinding.workspaceId) return fn();
  const restore = await db.rebind({ ...db.currentBinding, workspaceId: null });
  try {
    return await fn();
  } finally {
    await restore();
  }
}

/** Deletes an empty, non-default workspace (its project members and git settings go with it). */
export async function deleteWorkspace(db: RequestDatabase, id: string): Promise<void> {
  await acrossWorkspaces(db, async () => {
    const workspace = await requireWorkspace(db, id);
    if (workspace.is_default) throw conflict('The default workspace cannot be deleted.');
    const [counts] = await countWorkspaceContents(db, [workspace.id]);
    const held = counts ? counts.connectors + counts.workflows + counts.agents + counts.tools : 0;
    if (held > 0) {
      throw conflict(`This workspace still holds ${held} definition${held === 1 ? '' : 's'}; move or delete them first.`, {
        definitionCount: held,
      });
    }
    // A definition created concurrently trips the foreign key (NO ACTION) instead.
    await withDatabaseErrors(() => db.query('delete from workspaces where id = $1', [id]), {});
  });
}

/**
 * Moves a definition to another workspace of the organization. The caller needs the kind's
 * update permission in both: where it is now (the request's context shows it or it is missing)
 * and where it goes (their access there, resolved like a request naming that workspace).
 */
export async function moveDefinition(
  db: RequestDatabase,
  principal: Principal,
  kind: DefinitionKind,
  id: string,
  toWorkspaceId: string,
  updatePermission: Permission,
): Promise<{ from: string; to: string }> {
  await requireDefinition(db, kind, id);
  return acrossWorkspaces(db, async () => {
    const { rows } = await db.query<{ workspace_id: string }>('select workspace_id from definitions where id = $1', [id]);
    const from = rows[0]!.workspace_id;
    const subject = workspaceSubjectOf(principal);
    const target = await resolveWorkspaceAccess(db, subject, toWorkspaceId);
    if (!target) throw notFound('Workspace', toWorkspaceId);
    const source = await resolveWorkspaceAccess(db, subject, from);
    for (const [access, where] of [
      [source, 'its current workspace'],
      [target, 'the target workspace'],
    ] as const) {
      if (!access?.permissions.has(updatePermission)) {
        throw forbidden(`Moving a ${kind} needs ${updatePermission} in ${where}.`, { permission: updatePermission });
      }
    }
    if (from === toWorkspaceId) return { from, to: toWorkspaceId };
    const { rowCount } = await db.query('update definitions set workspace_id = $2 where id = $1 and kind = $3', [
      id,
      toWorkspaceId,
      kind,
    ]);
    if (!rowCount) throw notFound(KIND_LABEL[kind], id);
    return { from, to: toWorkspaceId };
  });
}
