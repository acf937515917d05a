/**
 * Per-request DataLoaders: nested lookups batch into one query per type and level, and every
 * one of them goes through the request's own transaction (so RLS sees the request's binding).
 * Loaders for domain rows live next to their domain; this file only assembles them.
 */
import DataLoader from 'dataloader';
import type { RequestDatabase } from './request-database.js';
import { loadUsers, type UserRow } from '../domain/users.js';
import { loadWorkflows, loadDeployments, type WorkflowRow, type DeploymentRow } from '../domain/workflows.js';
import { loadCustomers, type CustomerRow } from '../domain/customers.js';

export interface Loaders {
  user: DataLoader<string, UserRow | null>;
  workflow: DataLoader<string, WorkflowRow | null>;
  deployments: DataLoader<string, DeploymentRow[]>;
  customer: DataLoader<string, CustomerRow | null>;
}

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

export function createLoaders(db: RequestDatabase): Loaders {
  return {
    user: new DataLoader(async (ids) => byKey(ids, await loadUsers(db, ids), (r) => r.id)),
    workflow: new DataLoader(async (ids) => byKey(ids, await loadWorkflows(db, ids), (r) => r.id)),
    deployments: new DataLoader(async (ids) => groupByKey(ids, await loadDeployments(db, ids), (r) => r.workflow_id)),
    customer: new DataLoader(async (ids) => byKey(ids, await loadCustomers(db, ids), (r) => r.id)),
  };
}
