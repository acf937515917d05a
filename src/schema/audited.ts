/**
 * Every permission-gated mutation runs through `audited`: its work and its Success event
 * commit together in the request transaction; a failure rolls the work back and leaves a
 * Failure event (FORBIDDEN raised by the resolver itself: Denied) for after the rollback.
 * The audit action is declared once, on the field (`extensions.audit`), so the Denied event
 * written by scope-auth and the Success/Failure events here always agree.
 */
import type { GraphQLResolveInfo } from 'graphql';
import { auditSpecOf, targetIdOf } from '../authz/scopes.js';
import type { Context } from '../context.js';
import { ErrorCode, errorCodeOf } from '../errors.js';

export interface AuditedOutcome<T> {
  result: T;
  resourceId?: string | null;
  customerId?: string | null;
  details?: Record<string, unknown>;
  /** The work already wrote its Success event (it had to be written inside another binding). */
  successRecorded?: boolean;
}

/** Several root mutations in one operation each get a savepoint; a lone one needs none. */
export function needsSavepoint(info: GraphQLResolveInfo): boolean {
  const selections = info.operation.selectionSet.selections;
  return !(selections.length === 1 && selections[0]!.kind === 'Field');
}

function permissionOf(info: GraphQLResolveInfo): string | undefined {
  const scopes = info.parentType.getFields()[info.fieldName]?.extensions?.pothosOptions as
    { authScopes?: { permission?: string } } | undefined;
  return scopes?.authScopes?.permission;
}

export async function audited<T>(ctx: Context, info: GraphQLResolveInfo, work: () => Promise<AuditedOutcome<T>>): Promise<T> {
  const spec = auditSpecOf(info, permissionOf(info));
  if (!spec) throw new Error(`${info.parentType.name}.${info.fieldName} has no audit action`);
  try {
    return await ctx.db.mutation(needsSavepoint(info), async () => {
      const outcome = await work();
      if (outcome.successRecorded) return outcome.result;
      await ctx.audit.success(ctx.db, {
        ...spec,
        resourceId: outcome.resourceId ?? null,
        customerId: outcome.customerId ?? ctx.confinedToCustomer,
        details: outcome.details,
      });
      return outcome.result;
    });
  } catch (error) {
    const code = errorCodeOf(error) ?? ErrorCode.INTERNAL_SERVER_ERROR;
    ctx.audit.defer(code === ErrorCode.FORBIDDEN ? 'denied' : 'failure', ctx.principal?.orgId ?? null, {
      ...spec,
      resourceId: targetIdOf(info),
      customerId: ctx.confinedToCustomer,
      details: { code, ...(code === ErrorCode.INTERNAL_SERVER_ERROR ? {} : { message: (error as Error).message }) },
    });
    throw error;
  }
}
