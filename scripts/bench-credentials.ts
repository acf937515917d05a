/**
 * `npx tsx scripts/bench-credentials.ts`: what authenticating a request costs on a replica that
 * has seen the credential before — a JWT (verified once against the development issuer's JWKS
 * over HTTP, then remembered until it expires) against an API key (verified once against its
 * stored hash, then remembered). This is the per-request cost; the first sight of
 * either costs one RSA verification or one database round trip. The key's single lookup is served
 * by a stand-in for the pool (only the in-memory path is timed). CPU figures, not assertions.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { generateApiKey } from '../src/auth/api-keys.js';
import { startDevIssuer } from '../src/auth/dev-issuer.js';
import { KeyVerifier } from '../src/auth/key-verifier.js';
import { createTokenVerifier } from '../src/auth/token-verifier.js';
import { createLogger } from '../src/logger.js';

const ROUNDS = Number(process.env.ROUNDS ?? 200_000);

const issuer = await startDevIssuer({ port: 0 });
try {
  const tokens = createTokenVerifier({
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ['RS256'],
    clockToleranceMs: 5_000,
    jwksMaxAgeMs: 600_000,
    jwksCooldownMs: 30_000,
    maxStaleMs: 3_600_000,
    logger: createLogger('silent'),
  });
  const token = await issuer.mint({ sub: 'bench', email: 'bench@example.test', name: 'Bench' });

  const key = generateApiKey('api_key', 'live');
  const row = {
    org_id: crypto.randomUUID(),
    id: crypto.randomUUID(),
    kind: 'api_key',
    environment: 'live',
    secret_hash: key.secretHash,
  };
  const lookups = { n: 0 };
  const pool = { query: async () => (lookups.n++, { rows: [row] }) } as unknown as pg.Pool;
  const keys = new KeyVerifier(pool);

  const time = async (label: string, fn: () => Promise<unknown>) => {
    for (let i = 0; i < 5_000; i++) await fn(); // warm-up (and the first, uncached sight)
    const start = performance.now();
    for (let i = 0; i < ROUNDS; i++) await fn();
    const perCall = ((performance.now() - start) * 1000) / ROUNDS;
    console.log(`| ${label} | ${ROUNDS} | ${perCall.toFixed(2)} |`);
    return perCall;
  };
  console.log(`\nNode ${process.version}\n\n| credential (seen before) | calls | µs per call |\n|---|---:|---:|`);
  const jwt = await time('JWT (RS256, remembered)', () => tokens.verify(token));
  const apiKey = await time('API key (remembered)', () => keys.verify(key.key));
  console.log(`\nAPI key / JWT: ${(apiKey / jwt).toFixed(2)}; database lookups for the key: ${lookups.n}\n`);
} finally {
  await issuer.stop();
}
