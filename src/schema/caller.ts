/** The caller, for resolvers behind scopes that already guarantee one. */
import type { Principal } from '../auth/principal.js';
import type { Context } from '../context.js';
import type { AuditSpec } from '../authz/scopes.js';

/** The acting identity: a person's user id, or the identity a service principal acts as. */
export function userIdOf(ctx: Context): string {
  if (ctx.caller.kind === 'anonymous') throw new Error('unreachable: this field is scoped to signed-in callers');
  return ctx.caller.userId;
}

export function principalOf(ctx: Context): Principal {
  if (!ctx.principal) throw new Error('unreachable: this field is scoped to members');
  return ctx.principal;
}

/**
 * The `audit` field option naming an action its permission does not (people.manage →
 * member.invite); the audit plugin (audit-plugin.ts) records it. `audit: 'permission'` names it
 * after the permission instead.
 */
export function auditAs(action: string, resourceType = action.split('.')[0]!): AuditSpec {
  return { action, resourceType };
}
