/**
 * Configuration comes from the environment, is parsed once at start, and is typed from then on.
 * A bad value stops the process with a message naming the variable; nothing reads process.env
 * anywhere else.
 */
import { z } from 'zod';

const boolean = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const postgresUrl = z
  .string()
  .url()
  .refine((u) => /^postgres(ql)?:\/\//.test(u), 'must be a postgres:// or postgresql:// URL');

const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'must look like 500ms, 30s, 1m or 1h')
  .transform((v) => {
    const match = /^(\d+)(ms|s|m|h)$/.exec(v)!;
    const n = Number(match[1]);
    const unit = match[2] as 'ms' | 's' | 'm' | 'h';
    return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit];
  });

const variables = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  /** The gateway's own login role: not superuser, no BYPASSRLS, owns no table. Unset: embedded PostgreSQL. */
  DATABASE_URL: postgresUrl.optional(),
  /** The schema owner, used only to migrate. When set (or embedded), migrations run at start. */
  DATABASE_OWNER_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  DATABASE_STATEMENT_TIMEOUT: duration.default(10_000),
  /** A lock wait gives up after this (503 naming lock_timeout): one locked table must not hold the pool. */
  DATABASE_LOCK_TIMEOUT: duration.default(2_000),
  /** How long a request waits for a pooled connection (or a new one to open) before a 503. */
  DATABASE_POOL_TIMEOUT: duration.default(5_000),
  /** Idempotency-Key results are kept this long, then purged (see README, "Safe retries"). */
  IDEMPOTENCY_KEY_TTL: duration.default(24 * 3_600_000),
  /** How often this replica deletes expired idempotency keys (0ms: never, e.g. all but one replica). */
  IDEMPOTENCY_PURGE_INTERVAL: duration.default(3_600_000),
  /** Local state: the embedded cluster, the development issuer's key. */
  DATA_DIR: z.string().default('.data'),
  /** Default: $DATA_DIR/postgres. */
  EMBEDDED_POSTGRES_DIR: z.string().optional(),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** Seed the demo organization at start (default: on for embedded PostgreSQL, off otherwise). */
  SEED_DEMO: boolean.optional(),

  /** Unset: a development issuer runs in-process and the demo members can get tokens. */
  OIDC_ISSUER: z.string().url().optional(),
  OIDC_AUDIENCE: z.string().min(1).optional(),
  /** Overrides discovery (Keycloak: {issuer}/protocol/openid-connect/certs). */
  OIDC_JWKS_URI: z.string().url().optional(),
  OIDC_ALGORITHMS: z
    .string()
    .default('RS256')
    .transform((v) =>
      v
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    ),
  /** When set, a token's `azp` must be one of these client ids. */
  OIDC_AUTHORIZED_PARTIES: z
    .string()
    .optional()
    .transform((v) =>
      v
        ? v
            .split(',')
            .map((a) => a.trim())
            .filter(Boolean)
        : undefined,
    ),
  OIDC_CLOCK_TOLERANCE: duration.default(5_000),
  /** Signing keys are refetched when older than this. */
  OIDC_JWKS_MAX_AGE: duration.default(600_000),
  /** An unknown key id triggers a refetch at most this often (rotation vs. junk-token floods). */
  OIDC_JWKS_COOLDOWN: duration.default(30_000),
  /** How long past max age the keys may still be used when the issuer cannot be reached (stale-if-error). */
  OIDC_JWKS_MAX_STALE: duration.default(3_600_000),
  DEV_ISSUER_PORT: z.coerce.number().int().min(0).max(65535).default(4001),

  /** Shared rate-limit counters across replicas. Unset: in-process counters. */
  REDIS_URL: z.string().url().optional(),
  RATE_LIMIT_WINDOW: duration.default(60_000),
  RATE_LIMIT_USER_MAX: z.coerce.number().int().min(1).default(600),
  RATE_LIMIT_ORG_MAX: z.coerce.number().int().min(1).default(6000),
  /** Per client IP: anonymous calls, failed sign-ins (401), refused organization/customer headers (403). */
  RATE_LIMIT_IP_MAX: z.coerce.number().int().min(1).default(300),

  /** 32 bytes, base64: encrypts connection credentials. Unset in development: a key in DATA_DIR. */
  CREDENTIALS_ENCRYPTION_KEY: z.string().optional(),
  /** How often due OAuth tokens are refreshed (0: never, e.g. a replica that should not). */
  TOKEN_REFRESH_INTERVAL: z
    .string()
    .regex(/^\d+(ms|s|m|h)$/)
    .default('60s')
    .transform((v) => {
      const m = /^(\d+)(ms|s|m|h)$/.exec(v)!;
      return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    }),

  /** Audit events older than this are deleted by `npm run audit:purge`, organization or not. */
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(400),
  /**
   * Seals the audit trail (HMACs the database never sees; README "Tamper evidence"). At least 32
   * characters. Required in production; unset elsewhere: a published development key (logged).
   */
  AUDIT_SIGNING_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /** How often new audit events are sealed (one replica at a time; 0ms: this replica never seals). */
  AUDIT_SEAL_INTERVAL: duration.default(5_000),
  /**
   * GET /audit/export runs on its own pool of this many connections (never the request pool's), and
   * at most this many exports run at once on a replica (one client each); more answer 503.
   */
  AUDIT_EXPORT_POOL_MAX: z.coerce.number().int().min(1).max(50).default(2),
  /** Exports of one organization running at once on a replica; more answer 429. */
  AUDIT_EXPORT_PER_ORGANIZATION: z.coerce.number().int().min(1).max(50).default(1),
  /**
   * An export whose client takes nothing for this long is ended (its transaction rolled back, its
   * slot and connection freed; the body ends with a line saying where to resume).
   */
  AUDIT_EXPORT_PULL_TIMEOUT: duration.default(20_000),

  /**
   * Git sync may reach repositories on this machine (file:// URLs and absolute paths). Off by
   * default: a tenant could otherwise name any repository the gateway's user can read. Tests
   * and local development turn it on; production uses https:// remotes only.
   */
  GIT_ALLOW_LOCAL_REPOSITORIES: boolean.default(false),
  /** Bound on each git command of git sync (fetch, push). */
  GIT_TIMEOUT: duration.default(60_000),

  /**
   * Who may call createOrganization: `anyone` (signed in), `domains:<list>` (verified emails
   * at these domains or these exact addresses, comma-separated), or `owners-only` (people who
   * already own an organization). Default: anyone in development, owners-only in production.
   */
  ORG_CREATION: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return undefined;
      const policy = parseOrgCreation(v);
      if (!policy) {
        ctx.addIssue({ code: 'custom', message: 'must be anyone, owners-only, or domains:<domain or address>[,…]' });
        return z.NEVER;
      }
      return policy;
    }),

  /** Serve /metrics on this port too (bound to METRICS_HOST), apart from the API. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().optional(),
  /** A bearer secret for /metrics (Authorization: Bearer <token>); needed to serve it on the API port in production. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** OpenTelemetry: traces are exported over OTLP/HTTP to {endpoint}/v1/traces when set. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTEL_SERVICE_NAME: z.string().default('control-plane-gateway'),

  /** Serve GraphiQL at /graphql. Default: on, except in production. */
  GRAPHIQL: boolean.optional(),
  /** Answer introspection queries (and "did you mean" suggestions). Default: on, except in production. */
  INTROSPECTION: boolean.optional(),
  /** Browser origins allowed to call the API cross-site (comma-separated, exact). Unset: none. */
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  /** Take the client IP from X-Forwarded-For (only behind a proxy you trust). */
  TRUST_PROXY: boolean.default(false),
  /**
   * How far (percent) V8 lets the old generation grow past what survived the last full collection
   * before collecting again (src/heap-growth.ts). 0 leaves it to V8.
   */
  HEAP_GROWTH_PERCENT: z.coerce.number().int().min(0).max(300).default(50),
  /** Cap on a request's body, in bytes (counted as it is read, chunked or not). */
  MAX_REQUEST_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  /** off: any document runs; allowed: manifest ids and documents; required: manifest ids only. */
  TRUSTED_DOCUMENTS: z.enum(['off', 'allowed', 'required']).default('off'),
  /** The frontend's persisted-documents manifest ({ "sha256:…": "query …" }). */
  TRUSTED_DOCUMENTS_MANIFEST: z.string().default('persisted-documents.json'),
});

/** Every variable the gateway reads (the README's configuration table names each one). */
export const CONFIG_VARIABLES = Object.keys(variables.shape);

const schema = variables
  .superRefine((env, ctx) => {
    if (env.OIDC_ISSUER && !env.OIDC_AUDIENCE) {
      ctx.addIssue({ code: 'custom', path: ['OIDC_AUDIENCE'], message: 'is required when OIDC_ISSUER is set' });
    }
    if (env.DATABASE_LOCK_TIMEOUT > env.DATABASE_STATEMENT_TIMEOUT) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_LOCK_TIMEOUT'], message: 'must not exceed DATABASE_STATEMENT_TIMEOUT' });
    }
    if (env.NODE_ENV === 'production' && !env.OIDC_ISSUER) {
      ctx.addIssue({
        code: 'custom',
        path: ['OIDC_ISSUER'],
        message: 'is required in production (the development issuer never runs there)',
      });
    }
    for (const origin of env.CORS_ORIGINS) {
      if (!/^https?:\/\/[^/\s]+$/.test(origin) || origin === '*') {
        ctx.addIssue({ code: 'custom', path: ['CORS_ORIGINS'], message: `${origin} is not an origin (scheme://host[:port])` });
      }
    }
    if (env.NODE_ENV === 'production' && !env.CREDENTIALS_ENCRYPTION_KEY) {
      ctx.addIssue({ code: 'custom', path: ['CREDENTIALS_ENCRYPTION_KEY'], message: 'is required in production' });
    }
    if (env.NODE_ENV === 'production' && !env.AUDIT_SIGNING_KEY) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUDIT_SIGNING_KEY'],
        message: 'is required in production (it seals the audit trail)',
      });
    }
    if (env.CREDENTIALS_ENCRYPTION_KEY && Buffer.from(env.CREDENTIALS_ENCRYPTION_KEY, 'base64').length !== 32) {
      ctx.addIssue({ code: 'custom', path: ['CREDENTIALS_ENCRYPTION_KEY'], message: 'must be 32 bytes, base64-encoded' });
    }
    for (const alg of env.OIDC_ALGORITHMS) {
      if (!/^(RS|PS|ES)(256|384|512)$|^EdDSA$/.test(alg)) {
        ctx.addIssue({ code: 'custom', path: ['OIDC_ALGORITHMS'], message: `${alg} is not an asymmetric JWS algorithm` });
      }
    }
  })
  // Development conveniences are production liabilities: off in production unless asked for.
  .transform((env) => ({
    ...env,
    GRAPHIQL: env.GRAPHIQL ?? env.NODE_ENV !== 'production',
    INTROSPECTION: env.INTROSPECTION ?? env.NODE_ENV !== 'production',
  }));

export type Config = z.infer<typeof schema>;

export type OrgCreationPolicy =
  { kind: 'anyone' } | { kind: 'owners-only' } | { kind: 'domains'; domains: string[]; addresses: string[] };

export function parseOrgCreation(value: string): OrgCreationPolicy | undefined {
  const v = value.trim();
  if (v === 'anyone' || v === 'owners-only') return { kind: v };
  const match = /^domains:(.+)$/.exec(v);
  if (!match) return undefined;
  const entries = match[1]!
    .split(',')
    .map((e) => e.trim().toLowerCase().replace(/^@/, ''))
    .filter(Boolean);
  const valid = /^(?:[^@\s]+@)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;
  if (entries.length === 0 || !entries.every((e) => valid.test(e))) return undefined;
  return {
    kind: 'domains',
    domains: entries.filter((e) => !e.includes('@')),
    addresses: entries.filter((e) => e.includes('@')),
  };
}

/** The organization-creation policy in force: the setting, or the environment's safe default. */
export function orgCreationPolicy(config: Config): OrgCreationPolicy {
  return config.ORG_CREATION ?? (config.NODE_ENV === 'production' ? { kind: 'owners-only' } : { kind: 'anyone' });
}

export function embeddedPostgresDir(config: Config): string {
  return config.EMBEDDED_POSTGRES_DIR ?? `${config.DATA_DIR}/postgres`;
}

export function devIssuerStateFile(config: Config): string {
  return `${config.DATA_DIR}/dev-issuer.json`;
}

export class ConfigError extends Error {
  // Named explicitly: the logger tests `error.name` (logger.ts), and a subclass of Error is
  // otherwise named 'Error' (a bundler may also rename the class itself).
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset: `FOO= npm start` should not mean "the empty URL".
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}
