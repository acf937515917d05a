/**
 * Audit as a resolver plugin (ARCHITECTURE.md §6). A mutation declares its audit
 * action once, with the field option `audit`; this Pothos plugin wraps its resolver, so no
 * resolver can forget to audit and none calls anything by hand:
 *  - the work and its Success event commit together in the request's transaction (a savepoint
 *    per mutation when several share an operation, so one failing leaves the others intact);
 *  - a failure rolls the work back and leaves a Failure event for after the rollback — Denied
 *    when the resolver itself raised FORBIDDEN;
 *  - a denial by the field's scope rule never reaches the resolver: scope-auth (listed before
 *    this plugin, so its check wraps this wrapper) writes that Denied event
 *    (src/authz/scopes.ts, `unauthorizedError`) under the same declared action.
 * A resolver only says what it touched, with `auditOutcome(info, result, { resourceId, … })`.
 * test/unit/audit-coverage.test.ts fails on a permission- or Owner-gated mutation that declares
 * no `audit`.
 */
import SchemaBuilder, {
  BasePlugin,
  PothosSchemaError,
  type FieldNullability,
  type InputFieldMap,
  type PothosOutputFieldConfig,
  type SchemaTypes,
  type TypeParam,
} from '@pothos/core';
import { isObjectType, type GraphQLFieldResolver, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { declaredScopes, type DeclaredScopes } from '../authz/field-rules.js';
import { specFromPermission, targetIdOf, type AuditSpec } from '../authz/scopes.js';
import type { Context } from '../context.js';
import { ErrorCode, errorCodeOf } from '../errors.js';

/**
 * A field's audit action: `{ action, resourceType }` (see `auditAs`), or `'permission'` for the
 * action named after the field's permission (`workflows.update` → `workflow.update`, resource
 * type `workflow`) — the name a Denied event for that permission carries anyway.
 */
export type AuditDeclaration = AuditSpec | 'permission';

/** What the resolver touched, for its Success event. Every part is optional. */
export interface AuditNote {
  resourceId?: string | null;
  /** Default: the customer the request is confined to (X-Customer-Id, End Users). */
  customerId?: string | null;
  details?: Record<string, unknown>;
  /**
   * No Success event from the plugin: the work already wrote it under another binding (e.g.
   * inside an organization it just created), or there is nothing to record (an empty poll).
   */
  successRecorded?: boolean;
}

declare global {
  export namespace PothosSchemaTypes {
    export interface Plugins<Types extends SchemaTypes> {
      audit: PothosAuditPlugin<Types>;
    }
    export interface FieldOptions<
      Types extends SchemaTypes,
      ParentShape,
      Type extends TypeParam<Types>,
      Nullable extends FieldNullability<Type>,
      Args extends InputFieldMap,
      ResolveShape,
      ResolveReturnShape,
    > {
      /**
       * The audit action. On a mutation: the plugin records Success/Failure/Denied around the
       * resolver. On a read: the name of the Denied event its scope rule writes (reads that
       * succeed are not audited).
       */
      audit?: AuditDeclaration;
    }
  }
}

/** The note of each audited call in flight, keyed by its `info` (one object per field call). */
const notes = new WeakMap<GraphQLResolveInfo, AuditNote>();

/**
 * Describes the Success event of the audited mutation being resolved, and returns `result`
 * (so a resolver ends with `return auditOutcome(info, row, { resourceId: row.id })`). Throws on
 * a field the plugin does not wrap: a note there would be silently lost.
 */
export function auditOutcome<T>(info: GraphQLResolveInfo, result: T, note: AuditNote): T {
  const slot = notes.get(info);
  if (!slot) throw new Error(`${info.parentType.name}.${info.fieldName} is not an audited mutation (declare \`audit\` on it)`);
  Object.assign(slot, note);
  return result;
}

/** Several root mutations in one operation each get a savepoint; a lone one needs none. */
export function needsSavepoint(info: GraphQLResolveInfo): boolean {
  const selections = info.operation.selectionSet.selections;
  return !(selections.length === 1 && selections[0]!.kind === 'Field');
}

async function runAudited(spec: AuditSpec, ctx: Context, info: GraphQLResolveInfo, work: () => unknown): Promise<unknown> {
  const note: AuditNote = {};
  notes.set(info, note);
  try {
    return await ctx.db.mutation(needsSavepoint(info), async () => {
      const result = await work();
      if (note.successRecorded) return result;
      await ctx.audit.success(ctx.db, {
        ...spec,
        resourceId: note.resourceId ?? null,
        customerId: note.customerId ?? ctx.confinedToCustomer,
        details: note.details,
      });
      return result;
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
  } finally {
    notes.delete(info);
  }
}

function fieldName(fieldConfig: { parentType: unknown; name: string }): string {
  return `${String(fieldConfig.parentType)}.${fieldConfig.name}`;
}

export class PothosAuditPlugin<Types extends SchemaTypes> extends BasePlugin<Types> {
  /** Resolves the declaration into `extensions.audit`, where the Denied path and the walker read it. */
  override onOutputFieldConfig(fieldConfig: PothosOutputFieldConfig<Types>): PothosOutputFieldConfig<Types> {
    const declared = (fieldConfig.pothosOptions as { audit?: AuditDeclaration }).audit;
    if (fieldConfig.extensions?.audit) {
      // One way to declare it, so the plugin sees every audited field.
      throw new PothosSchemaError(
        `${fieldName(fieldConfig)}: declare the audit action with the \`audit\` field option, not in extensions`,
      );
    }
    if (!declared) return fieldConfig;
    let spec: AuditSpec;
    if (declared === 'permission') {
      const permission = (fieldConfig.pothosOptions as { authScopes?: { permission?: unknown } }).authScopes?.permission;
      if (typeof permission !== 'string') {
        throw new PothosSchemaError(
          `${fieldName(fieldConfig)}: audit: 'permission' needs an authScopes permission to name it after`,
        );
      }
      spec = specFromPermission(permission);
    } else {
      spec = { action: declared.action, resourceType: declared.resourceType };
    }
    return { ...fieldConfig, extensions: { ...fieldConfig.extensions, audit: spec } };
  }

  override wrapResolve(
    resolver: GraphQLFieldResolver<unknown, Types['Context'], object>,
    fieldConfig: PothosOutputFieldConfig<Types>,
  ): GraphQLFieldResolver<unknown, Types['Context'], object> {
    const spec = fieldConfig.extensions?.audit as AuditSpec | undefined;
    if (!spec || fieldConfig.kind !== 'Mutation') return resolver;
    return (parent, args, ctx, info) => runAudited(spec, ctx as Context, info, () => resolver(parent, args, ctx, info));
  }
}

SchemaBuilder.registerPlugin('audit', PothosAuditPlugin);

/**
 * Whether a rule requires a permission (the organization's or a workspace's project permission)
 * or an Owner capability, at any depth of `$any`/`$all`. A rule computed per call may: it counts.
 */
export function requiresPermissionOrOwner(scopes: DeclaredScopes): boolean {
  if (!scopes) return false;
  if (typeof scopes === 'function') return true;
  return Object.entries(scopes).some(([key, parameter]) => {
    if (key === '$any' || key === '$all') return requiresPermissionOrOwner(parameter as DeclaredScopes);
    if (key === 'permission' || key === 'projectPermission') return typeof parameter === 'string';
    return key === 'organizationOwner' && parameter !== false;
  });
}

/**
 * The plugin-coverage walker: what is wrong with the audit declarations of a schema built with
 * this plugin (empty: nothing; sorted). `auditedByResolver` names the mutations that may file their
 * events themselves (in another organization), with the reason.
 *  - A mutation whose rule requires a permission or an Owner capability must declare `audit`.
 *  - Every other mutation too, unless it is on `auditedByResolver` (and then it must not).
 *  - A read's `audit` only names the Denied event of its rule: it needs a rule that can deny.
 */
export function auditCoverageProblems(schema: GraphQLSchema, auditedByResolver: Readonly<Record<string, string>> = {}): string[] {
  const problems: string[] = [];
  const mutation = schema.getMutationType();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const where = `${type.name}.${field.name}`;
      const audited = Boolean(field.extensions?.audit);
      const gated = requiresPermissionOrOwner(declaredScopes(field));
      if (type === mutation) {
        const byResolver = Object.hasOwn(auditedByResolver, field.name);
        if (gated && !audited) problems.push(`${where}: requires a permission or the Owner but declares no \`audit\``);
        else if (!audited && !byResolver) problems.push(`${where}: declares no \`audit\` and is not listed as auditing itself`);
        else if (audited && byResolver) problems.push(`${where}: listed as auditing itself, yet declares \`audit\``);
      } else if (audited && !gated) {
        problems.push(`${where}: declares \`audit\` on a read whose rule requires no permission (nothing to deny)`);
      }
    }
  }
  for (const name of Object.keys(auditedByResolver)) {
    if (!mutation?.getFields()[name]) problems.push(`Mutation.${name}: listed as auditing itself, but there is no such mutation`);
  }
  return problems.sort();
}

export default 'audit' as const;
