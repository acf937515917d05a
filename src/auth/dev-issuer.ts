/**
 * A development OIDC issuer, shaped like a Keycloak realm: discovery at
 * {issuer}/.well-known/openid-configuration, keys at {issuer}/protocol/openid-connect/certs.
 * It runs only when OIDC_ISSUER is unset. The gateway fetches its keys over HTTP exactly as it
 * does Keycloak's; nothing about verification is bypassed. Tokens are minted by
 * `npm run token -- <member>` (or by tests) with the private key this module keeps on disk.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const DEV_AUDIENCE = 'control-plane-gateway';
export const DEV_CLIENT_ID = 'gateway-dev';

interface StoredKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export interface TokenClaims {
  sub: string;
  email?: string;
  name?: string;
  emailVerified?: boolean;
  /** Seconds; default 1 hour (Keycloak's default is 5 minutes; this is for people at a keyboard). Null: no `exp` (tests). */
  expiresIn?: number | null;
  audience?: string | string[];
  sid?: string;
  /** Extra or overriding claims, for tests of hostile tokens. */
  extra?: Record<string, unknown>;
}

export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  mint(claims: TokenClaims): Promise<string>;
  /** Rotate to a new signing key (the old one is no longer published). */
  rotate(): Promise<void>;
  stop(): Promise<void>;
}

export async function loadOrCreateKey(file?: string): Promise<StoredKey> {
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as StoredKey;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const key: StoredKey = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
  if (file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      // Exclusive: a key in use is never replaced, even by a racing second process.
      fs.writeFileSync(file, JSON.stringify(key), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return JSON.parse(fs.readFileSync(file, 'utf8')) as StoredKey;
    }
  }
  return key;
}

export async function signToken(key: StoredKey, issuer: string, audience: string, claims: TokenClaims): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  // Shaped like a Keycloak access token; `extra` overrides anything (tests forge bad tokens).
  const payload: Record<string, unknown> = {
    iss: issuer,
    sub: claims.sub,
    aud: claims.audience ?? audience,
    iat: now,
    ...(claims.expiresIn === null ? {} : { exp: now + (claims.expiresIn ?? 3600) }),
    jti: randomUUID(),
    typ: 'Bearer',
    azp: DEV_CLIENT_ID,
    sid: claims.sid ?? randomUUID(),
    scope: 'openid email profile',
    ...(claims.email ? { email: claims.email, email_verified: claims.emailVerified ?? true } : {}),
    ...(claims.name ? { name: claims.name, preferred_username: claims.email ?? claims.name } : {}),
    ...claims.extra,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(privateKey);
}

export interface DevIssuerOptions {
  host?: string;
  port: number;
  audience?: string;
  /** Where the signing key (and the issuer's address, for the token command) is kept. */
  stateFile?: string;
}

export async function startDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  const host = options.host ?? '127.0.0.1';
  const audience = options.audience ?? DEV_AUDIENCE;
  let key = await loadOrCreateKey(options.stateFile ? `${options.stateFile}.key.json` : undefined);

  let issuer = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'method not allowed' });
    if (url.pathname === '/realms/dev/.well-known/openid-configuration') {
      return send(200, {
        issuer,
        jwks_uri: `${issuer}/protocol/openid-connect/certs`,
        id_token_signing_alg_values_supported: ['RS256'],
        subject_types_supported: ['public'],
        response_types_supported: ['code'],
        grant_types_supported: [],
      });
    }
    if (url.pathname === '/realms/dev/protocol/openid-connect/certs') return send(200, { keys: [key.publicJwk] });
    return send(404, { error: 'not found' });
  });
  server.listen(options.port, host);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  issuer = `http://${host}:${port}/realms/dev`;
  if (options.stateFile) {
    fs.mkdirSync(path.dirname(options.stateFile), { recursive: true });
    fs.writeFileSync(options.stateFile, JSON.stringify({ issuer, audience }), { mode: 0o600 });
  }

  return {
    issuer,
    audience,
    mint: (claims) => signToken(key, issuer, audience, claims),
    async rotate() {
      key = await loadOrCreateKey();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** For the token command: mint with the key a running (or last-run) dev issuer uses. */
export async function mintFromStateFile(stateFile: string, claims: TokenClaims): Promise<{ token: string; issuer: string }> {
  if (!fs.existsSync(stateFile) || !fs.existsSync(`${stateFile}.key.json`)) {
    throw new Error('No development issuer has run here yet: start the gateway once with `npm start`.');
  }
  const { issuer, audience } = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { issuer: string; audience: string };
  const key = await loadOrCreateKey(`${stateFile}.key.json`);
  return { token: await signToken(key, issuer, audience, claims), issuer };
}
