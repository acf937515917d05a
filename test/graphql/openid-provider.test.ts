/**
 * A certified OpenID provider implementation (the `oidc-provider` package) running locally, as
 * Keycloak would in production: the gateway discovers it, fetches its keys over HTTP, and
 * accepts the JWT access tokens it issues for the gateway's resource (RFC 8707 resource
 * indicators → `aud`) through both real grants — client credentials (a confidential client) and
 * authorization code with PKCE (a public client, a user signing in) — and refuses its ID tokens
 * and tokens for another audience.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { exportJWK, generateKeyPair, decodeJwt, decodeProtectedHeader } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const GATEWAY_RESOURCE = 'urn:fastn:control-plane-gateway';
const OTHER_RESOURCE = 'urn:fastn:another-api';
const SERVICE_SECRET = randomBytes(24).toString('hex');
const REDIRECT_URI = 'http://127.0.0.1/callback';
const ACCOUNTS: Record<string, { email: string; name: string }> = {
  'user-olga': { email: 'olga@oidc.example', name: 'Olga OpenID' },
};

let server: http.Server;
let provider: Provider;
let issuer: string;
let t: TestGateway;
/** Who signs in at the next login prompt (the test's stand-in for a login form). */
let signingIn = 'user-olga';

beforeAll(async () => {
  server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'fastn-app',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
      },
      {
        client_id: 'fastn-service',
        client_secret: SERVICE_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'oidc-provider-key', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile', 'api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== GATEWAY_RESOURCE && resource !== OTHER_RESOURCE) throw new Error(`unknown resource ${resource}`);
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    pkce: { required: () => true },
    ttl: {
      Session: 600,
      Grant: 600,
      Interaction: 600,
      AuthorizationCode: 60,
      AccessToken: 300,
      ClientCredentials: 300,
      IdToken: 300,
    },
    findAccount: async (_ctx, sub) => {
      const account = ACCOUNTS[sub];
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: account.email, email_verified: true, name: account.name }) };
    },
    // The gateway names users from the access token (as from Keycloak's).
    extraTokenClaims: async (_ctx, token) => {
      const account = 'accountId' in token && token.accountId ? ACCOUNTS[token.accountId as string] : undefined;
      return account ? { email: account.email, email_verified: true, name: account.name } : undefined;
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      interact(req, res).catch((error) => res.writeHead(500).end(String(error)));
      return;
    }
    callback(req, res);
  });
  t = await startTestGateway({
    OIDC_ISSUER: issuer,
    OIDC_AUDIENCE: GATEWAY_RESOURCE,
    OIDC_AUTHORIZED_PARTIES: 'fastn-app,fastn-service',
  });
});

afterAll(async () => {
  await t?.stop();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** The login and consent pages, answered at once for `signingIn`. */
async function interact(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: signingIn } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent: grant what the prompt says is missing (what a consent page's "Allow" does).
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: details.session!.accountId, clientId: details.params.client_id as string });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

async function clientCredentials(resource: string): Promise<Record<string, string>> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`fastn-service:${SERVICE_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'api', resource }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, string>;
}

/** A browser's way through /auth, the login and consent prompts, back to the redirect URI. */
async function authorizationCodeWithPkce(): Promise<Record<string, string>> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const cookies = new Map<string, string>();
  let url = `${issuer}/auth?${new URLSearchParams({
    client_id: 'fastn-app',
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile api',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: GATEWAY_RESOURCE,
    state: randomBytes(8).toString('hex'),
  })}`;
  for (let hop = 0; hop < 10; hop++) {
    if (url.startsWith(REDIRECT_URI)) break;
    const response = await fetch(url, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const cookie of response.headers.getSetCookie()) {
      const pair = cookie.split(';')[0]!;
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    const location = response.headers.get('location');
    if (!location) throw new Error(`no redirect from ${url}: HTTP ${response.status} ${await response.text()}`);
    url = new URL(location, url).toString();
  }
  const code = new URL(url).searchParams.get('code');
  if (!code) throw new Error(`no authorization code: ${url}`);
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: REDIRECT_URI,
      client_id: 'fastn-app',
      code_verifier: verifier,
      resource: GATEWAY_RESOURCE,
    }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, string>;
}

describe('tokens from a real OpenID provider (oidc-provider)', () => {
  it('client credentials: a JWT access token for the gateway audience is accepted', async () => {
    const tokens = await clientCredentials(GATEWAY_RESOURCE);
    expect(decodeProtectedHeader(tokens.access_token!)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(decodeJwt(tokens.access_token!)).toMatchObject({ iss: issuer, aud: GATEWAY_RESOURCE, client_id: 'fastn-service' });
    const answer = await t.client.request<{ viewer: { user: { id: string } } }>('{ viewer { user { id } } }', undefined, {
      token: tokens.access_token,
    });
    expect(expectData(answer).viewer.user.id).toBeTruthy();
  });

  it('client credentials for another resource: refused (wrong audience)', async () => {
    const tokens = await clientCredentials(OTHER_RESOURCE);
    expect(decodeJwt(tokens.access_token!).aud).toBe(OTHER_RESOURCE);
    const answer = await t.client.request('{ viewer { user { id } } }', undefined, { token: tokens.access_token });
    expect(answer.status).toBe(401);
    expect(errorCodes(answer)).toEqual(['UNAUTHENTICATED']);
  });

  it('authorization code with PKCE: the signed-in user creates an organization and is its Owner; the ID token is refused', async () => {
    const tokens = await authorizationCodeWithPkce();
    const claims = decodeJwt(tokens.access_token!);
    expect(claims).toMatchObject({
      iss: issuer,
      aud: GATEWAY_RESOURCE,
      sub: 'user-olga',
      client_id: 'fastn-app',
      email: 'olga@oidc.example',
    });

    const created = expectData(
      await t.client.request<{ createOrganization: { id: string } }>(
        'mutation { createOrganization(input: {name: "OpenID Co"}) { id } }',
        undefined,
        { token: tokens.access_token },
      ),
    );
    const viewer = expectData(
      await t.client.request<{ viewer: { user: { name: string; email: string }; role: { name: string } } }>(
        '{ viewer { user { name email } role { name } } }',
        undefined,
        { token: tokens.access_token, orgId: created.createOrganization.id },
      ),
    );
    expect(viewer.viewer).toEqual({ user: { name: 'Olga OpenID', email: 'olga@oidc.example' }, role: { name: 'Owner' } });

    // The ID token is for the client (aud = fastn-app), not for the gateway.
    expect(decodeJwt(tokens.id_token!).aud).toBe('fastn-app');
    const withIdToken = await t.client.request('{ viewer { user { id } } }', undefined, { token: tokens.id_token });
    expect(withIdToken.status).toBe(401);
    expect(errorCodes(withIdToken)).toEqual(['UNAUTHENTICATED']);
  });
});
