/**
 * ioredis, behind an ES module of our own so src/runtime.ts can load it only when REDIS_URL is
 * set. Importing the CommonJS package dynamically would not do: in the production bundle
 * (scripts/build.ts) esbuild gives a lazily imported CommonJS chunk only a default export, so
 * `(await import('ioredis')).Redis` is undefined there (it works under tsx). A static re-export
 * is resolved at build time, in both.
 */
export { Redis } from 'ioredis';
