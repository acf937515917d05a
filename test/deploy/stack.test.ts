/**
 * The container and compose stack, as far as this machine can check them (no images can be
 * pulled here): the realm file is what the gateway expects of Keycloak, the compose file parses
 * and hands the gateway a configuration its own validation accepts, and the Dockerfile builds
 * in stages and runs `node dist/main.js` as a non-root user with a /health check.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface RealmClient {
  clientId: string;
  publicClient: boolean;
  standardFlowEnabled?: boolean;
  implicitFlowEnabled?: boolean;
  directAccessGrantsEnabled?: boolean;
  serviceAccountsEnabled?: boolean;
  secret?: string;
  attributes?: Record<string, string>;
  defaultClientScopes?: string[];
  protocolMappers?: { protocolMapper: string; config: Record<string, string> }[];
}
const realm = JSON.parse(read('deploy/keycloak/realm-fastn.json')) as {
  realm: string;
  enabled: boolean;
  accessTokenLifespan: number;
  clients: RealmClient[];
  identityProviders: { alias: string; providerId: string; enabled: boolean }[];
  users: { username: string; email?: string; emailVerified?: boolean; enabled: boolean; serviceAccountClientId?: string }[];
};
// merge: compose honours YAML merge keys (<<: *anchor), as YAML 1.1 did.
const compose = parse(read('compose.yaml'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      command?: string[];
      environment?: Record<string, string>;
      deploy?: { replicas?: number };
      depends_on?: Record<string, { condition: string }>;
      volumes?: string[];
    }
  >;
};
const dotenv = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

/** Compose's interpolation: ${X}, ${X:-default}, ${X:?error}, from .env (here: .env.example). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
    const set = dotenv[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '-') return rest ?? '';
    throw new Error(`compose needs ${name}, which .env.example does not set`);
  });
}

const gatewayEnv = () =>
  Object.fromEntries(Object.entries(compose.services.gateway!.environment!).map(([k, v]) => [k, interpolate(String(v))]));

describe('Keycloak realm fastn (deploy/keycloak/realm-fastn.json)', () => {
  const client = (id: string) => realm.clients.find((c) => c.clientId === id)!;
  const audiences = (c: RealmClient) =>
    (c.protocolMappers ?? [])
      .filter((m) => m.protocolMapper === 'oidc-audience-mapper' && m.config['access.token.claim'] === 'true')
      .map((m) => m.config['included.custom.audience'] ?? m.config['included.client.audience']);

  it('is the realm the gateway is configured for', () => {
    expect(realm.realm).toBe('fastn');
    expect(realm.enabled).toBe(true);
    expect(new URL(gatewayEnv().OIDC_ISSUER!).pathname).toBe(`/realms/${realm.realm}`);
    expect(gatewayEnv().OIDC_JWKS_URI).toMatch(/\/realms\/fastn\/protocol\/openid-connect\/certs$/);
  });

  it('has a public frontend client: authorization code with PKCE S256 only, tokens for the gateway audience', () => {
    const app = client('fastn-app');
    expect(app).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
    });
    expect(app.attributes?.['pkce.code.challenge.method']).toBe('S256');
    expect(app.secret).toBeUndefined();
    expect(audiences(app)).toEqual([gatewayEnv().OIDC_AUDIENCE]);
  });

  it('has a confidential service client (client credentials, secret from the environment) with the same audience', () => {
    const service = client('fastn-service');
    expect(service).toMatchObject({ publicClient: false, serviceAccountsEnabled: true, standardFlowEnabled: false });
    expect(service.secret).toBe('${FASTN_SERVICE_CLIENT_SECRET}');
    expect(compose.services.keycloak!.environment!.FASTN_SERVICE_CLIENT_SECRET).toContain('FASTN_SERVICE_CLIENT_SECRET');
    expect(audiences(service)).toEqual([gatewayEnv().OIDC_AUDIENCE]);
    expect(realm.users.find((u) => u.serviceAccountClientId === 'fastn-service')).toBeDefined();
  });

  it('gives every client the scopes whose claims the gateway reads: sub (basic), email, name (profile)', () => {
    // Since Keycloak 25 `sub` comes from the "basic" client scope; without it tokens have no sub (401).
    for (const c of realm.clients)
      expect(c.defaultClientScopes, c.clientId).toEqual(expect.arrayContaining(['basic', 'email', 'profile']));
  });

  it('every client is an authorized party (azp) of the gateway, and the gateway allows no other', () => {
    expect(gatewayEnv().OIDC_AUTHORIZED_PARTIES!.split(',').sort()).toEqual(realm.clients.map((c) => c.clientId).sort());
  });

  it('has GitHub and Google identity providers, present but disabled', () => {
    const providers = Object.fromEntries(realm.identityProviders.map((p) => [p.providerId, p.enabled]));
    expect(providers).toEqual({ github: false, google: false });
  });

  it('has demo users with verified emails, one of them allowed to create the first organization', () => {
    const people = realm.users.filter((u) => !u.serviceAccountClientId);
    expect(people.length).toBeGreaterThanOrEqual(4);
    for (const u of people) expect(u).toMatchObject({ enabled: true, emailVerified: true, email: expect.stringMatching(/@/) });
    const policy = loadConfig(gatewayEnv()).ORG_CREATION;
    expect(policy?.kind).toBe('domains');
    const allowed = policy?.kind === 'domains' ? policy.addresses : [];
    expect(people.some((u) => allowed.includes(u.email!))).toBe(true);
  });

  it('issues 5-minute access tokens signed RS256 (what OIDC_ALGORITHMS defaults to)', () => {
    expect(realm.accessTokenLifespan).toBe(300);
    expect((realm as unknown as { defaultSignatureAlgorithm: string }).defaultSignatureAlgorithm).toBe('RS256');
    expect(loadConfig(gatewayEnv()).OIDC_ALGORITHMS).toEqual(['RS256']);
  });
});

describe('compose.yaml', () => {
  it('runs PostgreSQL, Redis, Keycloak importing the realm, a migration job and two gateway replicas', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'keycloak', 'migrate', 'postgres', 'redis']);
    expect(compose.services.gateway!.deploy?.replicas).toBe(2);
    expect(compose.services.keycloak!.command).toContain('--import-realm');
    expect(compose.services.keycloak!.volumes).toContain(
      './deploy/keycloak/realm-fastn.json:/opt/keycloak/data/import/realm-fastn.json:ro',
    );
    expect(compose.services.gateway!.depends_on?.migrate?.condition).toBe('service_completed_successfully');
  });

  it("hands the gateway a configuration its own validation accepts, wired to the stack's services", () => {
    const config = loadConfig(gatewayEnv());
    expect(config.NODE_ENV).toBe('production');
    const db = new URL(config.DATABASE_URL!);
    expect([db.hostname, db.username, db.pathname]).toEqual(['postgres', 'gateway_app', '/gateway']);
    expect(db.password).toBe(dotenv.GATEWAY_APP_PASSWORD);
    expect(new URL(config.REDIS_URL!).hostname).toBe('redis');
    expect(new URL(config.OIDC_JWKS_URI!).hostname).toBe('keycloak');
    expect(config.DATABASE_OWNER_URL).toBeUndefined(); // the gateway never holds the owner's password
    expect(config.METRICS_PORT).toBe(9464);
  });

  it('migrates with the owner after bootstrapping with the superuser, on the same database', () => {
    const env = Object.fromEntries(
      Object.entries(compose.services.migrate!.environment!).map(([k, v]) => [k, interpolate(String(v))]),
    );
    expect(compose.services.migrate!.command!.join(' ')).toContain('node dist/cli/bootstrap.js && node dist/cli/migrate.js');
    const owner = new URL(env.DATABASE_OWNER_URL!);
    expect([owner.username, owner.pathname]).toEqual(['gateway_owner', `/${env.GATEWAY_DATABASE}`]);
    expect(owner.password).toBe(env.GATEWAY_OWNER_PASSWORD);
    expect(new URL(env.DATABASE_ADMIN_URL!).username).toBe('postgres');
  });

  it('every variable it reads is in .env.example or has a default', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const value of Object.values(service.environment ?? {})) {
        expect(() => interpolate(String(value)), `${name}: ${value}`).not.toThrow();
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l));

  it('builds in stages on Node 22 and ships only the compiled build, migrations and production dependencies', () => {
    const stages = instructions.filter((l) => l.startsWith('FROM '));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/^FROM node:22/);
    expect(dockerfile).toContain('npm run build');
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toContain('COPY --from=build /app/dist ./dist');
    expect(dockerfile).toContain('COPY migrations ./migrations');
  });

  it('runs node dist/main.js as a non-root user with a healthcheck on /health', () => {
    const user = instructions.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER (root|0)\b/);
    expect(instructions.at(-1)).toBe('CMD ["node", "dist/main.js"]');
    expect(dockerfile).toMatch(/HEALTHCHECK[^\n]*\\\n\s*CMD [^\n]*\/health/);
  });

  it('runs with glibc’s dynamic mmap threshold off (MALLOC_TRIM_THRESHOLD_, issue 10: resident memory under load)', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^ENV [^]*?MALLOC_TRIM_THRESHOLD_=\d+/m);
  });
});
