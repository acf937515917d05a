/**
 * Input PostgreSQL would refuse is refused here first, once, for every argument of every field:
 * a string (or a JSON key or value) with the NUL character (text and jsonb cannot hold U+0000)
 * or with a lone UTF-16 surrogate (not Unicode at all: pg would store a replacement character in
 * text and jsonb refuses the escape). The answer is BAD_USER_INPUT naming the field
 * (`input.definition.steps.0.name`), before any resolver runs — instead of a masked internal
 * error from the database, or a silently altered value. Central, so a new field is covered
 * without a line of its own (test/graphql/storable-input.test.ts generates a case per
 * string and JSON argument in the schema).
 */
import {
  getArgumentValues,
  getNamedType,
  isEnumType,
  isScalarType,
  getOperationAST,
  getVariableValues,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { storableTextProblem as problemWith } from '../db/storable-text.js';
import { badUserInput } from '../errors.js';

export interface UnstorableInput {
  field: string;
  message: string;
}

/** Walks a value iteratively (JSON arguments may nest deeply), keys included. */
export function findUnstorableValue(value: unknown, path: string): UnstorableInput | null {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length) {
    const [current, where] = stack.pop()!;
    if (typeof current === 'string') {
      const message = problemWith(current);
      if (message) return { field: where, message };
    } else if (Array.isArray(current)) {
      current.forEach((item, i) => stack.push([item, `${where}.${i}`]));
    } else if (current !== null && typeof current === 'object' && !(current instanceof Date)) {
      for (const [key, item] of Object.entries(current)) {
        const message = problemWith(key);
        if (message) return { field: where, message: `has a key that ${message}` };
        stack.push([item, `${where}.${key}`]);
      }
    }
  }
  return null;
}

/** A field node with arguments in an operation (or its document's fragments), with its definition. */
interface ArgumentSite {
  field: GraphQLField<unknown, unknown>;
  node: FieldNode;
}

const NO_TEXT = new Set(['Int', 'Float', 'Boolean']);

/**
 * Whether a value of this input type can hold a string anywhere: any scalar but Int, Float and
 * Boolean (ID, String, JSON — its keys too — DateTime…), through lists and input objects.
 * Runs once per argument site of a new operation (then cached with it), so no memo of its own.
 */
function mayHoldText(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type);
  if (isEnumType(named)) return false;
  if (isScalarType(named)) return !NO_TEXT.has(named.name);
  if (seen.has(named.name)) return false; // a recursive input type: the cycle adds nothing new
  seen.add(named.name);
  return Object.values(named.getFields()).some((f) => mayHoldText(f.type, seen));
}

/**
 * The argument sites of each (schema, operation), found once: the TypeInfo walk depends only on
 * the document, which Yoga's parse cache shares between requests with the same text; only the
 * values (variables) differ per request. Keyed by the operation node, so made-up operation names
 * cannot grow it, and dropped with the document. The document is never changed.
 */
const argumentSitesCache = new WeakMap<GraphQLSchema, WeakMap<OperationDefinitionNode, readonly ArgumentSite[]>>();

function argumentSites(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): readonly ArgumentSite[] {
  let bySchema = argumentSitesCache.get(schema);
  if (!bySchema) argumentSitesCache.set(schema, (bySchema = new WeakMap()));
  let sites = bySchema.get(operation);
  if (sites) return sites;
  const found: ArgumentSite[] = [];
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  const typeInfo = new TypeInfo(schema);
  visit(
    { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] },
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (!node.arguments?.length) return;
        const field = typeInfo.getFieldDef();
        // Only arguments that can carry text need a look (first: Int, an enum… cannot).
        if (field && field.args.some((arg) => mayHoldText(arg.type))) found.push({ field, node });
      },
    }),
  );
  sites = Object.freeze(found);
  bySchema.set(operation, sites);
  return sites;
}

/** The first argument of the executed operation whose value the database would refuse. */
export function findUnstorableInput(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Record<string, unknown> | null | undefined,
): UnstorableInput | null {
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const sites = argumentSites(schema, document, operation);
  if (!sites.length) return null; // no arguments anywhere: nothing to store
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
  // Variables that do not coerce are execution's to report (with their own clear error).
  if (variables.errors) return null;
  for (const { field, node } of sites) {
    let values: Record<string, unknown>;
    try {
      values = getArgumentValues(field, node, variables.coerced);
    } catch {
      continue; // execution reports arguments that do not coerce
    }
    for (const [name, value] of Object.entries(values)) {
      const found = findUnstorableValue(value, name);
      if (found) return found;
    }
  }
  return null;
}

export function useStorableInput(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const problem = findUnstorableInput(
        args.schema,
        args.document,
        args.operationName,
        args.variableValues as Record<string, unknown> | undefined,
      );
      if (problem) setResultAndStopExecution({ errors: [badUserInput(problem.field, problem.message)] });
    },
  };
}
