/**
 * GraphiQL that works offline: Yoga's page loads its JS and CSS from unpkg, so we rewrite those
 * addresses to /graphiql-assets/ and serve the files from the installed @graphql-yoga/graphiql.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { renderGraphiQL, type GraphiQLOptions, type Plugin } from 'graphql-yoga';

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
