/**
 * The issuer's signing keys, fetched over HTTP and cached. We keep our own cache around jose's
 * local key set instead of createRemoteJWKSet because our policy differs from its defaults:
 *  - refresh when the cache is older than `maxAgeMs` (10 min), or at once for an unknown `kid`
 *    (key rotation) unless we refreshed less than `cooldownMs` ago;
 *  - stale-if-error: when the issuer cannot be reached, keep verifying with the last good key
 *    set for up to `maxStaleMs`, then answer 503. Never accept a token we could not check,
 *    and never turn an outage into a storm of 401s.
 */
import {
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type FlattenedJWSInput,
  type KeyObject,
  type CryptoKey,
} from 'jose';

export class IssuerUnavailableError extends Error {}

export interface JwksCacheOptions {
  /** The JWKS URL, or a function that finds it (OIDC discovery). */
  jwksUri: URL | (() => Promise<URL>);
  timeoutMs?: number;
  maxAgeMs?: number;
  cooldownMs?: number;
  maxStaleMs?: number;
  onStale?: (ageMs: number, error: unknown) => void;
  /** Every fetch of the key set, for metrics. */
  onFetch?: (result: 'ok' | 'failed') => void;
}

type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<KeyObject | CryptoKey | Uint8Array>;

export function createJwksCache(options: JwksCacheOptions): KeyResolver & { refresh(): Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxAgeMs = options.maxAgeMs ?? 600_000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const maxStaleMs = options.maxStaleMs ?? 3_600_000;

  let current: { fetchedAt: number; resolve: ReturnType<typeof createLocalJWKSet> } | undefined;
  let lastAttempt = 0;
  let inflight: Promise<void> | undefined;

  async function fetchKeys(): Promise<void> {
    try {
      await fetchKeysOnce();
      options.onFetch?.('ok');
    } catch (error) {
      options.onFetch?.('failed');
      throw error;
    }
  }

  async function fetchKeysOnce(): Promise<void> {
    lastAttempt = Date.now();
    const url = typeof options.jwksUri === 'function' ? await options.jwksUri() : options.jwksUri;
    let body: unknown;
    try {
      const response = await fetch(url, {
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`JWKS endpoint answered HTTP ${response.status}`);
      body = await response.json();
    } catch (error) {
      throw new IssuerUnavailableError(`Could not fetch the issuer's signing keys from ${url}: ${(error as Error).message}`);
    }
    if (!body || typeof body !== 'object' || !Array.isArray((body as JSONWebKeySet).keys)) {
      throw new IssuerUnavailableError(`The issuer's JWKS at ${url} is not a JSON Web Key Set`);
    }
    current = { fetchedAt: Date.now(), resolve: createLocalJWKSet(body as JSONWebKeySet) };
  }

  function refresh(): Promise<void> {
    inflight ??= fetchKeys().finally(() => (inflight = undefined));
    return inflight;
  }

  async function ensureFresh(): Promise<void> {
    if (current && Date.now() - current.fetchedAt < maxAgeMs) return;
    try {
      await refresh();
    } catch (error) {
      const age = current ? Date.now() - current.fetchedAt : Infinity;
      if (!current || age > maxAgeMs + maxStaleMs) throw error;
      options.onStale?.(age, error);
    }
  }

  const resolver = async (header: JWTHeaderParameters, token: FlattenedJWSInput) => {
    await ensureFresh();
    try {
      return await current!.resolve(header, token);
    } catch (error) {
      // An unknown kid may be a freshly rotated key: look once, not on every bad token.
      if (error instanceof errors.JWKSNoMatchingKey && Date.now() - lastAttempt > cooldownMs) {
        await refresh();
        return current!.resolve(header, token);
      }
      throw error;
    }
  };
  return Object.assign(resolver, { refresh });
}
