/**
 * Who may create organizations (ORG_CREATION), and how the first Owner of a fresh installation
 * comes to be: the allow-list lets a named address in, owners-only keeps newcomers out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, orgCreationPolicy, parseOrgCreation } from '../../src/config.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { World } from '../helpers/world.js';

const CREATE = 'mutation { createOrganization(input: {name: "New Co"}) { id } }';

async function tokenFor(world: World, email: string, emailVerified = true): Promise<string> {
  const user = await world.user('creator');
  return world.token(user, { email, emailVerified });
}

describe('ORG_CREATION settings', () => {
  it('parses the three forms and refuses anything else, naming the variable', () => {
    expect(parseOrgCreation('anyone')).toEqual({ kind: 'anyone' });
    expect(parseOrgCreation('owners-only')).toEqual({ kind: 'owners-only' });
    expect(parseOrgCreation('domains:Example.com, @corp.example ,vip@other.example')).toEqual({
      kind: 'domains',
      domains: ['example.com', 'corp.example'],
      addresses: ['vip@other.example'],
    });
    for (const bad of ['everyone', 'domains:', 'domains:not a domain', 'domains:a@b@c.example']) {
      expect(() => loadConfig({ ORG_CREATION: bad })).toThrow(/ORG_CREATION/);
    }
  });

  it('defaults to anyone in development and owners-only in production', () => {
    expect(orgCreationPolicy(loadConfig({}))).toEqual({ kind: 'anyone' });
    const production = loadConfig({
      NODE_ENV: 'production',
      CREDENTIALS_ENCRYPTION_KEY: Buffer.alloc(32).toString('base64'),
      AUDIT_SIGNING_KEY: Buffer.alloc(32).toString('base64'),
      OIDC_ISSUER: 'https://sso.example.com/realms/fastn',
      OIDC_AUDIENCE: 'control-plane-gateway',
    });
    expect(orgCreationPolicy(production)).toEqual({ kind: 'owners-only' });
  });
});

describe('ORG_CREATION=domains:allowed.example,vip@other.example', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ ORG_CREATION: 'domains:allowed.example,vip@other.example' });
  });
  afterAll(() => t?.stop());

  it('lets verified emails at a listed domain or a listed address create one', async () => {
    for (const email of ['ana@allowed.example', 'VIP@other.example']) {
      const created = await t.client.request(CREATE, undefined, { token: await tokenFor(t.world, email) });
      expect(expectData(created)).toMatchObject({ createOrganization: { id: expect.any(String) } });
    }
  });

  it('refuses unverified emails, other addresses at a listed address’s domain, and other domains', async () => {
    for (const [email, verified] of [
      ['ana@allowed.example', false],
      ['bob@other.example', true],
      ['eve@allowed.example.evil', true],
    ] as const) {
      const refused = await t.client.request(CREATE, undefined, { token: await tokenFor(t.world, email, verified) });
      expect(errorCodes(refused), email).toEqual(['FORBIDDEN']);
      expect(refused.body.errors![0]!.extensions?.setting).toBe('ORG_CREATION');
      expect(refused.body.data?.createOrganization ?? null).toBeNull();
    }
  });

  it('lets the Owner of an existing organization add another', async () => {
    const org = await t.world.organization('Existing Co');
    const token = await t.world.token(org.members.owner, { email: org.members.owner.email, emailVerified: true });
    expect(expectData(await t.client.request(CREATE, undefined, { token }))).toBeTruthy();
  });
});

describe('ORG_CREATION=owners-only (the production default)', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ ORG_CREATION: 'owners-only' });
  });
  afterAll(() => t?.stop());

  it('refuses a newcomer and an Admin, lets an Owner', async () => {
    const org = await t.world.organization('Owned Co');
    const newcomer = await t.client.request(CREATE, undefined, { token: await tokenFor(t.world, 'new@anywhere.example') });
    expect(errorCodes(newcomer)).toEqual(['FORBIDDEN']);
    const admin = await t.client.request(CREATE, undefined, { token: await t.world.token(org.members.admin) });
    expect(errorCodes(admin)).toEqual(['FORBIDDEN']);
    const owner = await t.client.request(CREATE, undefined, { token: await t.world.token(org.members.owner) });
    expect(expectData(owner)).toBeTruthy();
  });
});
