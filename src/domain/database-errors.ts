/**
 * Postgres errors a client can cause, turned into stable codes with messages that name the
 * field and reveal nothing else (no SQL, no constraint internals, no other tenant's data).
 * Unique and foreign-key checks ignore RLS, so their messages must never say *whose* row
 * collided: keys include org_id, and the message speaks only of the caller's organization.
 */
import { DatabaseError } from 'pg';
import { badUserInput, conflict, forbidden, notFound } from '../errors.js';

export interface ConstraintMessages {
  /** constraint/index name → what to tell the client */
  unique?: Record<string, { field: string; message: string }>;
  foreignKey?: Record<string, { resourceType: string }>;
}

export function translateDatabaseError(error: unknown, messages: ConstraintMessages = {}): unknown {
  if (!(error instanceof DatabaseError)) return error;
  const constraint = error.constraint ?? '';
  switch (error.code) {
    case '23505': {
      const known = messages.unique?.[constraint];
      return known
        ? conflict(known.message, { field: known.field })
        : conflict('This conflicts with something that already exists.');
    }
    case '23503': {
      const known = messages.foreignKey?.[constraint];
      return known
        ? notFound(known.resourceType)
        : conflict('This is still referenced by other records, or refers to one that does not exist.');
    }
    case '23514':
    case '23502':
      return badUserInput(error.column ?? 'input', 'is not an accepted value');
    case '22001':
      return badUserInput(error.column ?? 'input', 'is too long');
    case '22P02':
    case '22007':
    case '22008':
      return badUserInput(error.column ?? 'input', 'is malformed');
    case '42501':
      // Row-level security (or a permission trigger) refused a write: the row is not in the
      // caller's tenant, or the request's permissions do not allow it. The schema's scopes
      // normally refuse first, with the permission named.
      return forbidden('The database refused this write: it is outside your organization or needs a permission you lack.');
    default:
      return error;
  }
}

export async function withDatabaseErrors<T>(fn: () => Promise<T>, messages?: ConstraintMessages): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translateDatabaseError(error, messages);
  }
}
