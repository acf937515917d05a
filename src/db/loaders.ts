/**
 * Per-request DataLoaders: nested lookups batch into one query per type and level, and every
 * one of them goes through the request's own transaction (so RLS sees the request's binding).
 * The queries live with their domain; this file only assembles them.
 */
import DataLoader from 'dataloader';
import type { RequestDatabase } from './request-database.js';
import { customerUsage, loadCustomers, type CustomerRow, type CustomerUsage } from '../domain/customers.js';
import { loadExecutions, type ExecutionRow } from '../domain/executions.js';
import { loadInvitations, loadMembers, teamIdsOfInvitations, type InvitationRow, type MemberRow } from '../domain/people.js';
import { countMembersByRole, loadRoles, type RoleRow } from '../domain/roles.js';
import { countMembersOfTeams, loadTeams, memberIdsOfTeams, teamIdsOfMembers, type TeamRow } from '../domain/teams.js';
import { loadUsers, type UserRow } from '../domain/users.js';
import { loadConnections, type ConnectionRow } from '../domain/connections.js';
import { loadServicePrincipals, type ServicePrincipalRow } from '../domain/service-principals.js';
import { countWorkspaceContents, loadWorkspaces, type WorkspaceCounts, type WorkspaceRow } from '../domain/workspaces.js';
import {
  loadDefinitionDocuments,
  loadDefinitions,
  loadDeployments,
  type DefinitionRow,
  type DeploymentRow,
} from '../domain/definitions.js';

/** Rows come back in any order; DataLoader wants them aligned with the keys. */
export function byKey<K, R>(keys: readonly K[], rows: R[], keyOf: (row: R) => K): (R | null)[] {
  const map = new Map(rows.map((r) => [keyOf(r), r]));
  return keys.map((k) => map.get(k) ?? null);
}

export function groupByKey<K, R>(keys: readonly K[], rows: R[], keyOf: (row: R) => K): R[][] {
  const map = new Map<K, R[]>();
  for (const row of rows) map.set(keyOf(row), [...(map.get(keyOf(row)) ?? []), row]);
  return keys.map((k) => map.get(k) ?? []);
}

/**
 * The loaders of one request, each made on first use: most requests touch one or two of them, and
 * making all of them for every request (a DataLoader and its cache each) was measurable garbage
 * on the hot path (issue 10's profile).
 */
export class RequestLoaders {
  readonly #made = new Map<string, unknown>();
  constructor(private readonly db: RequestDatabase) {}

  #lazy<T>(name: string, make: () => T): T {
    let loader = this.#made.get(name) as T | undefined;
    if (loader === undefined) this.#made.set(name, (loader = make()));
    return loader;
  }

  get user(): DataLoader<string, UserRow | null> {
    return this.#lazy(
      'user',
      () => new DataLoader<string, UserRow | null>(async (ids) => byKey(ids, await loadUsers(this.db, ids), (r) => r.id)),
    );
  }
  get definition(): DataLoader<string, DefinitionRow | null> {
    return this.#lazy(
      'definition',
      () =>
        new DataLoader<string, DefinitionRow | null>(async (ids) => byKey(ids, await loadDefinitions(this.db, ids), (r) => r.id)),
    );
  }
  get connection(): DataLoader<string, ConnectionRow | null> {
    return this.#lazy(
      'connection',
      () =>
        new DataLoader<string, ConnectionRow | null>(async (ids) => byKey(ids, await loadConnections(this.db, ids), (r) => r.id)),
    );
  }
  /** A definition version's JSON, keyed `${id}:${version}` (list pages leave it out). */
  get definitionDocument(): DataLoader<string, Record<string, unknown> | null> {
    return this.#lazy(
      'definitionDocument',
      () =>
        new DataLoader<string, Record<string, unknown> | null>(async (keys) => {
          const wanted = keys.map((key) => {
            const [id, version] = key.split(':');
            return { id: id!, version: Number(version) };
          });
          const rows = await loadDefinitionDocuments(this.db, wanted);
          return byKey(keys, rows, (r) => `${r.definition_id}:${r.version}`).map((r) => r?.definition ?? null);
        }),
    );
  }
  get deployments(): DataLoader<string, DeploymentRow[]> {
    return this.#lazy(
      'deployments',
      () =>
        new DataLoader<string, DeploymentRow[]>(async (ids) =>
          groupByKey(ids, await loadDeployments(this.db, ids), (r) => r.definition_id),
        ),
    );
  }
  get execution(): DataLoader<string, ExecutionRow | null> {
    return this.#lazy(
      'execution',
      () =>
        new DataLoader<string, ExecutionRow | null>(async (ids) => byKey(ids, await loadExecutions(this.db, ids), (r) => r.id)),
    );
  }
  get customer(): DataLoader<string, CustomerRow | null> {
    return this.#lazy(
      'customer',
      () => new DataLoader<string, CustomerRow | null>(async (ids) => byKey(ids, await loadCustomers(this.db, ids), (r) => r.id)),
    );
  }
  get customerUsage(): DataLoader<string, CustomerUsage | null> {
    return this.#lazy(
      'customerUsage',
      () =>
        new DataLoader<string, CustomerUsage | null>(async (ids) =>
          byKey(ids, await customerUsage(this.db, ids), (r) => r.customer_id),
        ),
    );
  }
  get servicePrincipal(): DataLoader<string, ServicePrincipalRow | null> {
    return this.#lazy(
      'servicePrincipal',
      () =>
        new DataLoader<string, ServicePrincipalRow | null>(async (ids) =>
          byKey(ids, await loadServicePrincipals(this.db, ids), (r) => r.id),
        ),
    );
  }
  get role(): DataLoader<string, RoleRow | null> {
    return this.#lazy(
      'role',
      () => new DataLoader<string, RoleRow | null>(async (ids) => byKey(ids, await loadRoles(this.db, ids), (r) => r.id)),
    );
  }
  get roleMemberCount(): DataLoader<string, number> {
    return this.#lazy(
      'roleMemberCount',
      () =>
        new DataLoader<string, number>(async (ids) => {
          const counts = await countMembersByRole(this.db, ids);
          return ids.map((id) => counts.get(id) ?? 0);
        }),
    );
  }
  get member(): DataLoader<string, MemberRow | null> {
    return this.#lazy(
      'member',
      () => new DataLoader<string, MemberRow | null>(async (ids) => byKey(ids, await loadMembers(this.db, ids), (r) => r.id)),
    );
  }
  get teamIdsOfMember(): DataLoader<string, string[]> {
    return this.#lazy(
      'teamIdsOfMember',
      () =>
        new DataLoader<string, string[]>(async (ids) =>
          groupByKey(ids, await teamIdsOfMembers(this.db, ids), (r) => r.membership_id).map((rows) => rows.map((r) => r.team_id)),
        ),
    );
  }
  get team(): DataLoader<string, TeamRow | null> {
    return this.#lazy(
      'team',
      () => new DataLoader<string, TeamRow | null>(async (ids) => byKey(ids, await loadTeams(this.db, ids), (r) => r.id)),
    );
  }
  get teamMemberCount(): DataLoader<string, number> {
    return this.#lazy(
      'teamMemberCount',
      () =>
        new DataLoader<string, number>(async (ids) => {
          const counts = await countMembersOfTeams(this.db, ids);
          return ids.map((id) => counts.get(id) ?? 0);
        }),
    );
  }
  get memberIdsOfTeam(): DataLoader<string, string[]> {
    return this.#lazy(
      'memberIdsOfTeam',
      () =>
        new DataLoader<string, string[]>(async (ids) =>
          groupByKey(ids, await memberIdsOfTeams(this.db, ids), (r) => r.team_id).map((rows) => rows.map((r) => r.membership_id)),
        ),
    );
  }
  get invitation(): DataLoader<string, InvitationRow | null> {
    return this.#lazy(
      'invitation',
      () =>
        new DataLoader<string, InvitationRow | null>(async (ids) => byKey(ids, await loadInvitations(this.db, ids), (r) => r.id)),
    );
  }
  get teamIdsOfInvitation(): DataLoader<string, string[]> {
    return this.#lazy(
      'teamIdsOfInvitation',
      () =>
        new DataLoader<string, string[]>(async (ids) =>
          groupByKey(ids, await teamIdsOfInvitations(this.db, ids), (r) => r.invitation_id).map((rows) =>
            rows.map((r) => r.team_id),
          ),
        ),
    );
  }
  get workspace(): DataLoader<string, WorkspaceRow | null> {
    return this.#lazy(
      'workspace',
      () =>
        new DataLoader<string, WorkspaceRow | null>(async (ids) => byKey(ids, await loadWorkspaces(this.db, ids), (r) => r.id)),
    );
  }
  /** A workspace's counts (definitions by kind, project members), read only when selected. */
  get workspaceCounts(): DataLoader<string, WorkspaceCounts | null> {
    return this.#lazy(
      'workspaceCounts',
      () =>
        new DataLoader<string, WorkspaceCounts | null>(async (ids) =>
          byKey(ids, await countWorkspaceContents(this.db, ids), (r) => r.workspace_id),
        ),
    );
  }
}

export function createLoaders(db: RequestDatabase): RequestLoaders {
  return new RequestLoaders(db);
}

export type Loaders = RequestLoaders;

/** Loads many ids, dropping the ones this request cannot see. */
export async function loadAll<T>(loader: DataLoader<string, T | null>, ids: readonly string[]): Promise<T[]> {
  return (await loader.loadMany(ids)).filter((v): v is T => v !== null && !(v instanceof Error));
}
