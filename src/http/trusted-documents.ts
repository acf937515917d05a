/**
 * Trusted documents (persisted operations): the frontend's operations are known in advance, as a
 * manifest `{ "sha256:<hash>": "<document>" }` that codegen's client preset writes
 * (persistedDocuments). Clients send `{ "documentId": "sha256:<hash>", "variables": … }` (or
 * Apollo's `extensions.persistedQuery.sha256Hash`) instead of the query.
 *
 * TRUSTED_DOCUMENTS:
 *  - off:      any document runs (development, GraphiQL, codegen against the server);
 *  - allowed:  manifest ids and documents both run (a migration step);
 *  - required: only manifest ids run; any other document is refused with
 *              PERSISTED_QUERY_ONLY, an unknown id with PERSISTED_QUERY_NOT_FOUND (both 400) —
 *              an attacker can call nothing the frontend does not already call.
 *
 * The manifest is read and checked once at start: every key must be the SHA-256 of its
 * document (a manifest edited by hand cannot smuggle in another operation under a known id).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.js';

export type TrustedDocumentsMode = 'off' | 'allowed' | 'required';

export class TrustedDocumentsError extends Error {}

export function loadManifest(file: string): ReadonlyMap<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TrustedDocumentsError(`TRUSTED_DOCUMENTS_MANIFEST ${file} cannot be read as JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TrustedDocumentsError(`TRUSTED_DOCUMENTS_MANIFEST ${file} must be an object of "sha256:<hash>": "<document>"`);
  }
  const documents = new Map<string, string>();
  for (const [id, document] of Object.entries(parsed)) {
    const hash = id.replace(/^sha256:/, '');
    if (typeof document !== 'string' || createHash('sha256').update(document).digest('hex') !== hash) {
      throw new TrustedDocumentsError(`TRUSTED_DOCUMENTS_MANIFEST ${file}: ${id} is not the SHA-256 of its document`);
    }
    documents.set(hash, document);
  }
  return documents;
}

/** `documentId` (GraphQL over HTTP's trusted documents) or Apollo's persistedQuery extension. */
function documentIdOf(params: GraphQLParams & { documentId?: unknown }): string | null {
  const persisted = (params.extensions as { persistedQuery?: { version?: number; sha256Hash?: unknown } } | undefined)
    ?.persistedQuery;
  const id = typeof params.documentId === 'string' ? params.documentId : persisted?.sha256Hash;
  return typeof id === 'string' ? id.replace(/^sha256:/, '') : null;
}

const error = (message: string, code: string) => ({ message, extensions: { code, http: { status: 400 } } });

export function useTrustedDocuments(mode: TrustedDocumentsMode, manifestFile: string): Plugin[] {
  if (mode === 'off') return [];
  const manifest = loadManifest(manifestFile);
  return [
    usePersistedOperations({
      allowArbitraryOperations: mode === 'allowed',
      extractPersistedOperationId: documentIdOf,
      getPersistedOperation: (id) => manifest.get(id) ?? null,
      customErrors: {
        persistedQueryOnly: error(
          'This gateway runs trusted documents only: send the documentId of an operation from its manifest.',
          ErrorCode.PERSISTED_QUERY_ONLY,
        ),
        notFound: error('No trusted document has that documentId.', ErrorCode.PERSISTED_QUERY_NOT_FOUND),
        keyNotFound: error('Send a documentId (or a query, where documents are allowed).', ErrorCode.PERSISTED_QUERY_ONLY),
      },
    }) as Plugin,
  ];
}
