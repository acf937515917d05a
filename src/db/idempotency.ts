/**
 * Safe retries for mutations: the `Idempotency-Key` header (README, "Safe retries").
 *
 * Before a mutation runs, its key is claimed in the request's own transaction (a row keyed by
 * organization, principal and key, with a fingerprint of the operation and its variables);
 * just before COMMIT the result is written into that row. So the change, its audit event and
 * the stored result commit together, or none of them does:
 *  - a retry of a committed request replays the stored result: no second change, no second
 *    audit event (`extensions.idempotency.replayed: true`, header `Idempotent-Replayed: true`);
 *  - a first attempt that failed or rolled back left no row: the retry runs for real;
 *  - a concurrent duplicate waits on the row's unique key until the first commits (then
 *    replays) or rolls back (then runs) — bounded by lock_timeout, after which it gets a
 *    retryable 503;
 *  - the same key with a different request is refused: `IDEMPOTENCY_KEY_REUSED` (HTTP 422).
 * Keys expire after IDEMPOTENCY_KEY_TTL (24 h) and are purged; an expired key is free again.
 */
import { createHash } from 'node:crypto';
import { GraphQLError, Kind, print, type DocumentNode, type ExecutionResult, type OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { OnExecuteHookResult } from '@envelop/core';
import type pg from 'pg';
import { ORGANIZATION_HEADER, type Context } from '../context.js';
import { badUserInput, ErrorCode, gatewayError } from '../errors.js';
import type { Logger } from '../logger.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

/** Canonical JSON (sorted object keys), so `{a, b}` and `{b, a}` are one request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * What makes two requests "the same": the operation, its variables, and the customer the
 * request is confined to (X-Customer-Id changes what a mutation touches, so the same body in
 * another customer's scope is another request). The organization is the key's scope already.
 */
export function requestFingerprint(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: unknown,
  confinedToCustomer: string | null = null,
  workspaceId: string | null = null,
): string {
  const parts: unknown[] = [print(document), operationName ?? null, variables ?? {}];
  // Unconfined requests keep the fingerprint they always had (keys stored before this change).
  if (confinedToCustomer) parts.push({ customer: confinedToCustomer });
  // The workspace in use (X-Workspace-Id) changes what a mutation touches too.
  if (workspaceId) parts.push({ workspace: workspaceId });
  return createHash('sha256').update(canonical(parts)).digest('hex');
}

function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
}

export function idempotencyKeyReused(): GraphQLError {
  return gatewayError(
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    'This Idempotency-Key was already used for a different request (operation or variables). Use a new key for a new request.',
    { field: 'Idempotency-Key' },
    { status: 422 },
  );
}

/** What a stored result looks like: JSON, errors reduced to what a client saw. */
interface StoredResult {
  data?: unknown;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

function toStored(result: ExecutionResult): StoredResult {
  return {
    data: result.data ?? null,
    ...(result.errors?.length
      ? {
          errors: result.errors.map((error) => {
            // Store only what a client may see: an unexpected error is stored as its mask.
            const expected = typeof error.extensions?.code === 'string';
            return {
              message: expected ? error.message : 'Unexpected error.',
              ...(error.path ? { path: [...error.path] } : {}),
              extensions: expected ? { ...error.extensions } : { code: ErrorCode.INTERNAL_SERVER_ERROR },
            };
          }),
        }
      : {}),
  };
}

function fromStored(stored: StoredResult): ExecutionResult {
  return {
    data: (stored.data ?? null) as ExecutionResult['data'],
    ...(stored.errors
      ? { errors: stored.errors.map((e) => new GraphQLError(e.message, { path: e.path, extensions: e.extensions })) }
      : {}),
    extensions: { idempotency: { replayed: true } },
  };
}

/** Keys are filed under the organization the client named, or under none (the nil uuid). */
const NO_ORGANIZATION = '00000000-0000-0000-0000-000000000000';
/** The caller's key row; `$1` is the key, `$2` the organization scope. */
const OWN_KEY = `org_id = $2::uuid and user_id = app_public.current_user_id() and idempotency_key = $1`;

/** Requests whose answers were replays, for the response header. */
const replayed = new WeakSet<Request>();

type OnExecute = NonNullable<Plugin<Context>['onExecute']>;

export function useIdempotencyKeys(ttlMs: number): Plugin<Context> {
  return {
    // Not async: a request without the header (nearly all) should not pay for a promise.
    onExecute(hook) {
      const ctx = hook.args.contextValue as Context & { request?: Request };
      const key = ctx.request?.headers.get(IDEMPOTENCY_KEY_HEADER);
      if (key == null || !ctx.request) return;
      return claimOrReplay(hook, ctx.request, key, ttlMs);
    },
    onResponse({ request, response }) {
      if (replayed.has(request)) response.headers.set(REPLAYED_HEADER, 'true');
    },
  };
}

async function claimOrReplay(
  { args, setResultAndStopExecution }: Parameters<OnExecute>[0],
  request: Request,
  key: string,
  ttlMs: number,
): Promise<OnExecuteHookResult<Context> | void> {
  const ctx = args.contextValue as Context;
  const operation = operationOf(args.document, args.operationName);
  // Queries are safe to repeat; the header means nothing there.
  if (operation?.operation !== 'mutation') return;
  if (!KEY_SHAPE.test(key)) {
    setResultAndStopExecution({
      errors: [badUserInput('Idempotency-Key', 'must be 1–255 visible ASCII characters (a UUID is a good choice)')],
    });
    return;
  }
  // Keys belong to a principal; an anonymous mutation fails on its own, with nothing to keep.
  if (ctx.caller.kind !== 'user') return;
  const fingerprint = requestFingerprint(
    args.document,
    args.operationName,
    args.variableValues,
    ctx.confinedToCustomer,
    ctx.workspace?.workspaceId ?? null,
  );
  // Scoped by what the client sent, not by the default organization it acted in: creating an
  // organization changes the default, and the retry must still find its key.
  const scope = request.headers.get(ORGANIZATION_HEADER) && ctx.principal ? ctx.principal.orgId : NO_ORGANIZATION;

  const claimed = await ctx.db.query<{ claimed: boolean }>(
    `insert into idempotency_keys as k (org_id, user_id, idempotency_key, fingerprint, expires_at)
     values ($4, app_public.current_user_id(), $1, $2, now() + make_interval(secs => $3::double precision / 1000))
     on conflict (org_id, user_id, idempotency_key) do update
       set fingerprint = excluded.fingerprint, result = null, created_at = clock_timestamp(), expires_at = excluded.expires_at
       where k.expires_at <= now()
     returning true as claimed`,
    [key, fingerprint, ttlMs, scope],
  );
  if (claimed.rowCount) {
    const claim = { key };
    ctx.idempotency = claim;
    return {
      // Runs before the request transaction's commit (this plugin is listed before it).
      async onExecuteDone({ result }) {
        if (isAsyncIterable(result)) return;
        // A rolled-back request takes its claim with it: the retry runs for real.
        if (ctx.db.rolledBackOnPurpose || ctx.db.connectionLost) return;
        try {
          if (result.errors?.length && !ctx.audit.hasPendingChanges) {
            // Nothing was changed (denied, invalid…), yet the transaction commits (a denial
            // is not a rollback): free the key, so a retry runs for real, as documented.
            await ctx.db.query(`delete from idempotency_keys where ${OWN_KEY}`, [key, scope]);
          } else {
            await ctx.db.query(`update idempotency_keys set result = $3 where ${OWN_KEY}`, [
              key,
              scope,
              JSON.stringify(toStored(result)),
            ]);
          }
        } catch (error) {
          // The transaction is doomed now; its commit fails and answers for it.
          ctx.logger.warn({ err: error }, 'could not store the idempotent result');
        }
      },
    };
  }
  // Someone committed this key first (we waited on its row if it was still running).
  const { rows } = await ctx.db.query<{ fingerprint: string; result: StoredResult | null }>(
    `select fingerprint, result from idempotency_keys where ${OWN_KEY}`,
    [key, scope],
  );
  const stored = rows[0];
  if (!stored || stored.fingerprint !== fingerprint) {
    setResultAndStopExecution({ errors: [idempotencyKeyReused()] });
    return;
  }
  if (!stored.result) {
    setResultAndStopExecution({
      errors: [
        gatewayError(
          ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
          'A request with this Idempotency-Key is still running.',
          {},
          { status: 409 },
        ),
      ],
    });
    return;
  }
  replayed.add(request);
  setResultAndStopExecution(fromStored(stored.result));
}

/** Deletes expired keys every `everyMs` (any replica may; the function deletes only expired rows). */
export function scheduleIdempotencyPurge(pool: pg.Pool, logger: Logger, everyMs: number): () => Promise<void> {
  const timer = setInterval(() => {
    purgeExpiredIdempotencyKeys(pool)
      .then((purged) => purged > 0 && logger.info({ purged }, 'expired idempotency keys purged'))
      .catch((error) => logger.warn({ err: error }, 'idempotency key purge failed'));
  }, everyMs);
  timer.unref();
  return async () => clearInterval(timer);
}

export async function purgeExpiredIdempotencyKeys(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ purged: string }>('select app_private.purge_expired_idempotency_keys() as purged');
  return Number(rows[0]!.purged);
}
