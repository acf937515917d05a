/**
 * Executes operations through graphql-jit: each (document, operation) is compiled once into a
 * JavaScript function that walks exactly that selection, instead of graphql-js re-walking the
 * AST, collecting fields and coercing arguments on every request (issue 10's list profile had
 * the executor and its helpers at ~10 % of the gateway's CPU). Resolvers are the schema's own,
 * so scope-auth, the audit plugin and every loader run unchanged.
 *
 * Why not `@envelop/graphql-jit`: it caches by document alone, so a document holding two
 * operations would run the first one compiled whatever `operationName` asks for — while the
 * rate limits and the request log read the operation that was asked for. Here the cache is per
 * document *and* operation name. A document graphql-jit cannot compile runs on the default
 * executor (never an error for the client).
 *
 * A document is compiled on its second execution, not its first (as Mercurius' `jit: 1`): a
 * one-off document — an explorer's, or an attacker's stream of distinct ones — never pays for a
 * compilation (0.7–16 ms measured for list queries on the 2-core development machine, up to
 * several executions' worth of CPU), only documents that recur do.
 *
 * Must come before any plugin that wraps the execute function (OpenTelemetry's sets the
 * operation span around it): those wrap whatever is current when they run.
 */
import type { DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Logger } from '../logger.js';

/** Executions seen before compiling; then the compiled query, or the verdict that there is none. */
type Compiled = number | CompiledQuery | 'not compilable';

/** Executions of a document (and operation) on the default executor before it is compiled. */
const COMPILE_AFTER = 1;

export function useCompiledExecution(logger: Logger): Plugin {
  // Documents come from Yoga's parse cache (the same object for the same text), so a WeakMap
  // keeps compiled operations exactly as long as their documents are cached.
  const byDocument = new WeakMap<DocumentNode, Map<string, Compiled>>();

  const compiledFor = (schema: Parameters<typeof compileQuery>[0], document: DocumentNode, operationName?: string | null) => {
    let operations = byDocument.get(document);
    if (!operations) byDocument.set(document, (operations = new Map()));
    const key = operationName ?? '';
    let compiled = operations.get(key) ?? 0;
    if (typeof compiled === 'number') {
      if (compiled < COMPILE_AFTER) {
        operations.set(key, compiled + 1);
        return null;
      }
      const result = compileQuery(schema, document, operationName ?? undefined);
      if (isCompiledQuery(result)) compiled = result;
      else {
        // Validation already passed, so this is graphql-jit's limitation, not the client's error.
        logger.warn(
          { operationName: operationName ?? null, errors: result.errors?.map((e) => e.message) },
          'operation not compiled; executing it uncompiled',
        );
        compiled = 'not compilable';
      }
      operations.set(key, compiled);
    }
    return typeof compiled === 'number' || compiled === 'not compilable' ? null : compiled;
  };

  return {
    onExecute({ args, setExecuteFn }) {
      const compiled = compiledFor(args.schema, args.document, args.operationName);
      if (!compiled) return;
      setExecuteFn((execution) => compiled.query(execution.rootValue, execution.contextValue, execution.variableValues ?? {}));
    },
  };
}
