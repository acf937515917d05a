/**
 * Authentication end to end: tokens signed by a key the gateway fetches from a real JWKS
 * endpoint over HTTP, and every way a token can be wrong.
 */
import { generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ViewerQuery, WorkflowsQuery } from './operations.js';

let db: TestDatabase;
let t: TestGateway;

beforeAll(async () => {
  db = await createTestDatabase();
  t = await startTestGateway({}, { db });
});
afterAll(async () => {
  await t?.stop();
  await db?.drop();
});

async function viewerWith(token: string | null, headers: Record<string, string> = {}, gateway = t) {
  return gateway.client.request(ViewerQuery, {}, { token, headers });
}

function expect401(response: Awaited<ReturnType<typeof viewerWith>>, wwwAuthenticate: RegExp = /^Bearer error="invalid_token"/) {
  expect(response.status).toBe(401);
  expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  expect(response.headers.get('www-authenticate')).toMatch(wwwAuthenticate);
  expect(response.body.data ?? null).toBeNull();
}

describe('without a token', () => {
  it('public fields answer; viewer is null', async () => {
    const response = await viewerWith(null);
    expect(response.status).toBe(200);
    expect(expectData(response).viewer).toBeNull();
  });

  it('gated fields answer UNAUTHENTICATED', async () => {
    const response = await t.client.request(WorkflowsQuery, { first: 1 });
    expect(response.body.data?.workflows).toBeNull();
    expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('a valid token', () => {
  it('creates the user on first sight, from its claims', async () => {
    const token = await t.issuer.mint({ sub: 'first-sight', email: 'first@example.test', name: 'First Sight' });
    const viewer = expectData(await viewerWith(token)).viewer!;
    expect(viewer.user).toMatchObject({ name: 'First Sight', email: 'first@example.test' });
    expect(viewer.organization).toBeNull();
    const { rows } = await t.world.pool.query(`select count(*)::int as n from app_public.users where subject = 'first-sight'`);
    // RLS: the app role sees no user without a bound request; the row exists all the same.
    expect(rows[0].n).toBe(0);
    const again = expectData(await viewerWith(token)).viewer!;
    expect(again.user.id).toBe(viewer.user.id);
  });

  it('a name or email the database cannot store counts as absent (the sign-in still works)', async () => {
    const token = await t.issuer.mint({ sub: 'odd-claims', email: 'odd\u0000@example.test', name: 'Odd\ud800' });
    const viewer = expectData(await viewerWith(token)).viewer!;
    expect(viewer.user).toMatchObject({ email: null, name: null });
  });

  it('refreshes name and email when the claims change', async () => {
    const first = expectData(
      await viewerWith(await t.issuer.mint({ sub: 'renamed', email: 'a@example.test', name: 'Before' })),
    ).viewer!;
    const second = expectData(
      await viewerWith(await t.issuer.mint({ sub: 'renamed', email: 'b@example.test', name: 'After' })),
    ).viewer!;
    expect(second.user).toEqual({ id: first.user.id, name: 'After', email: 'b@example.test' });
  });
});

describe('a bad token: 401 UNAUTHENTICATED with WWW-Authenticate', () => {
  it('expired', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', expiresIn: -120 })));
  });

  it('expired after it was first accepted (remembered verifications expire too)', async () => {
    // Expired 4 s ago: still inside the default 5 s clock tolerance, so accepted once…
    const token = await t.issuer.mint({ sub: 'short-lived', expiresIn: -4 });
    expect((await viewerWith(token)).status).toBe(200);
    // …and refused once the tolerance is spent, although the first verification succeeded.
    await new Promise((r) => setTimeout(r, 1500));
    expect401(await viewerWith(token));
  });

  it('unsigned (alg: none)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({ iss: t.issuer.issuer, aud: t.issuer.audience, sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString('base64url');
    expect401(await viewerWith(`${header}.${payload}.`));
  });

  it('signed by a key the issuer does not publish', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const kid = 'not-the-issuers';
    const token = await new SignJWT({ typ: 'Bearer' })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(t.issuer.issuer)
      .setAudience(t.issuer.audience)
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect401(await viewerWith(token));
  });

  it('from another issuer', async () => {
    const other = await startDevIssuer({ port: 0 });
    try {
      expect401(await viewerWith(await other.mint({ sub: 'x' })));
    } finally {
      await other.stop();
    }
  });

  it('with the right key but a wrong iss claim', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', extra: { iss: 'https://evil.example/realms/dev' } })));
  });

  it('for another audience', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', audience: 'some-other-api' })));
  });

  it('a Keycloak refresh or ID token (typ is not Bearer)', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', extra: { typ: 'Refresh' } })));
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', extra: { typ: 'ID' } })));
  });

  it('without exp', async () => {
    const token = await t.issuer.mint({ sub: 'x', expiresIn: null });
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp).toBeUndefined();
    expect401(await viewerWith(token));
  });

  it('tampered with after signing', async () => {
    const [h, p, s] = (await t.issuer.mint({ sub: 'x' })).split('.');
    const payload = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'someone-else' };
    expect401(await viewerWith(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`));
  });

  it('an iss that differs from the configured issuer only by a trailing slash (compared exactly)', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: 'slash', extra: { iss: `${t.issuer.issuer}/` } })));
  });

  it('issued in the future beyond the clock tolerance (iat); inside the tolerance it is accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect401(await viewerWith(await t.issuer.mint({ sub: 'future', extra: { iat: now + 365 * 24 * 3600 } })));
    expect401(await viewerWith(await t.issuer.mint({ sub: 'future', extra: { iat: now + 60 } })));
    expect((await viewerWith(await t.issuer.mint({ sub: 'future', extra: { iat: now + 2 } }))).status).toBe(200);
  });

  it('with an empty, blank, missing or unstorable sub (NUL, lone surrogate)', async () => {
    expect401(await viewerWith(await t.issuer.mint({ sub: '' })));
    expect401(await viewerWith(await t.issuer.mint({ sub: 'a\u0000b' })));
    expect401(await viewerWith(await t.issuer.mint({ sub: 'a\ud800b' })));
    expect401(await viewerWith(await t.issuer.mint({ sub: '   ' })));
    expect401(await viewerWith(await t.issuer.mint({ sub: 'x', extra: { sub: undefined } })));
    const owner = new pg.Client({ connectionString: db.superuserUrl });
    await owner.connect();
    try {
      const { rows } = await owner.query(
        `select count(*) filter (where trim(subject) = '')::int as blank, count(*)::int as n from app_public.users`,
      );
      expect(rows[0]).toMatchObject({ blank: 0 });
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await owner.end();
    }
  });

  it('garbage, or an Authorization header that is not Bearer', async () => {
    expect401(await viewerWith('not.a.jwt'));
    expect401(await viewerWith(null, { authorization: 'Basic dXNlcjpwYXNz' }));
  });
});

describe('when the issuer cannot be reached', () => {
  it('answers 503 SERVICE_UNAVAILABLE, never 401', async () => {
    const issuer = await startDevIssuer({ port: 0 });
    const token = await issuer.mint({ sub: 'x' });
    const gateway = await startTestGateway({}, { db, issuer });
    await issuer.stop();
    try {
      const response = await viewerWith(token, {}, gateway);
      expect(response.status).toBe(503);
      expect(errorCodes(response)).toEqual(['SERVICE_UNAVAILABLE']);
      expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await gateway.stop();
    }
  });

  it('keeps verifying with the cached keys for OIDC_JWKS_MAX_STALE (stale-if-error), then 503', async () => {
    const issuer = await startDevIssuer({ port: 0 });
    const lenient = await startTestGateway({ OIDC_JWKS_MAX_AGE: '1ms', OIDC_JWKS_MAX_STALE: '1h' }, { db, issuer });
    const strict = await startTestGateway({ OIDC_JWKS_MAX_AGE: '1ms', OIDC_JWKS_MAX_STALE: '1ms' }, { db, issuer });
    try {
      const token = await issuer.mint({ sub: 'stale' });
      expect((await viewerWith(token, {}, lenient)).status).toBe(200);
      expect((await viewerWith(token, {}, strict)).status).toBe(200);
      await issuer.stop();
      await new Promise((r) => setTimeout(r, 20));
      // A token not seen before (seen ones are remembered until they expire) needs the keys.
      const fresh = await issuer.mint({ sub: 'stale' });
      expect((await viewerWith(fresh, {}, lenient)).status).toBe(200);
      expect((await viewerWith(fresh, {}, strict)).status).toBe(503);
    } finally {
      await lenient.stop();
      await strict.stop();
    }
  });
});

describe('key rotation', () => {
  it('a token signed by a newly published key is accepted (the unknown kid triggers a refetch)', async () => {
    const issuer = await startDevIssuer({ port: 0 });
    const gateway = await startTestGateway({ OIDC_JWKS_COOLDOWN: '1ms' }, { db, issuer });
    try {
      expect((await viewerWith(await issuer.mint({ sub: 'rot' }), {}, gateway)).status).toBe(200);
      await issuer.rotate();
      await new Promise((r) => setTimeout(r, 5));
      expect((await viewerWith(await issuer.mint({ sub: 'rot' }), {}, gateway)).status).toBe(200);
    } finally {
      await gateway.stop();
      await issuer.stop();
    }
  });
});

describe('X-Customer-Id', () => {
  it('an End User naming another customer gets the 403 staff get for a customer not theirs', async () => {
    const org = await t.world.organization('Customer header');
    const other = await t.world.organization('Customer header, elsewhere');
    const endUser = await t.world.token(org.members.end_user);
    const admin = await t.world.token(org.members.admin);
    const own = org.customers[0]!.id;
    const sibling = org.customers[1]!.id;
    const foreign = other.customers[0]!.id;

    expect((await t.client.request(ViewerQuery, {}, { token: endUser, orgId: org.id, customerId: own })).status).toBe(200);
    const answers = [];
    for (const customerId of [sibling, foreign]) {
      const response = await t.client.request(ViewerQuery, {}, { token: endUser, orgId: org.id, customerId });
      expect(response.status, customerId).toBe(403);
      expect(errorCodes(response)).toEqual(['FORBIDDEN']);
      answers.push(response.body.errors![0]!.message);
    }
    const staff = await t.client.request(ViewerQuery, {}, { token: admin, orgId: org.id, customerId: foreign });
    expect(staff.status).toBe(403);
    expect(answers).toEqual([staff.body.errors![0]!.message, staff.body.errors![0]!.message]);
  });
});
