/**
 * Ends each request's transaction when execution is done, before the response is written:
 * a client that receives a mutation's answer can rely on it being committed. A failed commit
 * replaces the answer with SERVICE_UNAVAILABLE and turns the Success events it carried into
 * Failures. Deferred audit events (failures, denials) are written after, in their own
 * transaction. Streams (@defer, subscriptions) are not enabled, so results are single.
 */
import { getOperationAST, GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type pg from 'pg';
import type { Context } from '../context.js';
import { ErrorCode, errorCodeOf, serviceUnavailable } from '../errors.js';
import { databaseUnavailable } from './faults.js';

export function useRequestTransaction(pool: pg.Pool): Plugin<Context> {
  return {
    // The context (and with it the transaction) is built after parsing: tell it whether the
    // operation is a query, which runs read-only (src/context.ts).
    onParse({ context: { params } }) {
      return ({ result, extendContext }) => {
        if (result && typeof result === 'object' && 'kind' in result && result.kind === 'Document') {
          const operation = getOperationAST(result, params?.operationName ?? undefined);
          extendContext({ readOnlyOperation: operation?.operation === 'query' } as Partial<Context>);
        }
      };
    },
    onExecute() {
      return {
        async onExecuteDone({ result, setResult, args }) {
          const ctx = args.contextValue as Context;
          if (isAsyncIterable(result)) {
            await ctx.db.abandon();
            return;
          }
          try {
            const outcome = await ctx.db.finish();
            if (outcome === 'committed') ctx.afterCommit?.();
            // COMMIT answers ROLLBACK when a later statement aborted the transaction: changes
            // already reported as done (their Success events with them) were not saved.
            else if (outcome === 'rolled back' && ctx.audit.hasPendingChanges && !ctx.db.rolledBackOnPurpose) {
              throw ctx.db.connectionLost
                ? databaseUnavailable('connection lost')
                : serviceUnavailable('The change could not be saved. Try again.', 1);
            }
          } catch (error) {
            const unknown = error instanceof GraphQLError && error.extensions?.outcome === 'UNKNOWN';
            ctx.audit.commitFailed(errorCodeOf(error) ?? ErrorCode.SERVICE_UNAVAILABLE, unknown);
            setResult({
              data: null,
              errors: [
                error instanceof GraphQLError ? error : new GraphQLError('Commit failed', { originalError: error as Error }),
              ],
            });
          }
          await ctx.audit.flush(pool, ctx.db.currentBinding);
        },
      };
    },
    // Belt and braces: a request that never reached onExecuteDone must not keep its client.
    onResponse({ serverContext }) {
      const ctx = serverContext as Partial<Context> | undefined;
      if (ctx?.db?.isOpen) return ctx.db.abandon().catch(() => {});
    },
  };
}
