/**
 * Rate limits, in the request path's order (ARCHITECTURE.md §4): JWT → context → PostgreSQL variables → permissions → rate
 * limit. By the time an operation executes, its caller is verified and bound (src/context.ts);
 * here each root-field call is first judged by its permission rule (the field's declared scopes,
 * evaluated with scope-auth's own loaders) and then counted:
 *
 *  - A signed-in caller: per user and per root field (RATE_LIMIT_USER_MAX), and per organization
 *    and root field (RATE_LIMIT_ORG_MAX). Each occurrence in a document counts, so aliases cannot
 *    multiply a budget.
 *  - No verified token: per client IP (RATE_LIMIT_IP_MAX, all fields together). Failed sign-ins
 *    (401) and refused organization/customer headers (403) count there too
 *    (`limitRefusedRequests`), so token guessing, id probing and anonymous floods are bounded
 *    like everything else.
 *  - A denied call is counted against the caller's own budget (user or IP), so probing stays
 *    bounded: once over, the caller gets 429 whatever they try. It is not counted against the
 *    organization's budget, so one member's probing cannot use up their colleagues' budget.
 *
 * Over a limit the operation does not run: HTTP 429, a numeric Retry-After, RATE_LIMITED.
 *
 * Counting goes through the store layer (src/ratelimit/stores.ts): read the caller's recent
 * calls, then write them back with this one — every read is followed by a counted call, which
 * RedisStore relies on (it records the call atomically at read time).
 */
import { isPromise } from 'node:util/types';
import type { Identity, Store } from '@envelop/rate-limiter';
import {
  getOperationAST,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import { declaredScopes, passes } from '../authz/field-rules.js';
import { clientIpOf, normalizeIp, type Context, type ServerContext } from '../context.js';
import { ErrorCode, errorCodeOf, rateLimited } from '../errors.js';
import { MemoryStore } from './stores.js';

export interface RateLimitOptions {
  windowMs: number;
  userMax: number;
  orgMax: number;
  ipMax: number;
  store: Store;
}

/** All calls without a verified token from one address share one budget. */
const ANONYMOUS_FIELD = '(no verified token)';

interface Bucket {
  identity: Identity;
  max: number;
  per: 'user' | 'organization' | 'client IP';
  field: string;
}

/**
 * Counts one call; true when it is over the limit (it is counted all the same). With a
 * synchronous store (MemoryStore) the read and the write happen without yielding, so concurrent
 * requests cannot both read the same count; RedisStore is exact on its own (it records at read).
 */
function countCall(store: Store, identity: Identity, windowMs: number, max: number): boolean | Promise<boolean> {
  const now = Date.now();
  // The memory store counts in place (amortized O(1)); the others read, then write back.
  if (store instanceof MemoryStore) return store.record(identity, now, windowMs, max);
  const record = (timestamps: readonly number[]) => {
    const recent = timestamps.filter((t) => t + windowMs > now);
    const over = recent.length + 1 > max;
    const written = store.setForIdentity(identity, [...recent, now], windowMs);
    return isPromise(written) ? written.then(() => over) : over;
  };
  const read = store.getForIdentity(identity);
  return isPromise(read) ? read.then(record) : record(read);
}

/**
 * The root-field calls of each (schema, operation), computed once. Yoga's parse cache hands the
 * same DocumentNode (and so the same operation node) to every request with the same text, so a
 * WeakMap keyed by the operation node turns the per-request TypeInfo walk into a lookup; the entry
 * goes when the parse cache drops the document. Keyed by the node, not by the operation name a
 * client sends, so made-up names cannot grow it. The document is never changed or replaced, so
 * Yoga's and Envelop's per-document caches keep working.
 */
const rootFieldCallsCache = new WeakMap<
  GraphQLSchema,
  WeakMap<OperationDefinitionNode, readonly GraphQLField<unknown, unknown>[]>
>();

/** Every occurrence of a root field in the executed operation (fragments on the root included). */
export function rootFieldCalls(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
): readonly GraphQLField<unknown, unknown>[] {
  const operation = getOperationAST(document, operationName);
  if (!operation) return [];
  let bySchema = rootFieldCallsCache.get(schema);
  if (!bySchema) rootFieldCallsCache.set(schema, (bySchema = new WeakMap()));
  let calls = bySchema.get(operation);
  if (!calls) bySchema.set(operation, (calls = computeRootFieldCalls(schema, document, operation)));
  return calls;
}

function computeRootFieldCalls(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): readonly GraphQLField<unknown, unknown>[] {
  const root = schema.getRootType(operation.operation);
  if (!root) return [];
  const typeInfo = new TypeInfo(schema);
  const calls: GraphQLField<unknown, unknown>[] = [];
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  visit(
    { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] },
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        if (field && typeInfo.getParentType() === root) calls.push(field);
      },
    }),
  );
  return Object.freeze(calls);
}

function message(bucket: Bucket, seconds: number): string {
  const what = bucket.per === 'client IP' ? 'Calls without a valid token' : bucket.field;
  return `Rate limit exceeded: ${what} allows ${bucket.max} calls per ${seconds} s per ${bucket.per}. Retry after ${seconds} s.`;
}

/**
 * Per person, per key (each service principal has a budget of its own, apart from its
 * creator's), or per client IP.
 */
function callerBucket(options: RateLimitOptions, ctx: Context, field: string): Bucket {
  return ctx.caller.kind !== 'anonymous'
    ? {
        identity: {
          contextIdentity: ctx.caller.kind === 'service' ? `key:${ctx.caller.servicePrincipalId}` : `user:${ctx.caller.userId}`,
          fieldIdentity: field,
        },
        max: options.userMax,
        per: 'user',
        field,
      }
    : {
        identity: { contextIdentity: `ip:${ctx.clientIp ?? 'unknown'}`, fieldIdentity: ANONYMOUS_FIELD },
        max: options.ipMax,
        per: 'client IP',
        field,
      };
}

/** The organization's budget for a field; none outside an organization. */
function organizationBucket(options: RateLimitOptions, ctx: Context, field: string): Bucket | null {
  return ctx.principal
    ? {
        identity: { contextIdentity: `org:${ctx.principal.orgId}`, fieldIdentity: field },
        max: options.orgMax,
        per: 'organization',
        field,
      }
    : null;
}

export function useRateLimits(options: RateLimitOptions): Plugin {
  const seconds = Math.max(1, Math.ceil(options.windowMs / 1000));
  const refuse = (refused: Bucket | null) => {
    if (refused) throw rateLimited(message(refused, seconds), seconds);
  };
  return {
    // Synchronous while the store is (the memory store): no promise per request for nothing.
    onExecute({ args }) {
      const ctx = args.contextValue as unknown as Context;
      const refused = countFields(options, ctx, rootFieldCalls(args.schema, args.document, args.operationName), 0, null);
      return isPromise(refused) ? refused.then(refuse) : refuse(refused);
    },
  };
}

/** Counts the calls from `from` on, one after the other; the first bucket that refused one, or null. */
function countFields(
  options: RateLimitOptions,
  ctx: Context,
  fields: readonly GraphQLField<unknown, unknown>[],
  from: number,
  refused: Bucket | null,
): Bucket | null | Promise<Bucket | null> {
  for (let i = from; i < fields.length; i++) {
    const field = fields[i]!;
    // Permissions first: a denied call spends its caller's budget, not the organization's.
    const counted = countCallOf(options, ctx, field.name, passes(declaredScopes(field), ctx));
    if (isPromise(counted)) return counted.then((bucket) => countFields(options, ctx, fields, i + 1, refused ?? bucket));
    refused ??= counted;
  }
  return refused;
}

/**
 * One call of root field `field` against its budgets: the caller's (a denied call too), then the
 * organization's (permitted calls only). The bucket that refused it, or null.
 */
function countCallOf(
  options: RateLimitOptions,
  ctx: Context,
  field: string,
  permitted: boolean,
): Bucket | null | Promise<Bucket | null> {
  const caller = callerBucket(options, ctx, field);
  const afterCaller = (over: boolean): Bucket | null | Promise<Bucket | null> => {
    if (over) return caller; // refused at the caller's limit: the organization's budget is not spent
    const organization = permitted ? organizationBucket(options, ctx, field) : null;
    if (!organization) return null;
    const orgCounted = countCall(options.store, organization.identity, options.windowMs, organization.max);
    return isPromise(orgCounted)
      ? orgCounted.then((orgOver) => (orgOver ? organization : null))
      : orgCounted
        ? organization
        : null;
  };
  const counted = countCall(options.store, caller.identity, options.windowMs, caller.max);
  return isPromise(counted) ? counted.then(afterCaller) : afterCaller(counted);
}

/**
 * Requests refused before any field runs count against the client IP's budget: failed sign-ins
 * (401) and refused organization or customer headers (403, e.g. someone trying organization
 * ids). The refusal stands while the address is within its budget and becomes 429 once it is
 * over: no further verdicts on guessed tokens or ids.
 */
export function limitRefusedRequests<C>(
  createContext: (initial: YogaInitialContext & ServerContext) => Promise<C>,
  options: RateLimitOptions & { trustProxy: boolean },
): (initial: YogaInitialContext & ServerContext) => Promise<C> {
  const seconds = Math.max(1, Math.ceil(options.windowMs / 1000));
  // One promise per request, not an async wrapper around the context's own.
  return (initial) =>
    createContext(initial).catch(async (error: unknown) => {
      const code = errorCodeOf(error);
      if (code !== ErrorCode.UNAUTHENTICATED && code !== ErrorCode.FORBIDDEN) throw error;
      const ip = normalizeIp(clientIpOf(initial.request, options.trustProxy, initial.req?.socket?.remoteAddress ?? null));
      const identity = { contextIdentity: `ip:${ip ?? 'unknown'}`, fieldIdentity: ANONYMOUS_FIELD };
      const counted = countCall(options.store, identity, options.windowMs, options.ipMax);
      if (isPromise(counted) ? await counted : counted) {
        throw rateLimited(message({ identity, max: options.ipMax, per: 'client IP', field: ANONYMOUS_FIELD }, seconds), seconds);
      }
      throw error;
    });
}

/**
 * The same budgets for an HTTP route outside GraphQL (GET /audit/export counts as the root field
 * `auditExport`): the caller's (a denied call too), then the organization's (permitted calls
 * only). Throws RATE_LIMITED (429) when over.
 */
export async function limitRouteCall(options: RateLimitOptions, ctx: Context, field: string, permitted: boolean): Promise<void> {
  const seconds = Math.max(1, Math.ceil(options.windowMs / 1000));
  const refused = await countCallOf(options, ctx, field, permitted);
  if (refused) throw rateLimited(message(refused, seconds), seconds);
}
