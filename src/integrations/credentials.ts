/**
 * Connection credentials are encrypted here, before they reach the database: AES-256-GCM with a
 * key from the environment (CREDENTIALS_ENCRYPTION_KEY), a fresh IV per write, and the row's
 * organization and id as additional authenticated data, so a ciphertext copied onto another
 * row (or tenant) does not decrypt. Plaintext credentials exist only in memory, only while a
 * request or the refresher needs them; no field, log line or audit event carries them.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type Credentials = Record<string, unknown>;

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CredentialCipher {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('CREDENTIALS_ENCRYPTION_KEY must decode to 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  encrypt(credentials: Credentials, boundTo: { orgId: string; connectionId: string }): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(`${boundTo.orgId}:${boundTo.connectionId}`));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(credentials), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
  }

  decrypt(sealed: Buffer, keyId: string | null, boundTo: { orgId: string; connectionId: string }): Credentials {
    if (keyId !== this.keyId) throw new CredentialsUnreadableError('sealed with another key');
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(`${boundTo.orgId}:${boundTo.connectionId}`));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return JSON.parse(plaintext.toString('utf8')) as Credentials;
    } catch {
      throw new CredentialsUnreadableError('failed authentication');
    }
  }
}

export class CredentialsUnreadableError extends Error {}

export function parseKey(base64: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new Error('CREDENTIALS_ENCRYPTION_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)');
  return key;
}

/** Development only: a key kept in the data directory, made on first use. */
export function loadOrCreateDevelopmentKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'credentials.key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return parseKey(fs.readFileSync(file, 'utf8').trim());
}
