/**
 * GraphiQL that works offline: Yoga's page loads its JS and CSS from unpkg, so we rewrite those
 * addresses to /graphiql-assets/ and serve the files from the installed @graphql-yoga/graphiql.
 * It opens on the README's example query with a hint about the Authorization header, and never
 * persists the headers editor (bearer tokens do not belong in the browser's localStorage).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { renderGraphiQL, type GraphiQLOptions, type Plugin } from 'graphql-yoga';

/** The README's "Try it" query, verbatim (a test holds the two together). */
export const README_EXAMPLE_QUERY = `query {
  viewer { user { name } organization { name } role { name permissionCount } permissions }
  workflows(first: 10) {
    totalCount
    edges { node { id name version createdBy { name } deployments { environment version } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const AUTHORIZATION_HINT = `# Sign in: open the Headers tab below and add
#   { "Authorization": "Bearer <token>" }
# (a demo member's token: npm run -s token -- owner). Then press Run.
`;

export function graphiqlOptions(): GraphiQLOptions {
  const query = `${AUTHORIZATION_HINT}${README_EXAMPLE_QUERY}\n`;
  return {
    title: 'Control-plane gateway',
    // Yoga's page opens on `query` (else its welcome text) and ignores defaultQuery for the
    // first tab; defaultQuery still fills new tabs. (Not in Yoga's option type, read at runtime.)
    ...({ query } as object),
    defaultQuery: query,
    defaultEditorToolsVisibility: 'headers',
    // Bearer tokens stay out of localStorage: the headers editor is never persisted.
    shouldPersistHeaders: false,
  };
}

const ASSET_PREFIX = '/graphiql-assets/';
const require = createRequire(import.meta.url);

/** Its CommonJS entry is dist/yoga-graphiql.umd.js; the other assets sit beside it. */
function assetDir(): string {
  return path.dirname(require.resolve('@graphql-yoga/graphiql'));
}

const FILES: Record<string, string> = {
  'graphiql.css': 'text/css; charset=utf-8',
  'yoga-graphiql.umd.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/editor.worker.bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/json.worker.bundle.js': 'text/javascript; charset=utf-8',
  'monacoeditorwork/graphql.worker..bundle.js': 'text/javascript; charset=utf-8',
};

export function renderOfflineGraphiQL(options: GraphiQLOptions): string {
  return String(renderGraphiQL(options))
    .replace(/__TITLE__/g, options.title ?? 'GraphiQL')
    .replace(/https:\/\/unpkg\.com\/@graphql-yoga\/graphiql@[^/]+\/dist\//g, ASSET_PREFIX)
    .replace(/<link rel=icon href=[^>]+>/, '');
}

export function useOfflineGraphiQLAssets(): Plugin {
  const dir = assetDir();
  const cache = new Map<string, string>();
  return {
    onRequest({ url, endResponse, fetchAPI }) {
      if (!url.pathname.startsWith(ASSET_PREFIX)) return;
      const name = url.pathname.slice(ASSET_PREFIX.length);
      const type = FILES[name];
      if (!type) {
        endResponse(new fetchAPI.Response('not found', { status: 404 }));
        return;
      }
      let body = cache.get(name);
      if (!body) {
        body = fs.readFileSync(path.join(dir, name), 'utf8');
        cache.set(name, body);
      }
      endResponse(
        new fetchAPI.Response(body, { status: 200, headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } }),
      );
    },
  };
}
