/**
 * Introspection is a development convenience (GraphiQL's docs, codegen against a running
 * server); production answers it only when INTROSPECTION says so. `__typename` stays allowed.
 * Field suggestions ("Did you mean …?") leak the schema just the same, so they are masked
 * whenever introspection is off (graphql-armor's blockFieldSuggestion, see src/yoga.ts).
 */
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export function useIntrospectionPolicy(enabled: boolean): Plugin {
  if (enabled) return {};
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
