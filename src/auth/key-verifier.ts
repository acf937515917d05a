/**
 * Verifies API and runner keys. The first sight of a key on a replica costs one round trip (its
 * row by public id) and a constant-time comparison of its secret's hash; after that the replica
 * remembers which principal the key belongs to, so a request costs a map lookup, like a
 * remembered JWT (the replica holds presented keys in memory exactly as it holds tokens; a
 * SHA-256 of each instead measured 4× the cost of the JWT path, scripts/bench-credentials.ts). Whether that principal may still act (revoked, expired, rotated,
 * role changed) is not decided here: the request re-checks it against the organization's
 * authorization version in the round trip that opens its transaction (src/context.ts), so a
 * remembered key can never outlive its revocation on any replica.
 */
import type pg from 'pg';
import { looksLikeApiKey, parseApiKey, secretMatches } from './api-keys.js';

export interface VerifiedKey {
  orgId: string;
  servicePrincipalId: string;
  publicId: string;
}

interface KeyRow {
  org_id: string;
  id: string;
  kind: 'api_key' | 'runner';
  environment: 'test' | 'live';
  secret_hash: Buffer | null;
}

const MAX_REMEMBERED = 10_000;

export class KeyVerifier {
  /** Presented key → its principal, bounded (oldest out first). */
  private readonly remembered = new Map<string, VerifiedKey>();

  constructor(private readonly pool: pg.Pool) {}

  /** Is this credential meant to be one of our keys (rather than a JWT)? */
  claims(credential: string): boolean {
    return looksLikeApiKey(credential);
  }

  /** The key's principal, or null for anything malformed, unknown or with a wrong secret. */
  async verify(credential: string): Promise<VerifiedKey | null> {
    const hit = this.remembered.get(credential);
    if (hit) return hit;
    const parsed = parseApiKey(credential);
    if (!parsed) return null;
    const { rows } = await this.pool.query<KeyRow>('select * from app_private.find_api_key($1)', [parsed.publicId]);
    const row = rows[0];
    // Compare even when nothing was found, so an unknown public id costs what a wrong secret does.
    const matches = secretMatches(parsed.secret, row?.secret_hash ?? EMPTY_HASH) && row !== undefined;
    if (!matches || row.kind !== parsed.kind || row.environment !== parsed.environment) return null;
    const verified = { orgId: row.org_id, servicePrincipalId: row.id, publicId: parsed.publicId };
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.delete(this.remembered.keys().next().value!);
    this.remembered.set(credential, verified);
    return verified;
  }
}

const EMPTY_HASH = Buffer.alloc(32);
