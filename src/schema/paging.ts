/** Relay connections share a naming scheme (WorkflowConnection, WorkflowEdge) and a lazy totalCount. */
import type { Connection } from '../domain/pagination.js';
import type { SchemaTypes } from './builder.js';

export function connectionOptions(base: string) {
  return {
    name: `${base}Connection`,
    fields: (t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, object>) => ({
      totalCount: t.int({
        description: 'All matches, not just this page (computed only when asked for).',
        resolve: (connection) => (connection as Connection<unknown>).totalCount(),
      }),
    }),
  };
}

export function edgeOptions(base: string) {
  return { name: `${base}Edge` };
}
