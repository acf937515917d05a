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

export function createLoaders(db: RequestDatabase) {
  return {
    user: new DataLoader<string, UserRow | null>(async (ids) => byKey(ids, await loadUsers(db, ids), (r) => r.id)),
    definition: new DataLoader<string, DefinitionRow | null>(async (ids) =>
      byKey(ids, await loadDefinitions(db, ids), (r) => r.id),
    ),
    connection: new DataLoader<string, ConnectionRow | null>(async (ids) =>
      byKey(ids, await loadConnections(db, ids), (r) => r.id),
    ),
    /** A definition version's JSON, keyed `${id}:${version}` (list pages leave it out). */
    definitionDocument: new DataLoader<string, Record<string, unknown> | null>(async (keys) => {
      const wanted = keys.map((key) => {
        const [id, version] = key.split(':');
        return { id: id!, version: Number(version) };
      });
      const rows = await loadDefinitionDocuments(db, wanted);
      return byKey(keys, rows, (r) => `${r.definition_id}:${r.version}`).map((r) => r?.definition ?? null);
    }),
    deployments: new DataLoader<string, DeploymentRow[]>(async (ids) =>
      groupByKey(ids, await loadDeployments(db, ids), (r) => r.definition_id),
    ),
    execution: new DataLoader<string, ExecutionRow | null>(async (ids) => byKey(ids, await loadExecutions(db, ids), (r) => r.id)),
    customer: new DataLoader<string, CustomerRow | null>(async (ids) => byKey(ids, await loadCustomers(db, ids), (r) => r.id)),
    customerUsage: new DataLoader<string, CustomerUsage | null>(async (ids) =>
      byKey(ids, await customerUsage(db, ids), (r) => r.customer_id),
    ),
    servicePrincipal: new DataLoader<string, ServicePrincipalRow | null>(async (ids) =>
      byKey(ids, await loadServicePrincipals(db, ids), (r) => r.id),
    ),
    role: new DataLoader<string, RoleRow | null>(async (ids) => byKey(ids, await loadRoles(db, ids), (r) => r.id)),
    roleMemberCount: new DataLoader<string, number>(async (ids) => {
      const counts = await countMembersByRole(db, ids);
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    member: new DataLoader<string, MemberRow | null>(async (ids) => byKey(ids, await loadMembers(db, ids), (r) => r.id)),
    teamIdsOfMember: new DataLoader<string, string[]>(async (ids) =>
      groupByKey(ids, await teamIdsOfMembers(db, ids), (r) => r.membership_id).map((rows) => rows.map((r) => r.team_id)),
    ),
    team: new DataLoader<string, TeamRow | null>(async (ids) => byKey(ids, await loadTeams(db, ids), (r) => r.id)),
    teamMemberCount: new DataLoader<string, number>(async (ids) => {
      const counts = await countMembersOfTeams(db, ids);
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    memberIdsOfTeam: new DataLoader<string, string[]>(async (ids) =>
      groupByKey(ids, await memberIdsOfTeams(db, ids), (r) => r.team_id).map((rows) => rows.map((r) => r.membership_id)),
    ),
    invitation: new DataLoader<string, InvitationRow | null>(async (ids) =>
      byKey(ids, await loadInvitations(db, ids), (r) => r.id),
    ),
    teamIdsOfInvitation: new DataLoader<string, string[]>(async (ids) =>
      groupByKey(ids, await teamIdsOfInvitations(db, ids), (r) => r.invitation_id).map((rows) => rows.map((r) => r.team_id)),
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/** Loads many ids, dropping the ones this request cannot see. */
export async function loadAll<T>(loader: DataLoader<string, T | null>, ids: readonly string[]): Promise<T[]> {
  return (await loader.loadMany(ids)).filter((v): v is T => v !== null && !(v instanceof Error));
}
