/**
 * A real gateway for end-to-end tests: HTTP on an ephemeral port, its own database (as the app
 * role), and a development issuer serving discovery + JWKS over HTTP that the gateway verifies
 * against exactly as it would Keycloak.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { startDevIssuer, type DevIssuer } from '../../src/auth/dev-issuer.js';
import { loadConfig } from '../../src/config.js';
import { CredentialCipher, parseKey } from '../../src/integrations/credentials.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { startGateway, type RunningGateway } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { World } from './world.js';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[] };
}

export interface RequestOptions {
  token?: string | null;
  orgId?: string | null;
  customerId?: string | null;
  headers?: Record<string, string>;
}

export class GatewayClient {
  constructor(readonly url: string) {}

  async request<R = Record<string, unknown>, V = Record<string, unknown>>(
    document: TypedDocumentNode<R, V> | DocumentNode | string,
    variables?: V,
    options: RequestOptions = {},
  ): Promise<GraphQLResponse<R>> {
    const query = typeof document === 'string' ? document : print(document);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
      ...options.headers,
    };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.orgId) headers['x-organization-id'] = options.orgId;
    if (options.customerId) headers['x-customer-id'] = options.customerId;
    const response = await fetch(`${this.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const text = await response.text();
    let body: GraphQLResponse<R>['body'];
    try {
      body = JSON.parse(text) as GraphQLResponse<R>['body'];
    } catch {
      throw new Error(`Non-JSON response (${response.status}) to:\n${query}\n${text}`);
    }
    return { status: response.status, headers: response.headers, body };
  }
}

/** Fails with the query's answer in the message, so a red test says what came back. */
export function expectData<R>(response: GraphQLResponse<R>): R {
  if (response.body.errors?.length || !response.body.data) {
    throw new Error(`Expected data, got HTTP ${response.status}:\n${JSON.stringify(response.body, null, 2)}`);
  }
  return response.body.data;
}

export function errorCodes(response: GraphQLResponse): string[] {
  return (response.body.errors ?? []).map((e) => String(e.extensions?.code));
}

export interface TestGateway {
  db: TestDatabase;
  issuer: DevIssuer;
  gateway: RunningGateway;
  client: GatewayClient;
  world: World;
  logs: string[];
  /** The gateway's credential cipher (fixtures store credentials as the gateway would). */
  cipher: CredentialCipher;
  /** The gateway's logger (its lines land in `logs`), for jobs a test runs by hand. */
  gatewayLogger: Logger;
  stop(): Promise<void>;
}

export async function startTestGateway(
  env: Record<string, string> = {},
  options: { db?: TestDatabase; issuer?: DevIssuer; spanExporter?: SpanExporter } = {},
): Promise<TestGateway> {
  const db = options.db ?? (await createTestDatabase());
  const issuer = options.issuer ?? (await startDevIssuer({ port: 0 }));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const credentialsKey = env.CREDENTIALS_ENCRYPTION_KEY ?? randomBytes(32).toString('base64');
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: db.appUrl,
    OIDC_ISSUER: issuer.issuer,
    OIDC_AUDIENCE: issuer.audience,
    PORT: '0',
    LOG_LEVEL: 'info',
    RATE_LIMIT_USER_MAX: '100000',
    RATE_LIMIT_ORG_MAX: '100000',
    RATE_LIMIT_IP_MAX: '100000',
    CREDENTIALS_ENCRYPTION_KEY: credentialsKey,
    TOKEN_REFRESH_INTERVAL: '0ms',
    // Sealing runs where a test asks for it (test/audit/); a key as production would have.
    AUDIT_SEAL_INTERVAL: '0ms',
    AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
    // Git-sync tests use local bare repositories.
    GIT_ALLOW_LOCAL_REPOSITORIES: 'true',
    ...env,
  });
  // Log lines go into `logs` (tests search them) instead of the terminal.
  const logger = createLogger(config.LOG_LEVEL, {}, sink);
  const gateway = await startGateway(config, logger, { spanExporter: options.spanExporter });
  const pool = db.appPool();
  return {
    db,
    issuer,
    gateway,
    client: new GatewayClient(gateway.url),
    world: new World(pool, issuer, new CredentialCipher(parseKey(credentialsKey))),
    logs,
    cipher: new CredentialCipher(parseKey(credentialsKey)),
    gatewayLogger: logger,
    async stop() {
      await gateway.stop();
      if (!options.issuer) await issuer.stop();
      if (!options.db) await db.drop();
    },
  };
}
