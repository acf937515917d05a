/**
 * Scope rules for Pothos scope-auth, and what happens when one fails: a FORBIDDEN (or
 * UNAUTHENTICATED) error with a stable code, and a Denied audit event for permission checks.
 */
import { getArgumentValues, type GraphQLField, type GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.js';
import { ErrorCode, forbidden, gatewayError } from '../errors.js';
import { systemRole, type Permission, type ProjectPermission } from './permissions.js';

/**
 * In a customer's context (End Users; staff sending X-Customer-Id) the database shows one
 * customer and nothing org-internal, so only customer-scoped capabilities make sense there: a
 * caller holds their permissions ∩ the End User role's. Anything else would be a silent no-op
 * (RLS hides the rows) dressed up as a success.
 */
const CUSTOMER_CONTEXT: ReadonlySet<Permission> = new Set(systemRole('end_user').permissions);

/** What a member holding `held` may do in this context; the database binds the same set. */
export function effectivePermissions(held: ReadonlySet<Permission>, inCustomerContext: boolean): ReadonlySet<Permission> {
  if (!inCustomerContext) return held;
  // A principal's set is built once and read for every object a request returns: filter it once.
  let confined = customerContextSets.get(held);
  if (!confined) {
    confined = new Set([...held].filter((p) => CUSTOMER_CONTEXT.has(p)));
    customerContextSets.set(held, confined);
  }
  return confined;
}

const customerContextSets = new WeakMap<ReadonlySet<Permission>, ReadonlySet<Permission>>();

export function heldPermissions(ctx: Context): ReadonlySet<Permission> {
  // In a workspace: organization permissions ∪ the project role's translation (workspace-access.ts).
  if (ctx.workspace) return ctx.workspace.permissions;
  return effectivePermissions(ctx.principal?.permissions ?? new Set<Permission>(), ctx.confinedToCustomer !== null);
}

function holdsProjectPermission(ctx: Context, permission: ProjectPermission): boolean {
  return ctx.workspace?.projectPermissions.has(permission) ?? false;
}

export function scopesFor(ctx: Context) {
  const held = heldPermissions(ctx);
  const principal = ctx.principal;
  return {
    public: true,
    authenticated: ctx.caller.kind !== 'anonymous',
    person: ctx.caller.kind === 'user',
    member: principal !== null && principal.status === 'active',
    permission: (permission: Permission) => held.has(permission),
    // Capabilities of the Owner as a person: no key ever transfers or deletes an organization.
    organizationOwner: principal?.kind === 'member' && principal.roleKey === 'owner' && !ctx.confinedToCustomer,
    runner: principal?.kind === 'service' && principal.serviceKind === 'runner' && principal.status === 'active',
    projectPermission: (permission: ProjectPermission) => holdsProjectPermission(ctx, permission),
  };
}

type ReadScope = { permission: Permission } | { projectPermission: ProjectPermission };

/** The rule a type declares when it is read with `scope`, or as the result of one's own change. */
export type ReadOrMutationResult<S extends ReadScope> = S & { $granted: 'mutationResult' };

/**
 * A type's rule: readable with `scope` (a permission, or a project permission in a workspace), or
 * as the object a mutation of the caller's returned (`$granted: 'mutationResult'`, see builder.ts).
 *
 * Declared as that map, and read back as it (`declaredScopes` in field-rules.ts: the @auth
 * directive, the descriptions, the rate limiter's early check). Evaluated per object as the same
 * map without `$granted` when the caller holds `scope`: scope-auth evaluates a map with
 * `$granted` again for every field of every object, building the field's whole response path as
 * a string each time (28 % of the bytes a 50-row list page allocated), whereas a map without it is
 * decided once per request. Both maps pass exactly when the caller holds `scope`; a caller
 * without it gets the declared map, evaluated as before.
 *
 * For a type's `authScopes` only (a field's rule function gets the arguments, not the context).
 * The non-holder path relies on scope-auth ≥ 4.2.1 checking `$granted` per response path for a
 * type's rule function (earlier versions cached it per parent object);
 * test/unit/read-or-mutation-result.test.ts compares it with the plain map, caller by caller.
 */
export function readOrMutationResult<S extends ReadScope>(scope: S) {
  const declared = { ...scope, $granted: 'mutationResult' } as ReadOrMutationResult<S>;
  const holds =
    'permission' in scope
      ? (ctx: Context) => heldPermissions(ctx).has(scope.permission)
      : (ctx: Context) => holdsProjectPermission(ctx, scope.projectPermission);
  const typeRule = (_parent: unknown, ctx: Context): S | ReadOrMutationResult<S> => (holds(ctx) ? scope : declared);
  return Object.assign(typeRule, { declaredScopes: declared });
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

function failedScope(result: Failure, scope: string): boolean {
  return result.scope === scope || (result.failures ?? []).some((inner) => failedScope(inner, scope));
}

function failedPermission(result: Failure): string | null {
  if ((result.scope === 'permission' || result.scope === 'projectPermission') && typeof result.parameter === 'string')
    return result.parameter;
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
  const failure = (result as { failure?: Failure }).failure ?? (result as Failure);
  if (failedScope(failure, 'person') && ctx.caller.kind === 'service') {
    return forbidden(`${where} is for people; a service principal cannot use it.`);
  }
  if (!ctx.principal) {
    return forbidden(`${where} needs an organization: send the X-Organization-Id header with one you belong to.`);
  }
  // Pothos hands over { message, failure }, the failure being a tree of scope checks.
  const permission = failedPermission(failure);
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
  if (permission?.startsWith('project.') && !ctx.workspace) {
    return forbidden(`${where} acts in a workspace: send the X-Workspace-Id header.`, { permission });
  }
  if (permission) return forbidden(`Your role does not grant ${permission}, which ${where} requires.`, { permission });
  if (failedScope(failure, 'runner')) return forbidden(`Only a runner key can use ${where}.`);
  if (spec) return forbidden(`Only the Owner can use ${where}.`);
  return forbidden(`You cannot use ${where}.`);
}
