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
 * Compiled on the first execution, not after a few (as Mercurius' `jit: N` allows): graphql-jit's
 * answers are valid GraphQL but not byte-identical to graphql-js's (errors carry `locations`,
 * `errors` comes before `data`), and one document must always answer in one shape — above all
 * "another tenant's object answers exactly like a missing one", which clients and tests compare
 * byte for byte. A compilation costs 0.7–16 ms for list queries on the 2-core development
 * machine (up to a few executions' worth); a stream of distinct documents is bounded by the
 * operation limits (armor) and the rate limits like any other request.
 *
 * Not compiled (the default executor runs it, every time): a document that writes a literal for a
 * scalar whose literal parser reads variables — JSON, where `{ steps: $steps }` is legal.
 * graphql-jit parses such literals once, at compile time, with no variables, so `$steps` would
 * silently become undefined (test/graphql/workflows.test.ts shows it).
 *
 * Must come before any plugin that wraps the execute function (OpenTelemetry's sets the
 * operation span around it): those wrap whatever is current when they run.
 */
import {
  GraphQLScalarType,
  Kind,
  TypeInfo,
  getNamedType,
  visit,
  visitWithTypeInfo,
  BREAK,
  type ASTNode,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Logger } from '../logger.js';

type Compiled = CompiledQuery | 'not compilable';

export function useCompiledExecution(logger: Logger): Plugin {
  // Documents come from Yoga's parse cache (the same object for the same text), so a WeakMap
  // keeps compiled operations exactly as long as their documents are cached.
  const byDocument = new WeakMap<DocumentNode, Map<string, Compiled>>();

  const compiledFor = (schema: Parameters<typeof compileQuery>[0], document: DocumentNode, operationName?: string | null) => {
    let operations = byDocument.get(document);
    if (!operations) byDocument.set(document, (operations = new Map()));
    const key = operationName ?? '';
    let compiled = operations.get(key);
    if (!compiled) {
      if (writesVariableReadingLiteral(schema, document)) {
        operations.set(key, 'not compilable');
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
    return compiled === 'not compilable' ? null : compiled;
  };

  return {
    onExecute({ args, setExecuteFn }) {
      const compiled = compiledFor(args.schema, args.document, args.operationName);
      if (!compiled) return;
      setExecuteFn((execution) => compiled.query(execution.rootValue, execution.contextValue, execution.variableValues ?? {}));
    },
  };
}

const VALUE_KINDS: ReadonlySet<string> = new Set([
  Kind.OBJECT,
  Kind.LIST,
  Kind.STRING,
  Kind.INT,
  Kind.FLOAT,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
]);

/** A literal (not a variable) written where a scalar that reads variables in literals (JSON) is expected. */
function writesVariableReadingLiteral(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let found = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node: ASTNode) {
        if (!VALUE_KINDS.has(node.kind)) return undefined;
        const type = typeInfo.getInputType();
        const named = type ? getNamedType(type) : null;
        if (named instanceof GraphQLScalarType && named.parseLiteral.length > 1) {
          found = true;
          return BREAK;
        }
        return undefined;
      },
    }),
  );
  return found;
}
