/**
 * Typed documents for the tests (and a model for frontends): operations written with
 * `graphql(...)` in test/**\/*.ts are checked against schema.graphql and typed.
 * Regenerate after changing the schema: `npm run schema && npm run codegen`.
 *
 * Trusted documents: the preset also writes `persisted-documents.json`, the manifest of these
 * operations by SHA-256 (`{ "<hash>": "<document>" }`), and stamps each typed document with its
 * hash (`__meta__.hash`). A frontend built the same way ships that manifest to the gateway
 * (TRUSTED_DOCUMENTS_MANIFEST) and sends `{ documentId, variables }` instead of the query.
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
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: 'sha256' } },
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' } },
    },
  },
};

export default config;
