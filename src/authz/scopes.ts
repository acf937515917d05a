/**
 * Scope rules for Pothos scope-auth, and what happens when one fails: a FORBIDDEN (or
 * UNAUTHENTICATED) error with a stable code, and a Denied audit event for permission checks.
 */
import { getArgumentValues, type GraphQLField, type GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.js';
import { ErrorCode, forbidden, gatewayError } from '../errors.js';
import { systemRole, type Permission } from './permissions.js';

/**
 * In a customer's context (End Users; staff sending X-Customer-Id) the database shows one
 * customer and nothing org-internal, so only customer-scoped capabilities make sense there: a
 * caller holds their permissions ∩ the End User role's. Anything else would be a silent no-op
 * (RLS hides the rows) dressed up as a success.
 */
const CUSTOMER_CONTEXT: ReadonlySet<Permission> = new Set(systemRole('end_user').permissions);

/** What a member holding `held` may do in this context; the database binds the same set. */
export function effectivePermissions(held: ReadonlySet<Permission>, inCustomerContext: boolean): ReadonlySet<Permission> {
  return inCustomerContext ? new Set([...held].filter((p) => CUSTOMER_CONTEXT.has(p))) : held;
}

export function heldPermissions(ctx: Context): ReadonlySet<Permission> {
  return effectivePermissions(ctx.principal?.permissions ?? new Set<Permission>(), ctx.confinedToCustomer !== null);
}

export function scopesFor(ctx: Context) {
  const held = heldPermissions(ctx);
  return {
    public: true,
    authenticated: ctx.caller.kind === 'user',
    member: ctx.principal !== null && ctx.principal.status === 'active',
    permission: (permission: Permission) => held.has(permission),
    organizationOwner: ctx.principal?.roleKey === 'owner' && !ctx.confinedToCustomer,
  };
}

/** Resource type of a permission's category, as audit events name it. */
const RESOURCE_TYPE: Record<string, string> = {
  connectors: 'connector',
  connections: 'connection',
  workflows: 'workflow',
  agents: 'agent',
  tools: 'tool',
  executions: 'execution',
  customers: 'customer',
  people: 'member',
  roles: 'role',
  audit_log: 'audit_log',
  billing: 'billing',
  settings: 'settings',
};

export interface AuditSpec {
  action: string;
  resourceType: string;
}

export function specFromPermission(permission: string): AuditSpec {
  const [category, action] = permission.split('.') as [string, string];
  const resourceType = RESOURCE_TYPE[category] ?? category;
  return { action: `${resourceType}.${action}`, resourceType };
}

function fieldOf(info: GraphQLResolveInfo): GraphQLField<unknown, unknown> | undefined {
  return info.parentType.getFields()[info.fieldName];
}

/** The audit action a field declares (`extensions.audit`), else one derived from its permission. */
export function auditSpecOf(info: GraphQLResolveInfo, permission?: string): AuditSpec | null {
  const declared = fieldOf(info)?.extensions?.audit as AuditSpec | undefined;
  if (declared) return declared;
  return permission ? specFromPermission(permission) : null;
}

/** The id a denied or failed operation was aimed at, when its arguments name one. */
export function targetIdOf(info: GraphQLResolveInfo): string | null {
  const field = fieldOf(info);
  const node = info.fieldNodes[0];
  if (!field || !node) return null;
  try {
    const args = getArgumentValues(field, node, info.variableValues) as Record<string, unknown>;
    const input = args.input as Record<string, unknown> | undefined;
    const id = args.id ?? input?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

interface Failure {
  kind: string;
  scope?: string;
  parameter?: unknown;
  failures?: Failure[];
}

function failedPermission(result: Failure): string | null {
  if (result.scope === 'permission' && typeof result.parameter === 'string') return result.parameter;
  for (const inner of result.failures ?? []) {
    const found = failedPermission(inner);
    if (found) return found;
  }
  return null;
}

export function unauthorizedError(_parent: unknown, ctx: Context, info: GraphQLResolveInfo, result: unknown): Error {
  const where = `${info.parentType.name}.${info.fieldName}`;
  if (ctx.caller.kind === 'anonymous') {
    return gatewayError(ErrorCode.UNAUTHENTICATED, `Sign in to use ${where}.`);
  }
  if (!ctx.principal) {
    return forbidden(`${where} needs an organization: send the X-Organization-Id header with one you belong to.`);
  }
  // Pothos hands over { message, failure }, the failure being a tree of scope checks.
  const permission = failedPermission((result as { failure?: Failure }).failure ?? (result as Failure));
  const spec = auditSpecOf(info, permission ?? undefined);
  if (spec) {
    ctx.audit.defer('denied', ctx.principal.orgId, {
      ...spec,
      resourceId: targetIdOf(info),
      customerId: ctx.confinedToCustomer,
      details: { field: where, ...(permission ? { permission } : {}) },
    });
  }
  if (permission && ctx.confinedToCustomer && ctx.principal.permissions.has(permission as Permission)) {
    return forbidden(`${where} is not available in a customer's context (drop X-Customer-Id).`, { permission });
  }
  if (permission) return forbidden(`Your role does not grant ${permission}, which ${where} requires.`, { permission });
  if (spec) return forbidden(`Only the Owner can use ${where}.`);
  return forbidden(`You cannot use ${where}.`);
}
