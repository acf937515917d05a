/**
 * API key credentials: their format, how they are made and how a presented one is checked.
 *
 *   gwk_live_<publicId>_<secret>    an API key (gwk_test_… for TEST keys)
 *   gwr_live_<publicId>_<secret>    a runner key
 *
 * The prefix tells a key from a JWT (a JWT starts with "eyJ") and says at a glance what leaked
 * when one shows up in a log or a repository (secret scanners match on it). `publicId` (16
 * characters, 80 random bits) finds the row; `secret` (43 characters, 256 random bits) is never
 * stored: only its SHA-256 is, compared in constant time. A fast hash is enough for a secret
 * with this much entropy (nobody can brute-force 2^256), and it keeps verification cheap.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type KeyKind = 'api_key' | 'runner';
export type KeyEnvironment = 'test' | 'live';

const PREFIX: Record<KeyKind, string> = { api_key: 'gwk', runner: 'gwr' };
const KEY = /^(gwk|gwr)_(test|live)_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const PUBLIC_ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface ParsedKey {
  kind: KeyKind;
  environment: KeyEnvironment;
  publicId: string;
  secret: string;
}

/** True for anything shaped like one of our keys' prefixes, well-formed or not. */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith('gwk_') || credential.startsWith('gwr_');
}

export function parseApiKey(credential: string): ParsedKey | null {
  const match = KEY.exec(credential);
  if (!match) return null;
  return {
    kind: match[1] === 'gwr' ? 'runner' : 'api_key',
    environment: match[2] as KeyEnvironment,
    publicId: match[3]!,
    secret: match[4]!,
  };
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Constant-time: how much of the hash matched never shows in the time taken. */
export function secretMatches(secret: string, storedHash: Buffer): boolean {
  const presented = hashSecret(secret);
  return storedHash.length === presented.length && timingSafeEqual(presented, storedHash);
}

function randomPublicId(): string {
  // 36^16 ≈ 2^82; modulo bias over 256 values is irrelevant for an identifier.
  return Array.from(randomBytes(16), (b) => PUBLIC_ID_ALPHABET[b % PUBLIC_ID_ALPHABET.length]).join('');
}

export interface NewKey {
  /** Shown once, to the creator; never stored. */
  key: string;
  publicId: string;
  secretHash: Buffer;
  /** What lists show: enough to recognise a key, nothing to use it. */
  prefix: string;
}

export function generateApiKey(kind: KeyKind, environment: KeyEnvironment): NewKey {
  const publicId = randomPublicId();
  const secret = randomBytes(32).toString('base64url');
  const prefix = displayPrefix(kind, environment, publicId);
  return { key: `${prefix}_${secret}`, publicId, secretHash: hashSecret(secret), prefix };
}

export function displayPrefix(kind: KeyKind, environment: KeyEnvironment, publicId: string): string {
  return `${PREFIX[kind]}_${environment}_${publicId}`;
}
