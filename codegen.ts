/**
 * Typed documents for the tests (and a model for frontends): operations written with
 * `graphql(...)` in test/**\/*.ts are checked against schema.graphql and typed.
 * Regenerate after changing the schema: `npm run schema && npm run codegen`.
 */
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/**/*.ts', '!test/generated/**'],
  ignoreNoDocuments: true,
  // NodeNext resolution: generated imports need their .js extensions.
  importExtension: '.js',
  generates: {
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' } },
    },
  },
};

export default config;
