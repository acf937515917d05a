/**
 * A stable `extensions.code` on every error. Resolver errors carry theirs (src/errors.ts);
 * parse and validation failures (including graphql-armor's limits) get GRAPHQL_PARSE_FAILED /
 * GRAPHQL_VALIDATION_FAILED here; anything unexpected is masked as INTERNAL_SERVER_ERROR with no
 * message, stack or SQL, and logged with the request id.
 */
import { GraphQLError } from 'graphql';
import { createGraphQLError, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Context } from '../context.js';
import { databaseFaultOf, databaseUnavailable } from '../db/faults.js';

function withCode(error: GraphQLError, code: string, limit?: string): GraphQLError {
  if (error.extensions?.code) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code, ...(limit ? { limit } : {}) },
  });
}

/** graphql-armor's messages name the limit; surface it for clients as `extensions.limit`. */
function armorLimit(message: string): string | undefined {
  if (/depth/i.test(message)) return 'depth';
  if (/alias/i.test(message)) return 'aliases';
  if (/token/i.test(message)) return 'tokens';
  if (/cost/i.test(message)) return 'cost';
  if (/directive/i.test(message)) return 'directives';
  return undefined;
}

export function useStableErrorCodes(): Plugin {
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError) {
          replaceParseResult(withCode(result, ErrorCode.GRAPHQL_PARSE_FAILED, armorLimit(result.message)));
        } else if (result instanceof Error) {
          replaceParseResult(createGraphQLError(result.message, { extensions: { code: ErrorCode.GRAPHQL_PARSE_FAILED } }));
        }
      };
    },
    onValidate() {
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map((e) => withCode(e, ErrorCode.GRAPHQL_VALIDATION_FAILED, armorLimit(e.message))));
      };
    },
  };
}

/** Logs what is about to be masked, while the request id is still at hand. */
export function useUnexpectedErrorLogging(): Plugin<Context> {
  return {
    onExecute() {
      return {
        onExecuteDone({ result, args }) {
          if (isAsyncIterable(result)) return;
          const ctx = args.contextValue as Context;
          for (const error of result.errors ?? []) {
            const original = error.originalError;
            if (original && !(original instanceof GraphQLError)) {
              ctx.logger.error({ err: original, path: error.path }, 'unexpected error in resolver');
            }
          }
        },
      };
    },
  };
}

function isOriginalGraphQLError(error: unknown): boolean {
  return error instanceof GraphQLError && (error.originalError == null || isOriginalGraphQLError(error.originalError));
}

function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

export function maskUnexpectedError(logger: Logger) {
  return (error: unknown, message: string): Error => {
    if (isOriginalGraphQLError(error)) return error as GraphQLError;
    // The database failing under any path (a pool query in the context factory, a loader, a
    // resolver that let it through) is a retryable 503, never a masked 200/500.
    const fault = databaseFaultOf(rootCause(error));
    if (fault) {
      const answer = databaseUnavailable(fault);
      if (error instanceof GraphQLError && error.path) {
        return new GraphQLError(answer.message, { nodes: error.nodes, path: error.path, extensions: answer.extensions });
      }
      return answer;
    }
    // Resolver errors were logged with their request id already; this is anything else.
    if (!(error instanceof GraphQLError)) logger.error({ err: error }, 'unexpected error outside execution');
    return createGraphQLError(message, {
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
      ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    });
  };
}
