/**
 * The authorization rules are part of the schema contract. Each field's rule is declared once
 * (its `authScopes`); from it, here:
 *  - the field's (or type's) description gains a sentence naming its permission or rule, so
 *    GraphiQL's docs show it (introspection carries descriptions);
 *  - the printed SDL (schema.graphql) carries `@auth(rule: …, permission: …)` on every field and
 *    type with a rule of its own, so a permission change is a schema diff (and checked by
 *    `npm run schema:check`).
 * Introspection has no applied directives, hence both.
 */
import {
  DirectiveLocation,
  GraphQLDirective,
  GraphQLNonNull,
  GraphQLString,
  isObjectType,
  Kind,
  lexicographicSortSchema,
  parse,
  print,
  printSchema,
  visit,
  type ConstDirectiveNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { declaredScopes, requiredPermission, ruleName, ruleSentence, type DeclaredScopes } from '../authz/field-rules.js';

export const AuthDirective = new GraphQLDirective({
  name: 'auth',
  description:
    'The authorization rule of a field or type: `permission` names the permission required, `rule` the kind of rule (permission, public, authenticated, member, organizationOwner; several: any of them).',
  locations: [DirectiveLocation.FIELD_DEFINITION, DirectiveLocation.OBJECT],
  args: { rule: { type: new GraphQLNonNull(GraphQLString) }, permission: { type: GraphQLString } },
});

function withSentence(description: string | null | undefined, sentence: string | null): string | null | undefined {
  if (!sentence || description?.includes(sentence)) return description;
  return description ? `${description}\n\n${sentence}` : sentence;
}

/** Adds each rule's sentence to the description of its field or type (once, in place). */
export function describeAuthRules(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    type.description = withSentence(type.description, ruleSentence(declaredScopes(type))) ?? undefined;
    for (const field of Object.values(type.getFields())) {
      field.description = withSentence(field.description, ruleSentence(declaredScopes(field))) ?? undefined;
    }
  }
  return schema;
}

function authDirectiveNode(scopes: DeclaredScopes): ConstDirectiveNode | null {
  const rule = ruleName(scopes);
  if (!rule) return null;
  const permission = requiredPermission(scopes);
  const argument = (name: string, value: string) => ({
    kind: Kind.ARGUMENT,
    name: { kind: Kind.NAME, value: name },
    value: { kind: Kind.STRING, value },
  });
  return {
    kind: Kind.DIRECTIVE,
    name: { kind: Kind.NAME, value: AuthDirective.name },
    arguments: [argument('rule', permission ? 'permission' : rule), ...(permission ? [argument('permission', permission)] : [])],
  } as ConstDirectiveNode;
}

/** The SDL with every rule as an `@auth` directive (sorted, so diffs are meaningful). */
export function printSchemaWithAuthRules(schema: GraphQLSchema): string {
  const sorted = lexicographicSortSchema(schema);
  const document = visit(parse(printSchema(sorted)), {
    ObjectTypeDefinition(node) {
      const type = sorted.getType(node.name.value) as GraphQLObjectType;
      const fields = type.getFields();
      const typeDirective = authDirectiveNode(declaredScopes(type));
      return {
        ...node,
        directives: [...(node.directives ?? []), ...(typeDirective ? [typeDirective] : [])],
        fields: node.fields?.map((fieldNode) => {
          const directive = authDirectiveNode(declaredScopes(fields[fieldNode.name.value] as GraphQLField<unknown, unknown>));
          return directive ? { ...fieldNode, directives: [...(fieldNode.directives ?? []), directive] } : fieldNode;
        }),
      };
    },
  });
  return `${print(document)}\n`;
}
