/**
 * Verifies bearer tokens from the configured OIDC issuer (Keycloak in production, the
 * development issuer locally; the same code path for both). Pinned algorithms, issuer (compared
 * exactly, as OIDC requires: `…/realms/x/` is another issuer) and audience; `exp` and a non-empty
 * `sub` required; an `iat` further in the future than the clock tolerance is refused; Keycloak's
 * `typ` must be `Bearer` when present, so refresh and ID tokens are refused.
 */
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { storableTextProblem } from '../db/storable-text.js';
import { serviceUnavailable, unauthenticated } from '../errors.js';
import type { Logger } from '../logger.js';
import { createJwksCache, IssuerUnavailableError } from './jwks.js';

export interface VerifiedToken {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  /** The sign-in session (Keycloak `sid`), else the token id; one `auth.login` per value. */
  sessionKey: string | null;
  expiresAt: number;
  /**
   * For a client-credentials token (a Keycloak service account): the client it was issued to,
   * from its `client_id` claim, or `azp` when `preferred_username` is `service-account-<azp>`.
   * Null for people's tokens, which never make the gateway look for a registered client.
   */
  clientId: string | null;
  /** Set on cached verifications. */
  cachedUntil?: number;
}

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: string[];
  jwksUri?: string;
  clockToleranceMs: number;
  jwksMaxAgeMs: number;
  jwksCooldownMs: number;
  maxStaleMs: number;
  authorizedParties?: string[];
  logger: Logger;
  onJwksFetch?: (result: 'ok' | 'failed') => void;
}

export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const issuer = options.issuer;
  let discovered: URL | undefined;
  const discover = async (): Promise<URL> => {
    if (options.jwksUri) return new URL(options.jwksUri);
    if (discovered) return discovered;
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: string; jwks_uri?: string };
    try {
      const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      doc = (await response.json()) as typeof doc;
    } catch (error) {
      throw new IssuerUnavailableError(`OIDC discovery at ${url} failed: ${(error as Error).message}`);
    }
    if (doc.issuer !== issuer || typeof doc.jwks_uri !== 'string') {
      throw new IssuerUnavailableError(`OIDC discovery at ${url} does not describe issuer ${issuer}`);
    }
    discovered = new URL(doc.jwks_uri);
    return discovered;
  };

  const keys = createJwksCache({
    jwksUri: discover,
    maxAgeMs: options.jwksMaxAgeMs,
    cooldownMs: options.jwksCooldownMs,
    maxStaleMs: options.maxStaleMs,
    onFetch: options.onJwksFetch,
    onStale: (ageMs, error) =>
      options.logger.warn({ ageMs, err: error }, 'issuer unreachable; verifying with the cached signing keys'),
  });

  // Verifying RS256 costs more CPU than the rest of a small request. A token that verified is
  // valid until its exp whatever we do (JWTs are not revoked), so remember the exact string,
  // briefly and in bounded number.
  const verified = new Map<string, VerifiedToken>();
  const remember = (token: string, result: VerifiedToken) => {
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
    verified.set(token, { ...result, cachedUntil: Math.min(result.expiresAt, Date.now() + VERIFIED_CACHE_TTL_MS) });
  };

  return {
    async verify(token: string): Promise<VerifiedToken> {
      const hit = verified.get(token);
      if (hit && hit.cachedUntil! > Date.now()) return hit;
      if (hit) verified.delete(token);
      const result = await verifyUncached(token);
      remember(token, result);
      return result;
    },
  };

  async function verifyUncached(token: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience: options.audience,
        algorithms: options.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: Math.round(options.clockToleranceMs / 1000),
      }));
    } catch (error) {
      throw toAuthError(error, options.logger);
    }
    // jose checks `iat` only against a maximum age; a token "issued" in the future is a forgery
    // or a badly wrong clock, and would outlive any age policy.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + options.clockToleranceMs) {
      throw unauthenticated("The token's iat claim is not accepted.", 'iat claim check failed');
    }
    // `requiredClaims` accepts "": an empty subject would name a user all the same; one the
    // database cannot store would fail every request as an internal error.
    if (typeof payload.sub !== 'string' || payload.sub.trim().length === 0 || storableTextProblem(payload.sub)) {
      throw unauthenticated("The token's sub claim is not accepted.", 'sub claim check failed');
    }
    const typ = payload.typ;
    if (typ !== undefined && String(typ).toLowerCase() !== 'bearer') {
      throw unauthenticated('The token is not an access token.', `token type ${String(typ)} is not accepted`);
    }
    // Keycloak names the client in `azp`; RFC 9068 JWT access tokens in `client_id`.
    const client = payload.azp ?? payload.client_id;
    if (options.authorizedParties && !options.authorizedParties.includes(String(client ?? ''))) {
      throw unauthenticated('The token was issued to a client this gateway does not accept.', 'unexpected azp');
    }
    // Profile claims are refreshed into the users table: ones it cannot store count as absent.
    const str = (v: unknown) => (typeof v === 'string' && v.length > 0 && !storableTextProblem(v) ? v : null);
    return {
      issuer,
      subject: payload.sub!,
      email: str(payload.email),
      emailVerified: payload.email_verified === true,
      name: str(payload.name) ?? str(payload.preferred_username),
      sessionKey: str(payload.sid) ?? str(payload.jti),
      expiresAt: payload.exp! * 1000,
      clientId: serviceAccountClientId(payload),
    };
  }
}

function serviceAccountClientId(payload: JWTPayload): string | null {
  const clientId = payload.client_id;
  if (typeof clientId === 'string' && clientId.length > 0) return clientId;
  const azp = payload.azp;
  if (typeof azp === 'string' && azp.length > 0 && payload.preferred_username === `service-account-${azp}`) return azp;
  return null;
}

const VERIFIED_CACHE_SIZE = 10_000;
const VERIFIED_CACHE_TTL_MS = 60_000;

function toAuthError(error: unknown, logger: Logger) {
  if (error instanceof IssuerUnavailableError || error instanceof errors.JWKSTimeout) {
    logger.error({ err: error }, 'cannot verify tokens: issuer unavailable');
    return serviceUnavailable('The identity provider cannot be reached; try again shortly.', 5);
  }
  if (error instanceof errors.JWTExpired) return unauthenticated('The token has expired.', 'token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`The token's ${error.claim} claim is not accepted.`, `${error.claim} claim check failed`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return unauthenticated('The token is signed with an algorithm this gateway does not accept.', 'algorithm not allowed');
  if (error instanceof errors.JWKSNoMatchingKey)
    return unauthenticated('The token is signed by an unknown key.', 'unknown signing key');
  if (error instanceof errors.JOSEError) return unauthenticated('The token is invalid.', 'invalid token');
  // Anything else (a bug, a malformed key set) must not look like "your token is bad".
  logger.error({ err: error }, 'unexpected error while verifying a token');
  return serviceUnavailable('Tokens cannot be verified right now.', 5);
}
