/**
 * The per-request context: who is calling, in which organization, with which database binding.
 * Built after the operation parsed and validated (Yoga's order), so an invalid query costs no
 * token verification and no database work.
 */
import type { YogaInitialContext } from 'graphql-yoga';
import type pg from 'pg';
import { RequestAudit } from './audit/audit-log.js';
import type { MemberActivity } from './auth/activity.js';
import type { TokenRefresher } from './domain/connections.js';
import type { CredentialCipher } from './integrations/credentials.js';
import type { Principal, PrincipalResolver } from './auth/principal.js';
import type { TokenVerifier, VerifiedToken } from './auth/token-verifier.js';
import type { Config } from './config.js';
import { effectivePermissions } from './authz/scopes.js';
import { badUserInput, forbidden, unauthenticated } from './errors.js';
import { createLoaders, type Loaders } from './db/loaders.js';
import { RequestDatabase, type DatabaseBinding } from './db/request-database.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './observability/metrics.js';

export const ORGANIZATION_HEADER = 'x-organization-id';
export const CUSTOMER_HEADER = 'x-customer-id';
export const REQUEST_ID_HEADER = 'x-request-id';

export type Caller = { kind: 'anonymous' } | { kind: 'user'; userId: string; token: VerifiedToken };

export interface GatewayServices {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  verifier: TokenVerifier;
  principals: PrincipalResolver;
  activity: MemberActivity;
  cipher: CredentialCipher;
  refresher: TokenRefresher;
  metrics?: GatewayMetrics;
}

export interface Context {
  requestId: string;
  clientIp: string | null;
  userAgent: string | null;
  caller: Caller;
  /** The caller's membership in the organization this request acts in, if any. */
  principal: Principal | null;
  /** Set when a staff member scoped the request to one customer, or the caller is an End User. */
  confinedToCustomer: string | null;
  db: RequestDatabase;
  audit: RequestAudit;
  loaders: Loaders;
  logger: Logger;
  services: GatewayServices;
  /** Bookkeeping to do once the request's transaction has committed. */
  afterCommit?: () => void;
  /** This mutation claimed an Idempotency-Key (src/db/idempotency.ts). */
  idempotency?: { key: string };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Request ids are assigned in onRequest (before any context exists) and kept per Request. */
export const requestIds = new WeakMap<Request, string>();

/**
 * The caller's address: the socket's, or behind a trusted proxy (TRUST_PROXY) the last entry of
 * X-Forwarded-For — the address that proxy saw; earlier entries are whatever the client wrote.
 * Without TRUST_PROXY the header is ignored (anyone can send it).
 */
export function clientIpOf(request: Request, trustProxy: boolean, socketIp: string | null): string | null {
  if (trustProxy) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (forwarded) return forwarded;
  }
  return socketIp;
}

export interface ServerContext {
  req?: { socket?: { remoteAddress?: string } };
}

export function createContextFactory(services: GatewayServices) {
  return async function createContext(initial: YogaInitialContext & ServerContext): Promise<Context> {
    const { request } = initial;
    const requestId = requestIds.get(request) ?? crypto.randomUUID();
    const logger = services.logger.child({ requestId });
    const clientIp = normalizeIp(clientIpOf(request, services.config.TRUST_PROXY, initial.req?.socket?.remoteAddress ?? null));
    const userAgent = request.headers.get('user-agent');

    const caller = await authenticate(request, services);
    let principal: Principal | null = null;
    if (caller.kind === 'user') principal = await selectOrganization(request, caller.userId, services);

    let confinedToCustomer = principal ? customerScope(request, principal) : null;
    const db = new RequestDatabase(services.pool, bindingFor(caller, principal, confinedToCustomer), logger);
    const actor = caller.kind === 'user' ? { userId: caller.userId, name: caller.token.name ?? caller.token.email } : null;
    const audit = new RequestAudit({ requestId, clientIp, userAgent }, actor, logger);
    const metrics = services.metrics;
    if (metrics) audit.observer = (outcome, result, count) => metrics.auditEvents.inc({ outcome, result }, count);
    let afterCommit: (() => void) | undefined;

    if (principal && caller.kind === 'user') {
      const validated = await validateInTransaction(
        db,
        request,
        caller.userId,
        principal,
        services,
        audit,
        caller.token.sessionKey,
      );
      principal = validated.principal;
      confinedToCustomer = validated.confinedToCustomer;
      afterCommit = validated.afterCommit;
    }

    return {
      requestId,
      clientIp,
      userAgent,
      caller,
      principal,
      confinedToCustomer,
      db,
      audit,
      loaders: createLoaders(db),
      logger,
      services,
      afterCommit,
    };
  };
}

/**
 * Opens the request's transaction and makes sure the principal is current, in it: the round
 * trip that opens the transaction reads the organization's authorization version, and a cached
 * principal older than that is resolved again through the same client (never a second one
 * from the pool: under load, requests holding one client and waiting for another would starve
 * it). Whatever fails after the transaction is open abandons it, so no client is left behind.
 */
async function validateInTransaction(
  db: RequestDatabase,
  request: Request,
  userId: string,
  cached: Principal,
  services: GatewayServices,
  audit: RequestAudit,
  sessionKey: string | null,
): Promise<{ principal: Principal; confinedToCustomer: string | null; afterCommit: () => void }> {
  try {
    let principal = cached;
    let confinedToCustomer = customerScope(request, principal);
    const version = await db.open();
    if (version !== principal.authzVersion) {
      const fresh = await services.principals.refresh(userId, principal.orgId, db);
      if (!fresh) throw forbidden('You are not a member of that organization.', { http: { status: 403 } });
      principal = fresh;
      confinedToCustomer = customerScope(request, principal);
      await db.rebind(bindingFor({ kind: 'user', userId }, principal, confinedToCustomer));
    }
    if (principal.status !== 'active') {
      throw forbidden('Your membership in this organization is inactive.', { http: { status: 403 } });
    }
    // Staff scoping a request to one customer must name one of their organization's; another
    // organization's customer answers like a missing one.
    if (confinedToCustomer && !principal.customerId) {
      const { rowCount } = await db.query('select 1 from customers where id = $1', [confinedToCustomer]);
      if (!rowCount) throw forbidden('No such customer in this organization.', { http: { status: 403 } });
    }
    const afterCommit = await services.activity.record(db, audit, principal, userId, sessionKey);
    return { principal, confinedToCustomer, afterCommit };
  } catch (error) {
    await db.abandon();
    throw error;
  }
}

function bindingFor(
  caller: Caller | { kind: 'user'; userId: string },
  principal: Principal | null,
  confinedToCustomer: string | null,
): DatabaseBinding {
  return {
    userId: caller.kind === 'user' ? caller.userId : null,
    orgId: principal?.orgId ?? null,
    access: principal ? (confinedToCustomer ? 'customer' : 'staff') : null,
    tenantId: confinedToCustomer,
    // What the schema's scopes check, bound for the write policies too (an inactive member's
    // requests are refused before they do anything; they bind nothing).
    permissions:
      principal?.status === 'active' ? [...effectivePermissions(principal.permissions, confinedToCustomer !== null)] : [],
  };
}

async function authenticate(request: Request, services: GatewayServices): Promise<Caller> {
  const header = request.headers.get('authorization');
  if (!header) return { kind: 'anonymous' };
  const match = /^Bearer +([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim());
  if (!match)
    throw unauthenticated('The Authorization header must be "Bearer <access token>".', 'malformed Authorization header');
  const token = await services.verifier.verify(match[1]!);
  const userId = await services.principals.userId(token);
  return { kind: 'user', userId, token };
}

/**
 * The organization comes from the X-Organization-Id header; without it, the user's only active
 * organization is used. Not a member, or no such organization: the same 403, so the header
 * cannot be used to discover organizations.
 */
async function selectOrganization(request: Request, userId: string, services: GatewayServices): Promise<Principal | null> {
  const requested = request.headers.get(ORGANIZATION_HEADER)?.trim();
  if (!requested) {
    const orgId = await services.principals.defaultOrganization(userId);
    return orgId ? services.principals.principal(userId, orgId) : null;
  }
  const principal = isUuid(requested) ? await services.principals.principal(userId, requested) : null;
  if (!principal) {
    throw forbidden('You are not a member of that organization.', { http: { status: 403 } });
  }
  return principal;
}

/**
 * End Users are always confined to their customer; staff may confine themselves with
 * X-Customer-Id. An End User naming another customer gets the 403 staff get for a customer
 * that is not theirs (never a silent switch back to their own).
 */
function customerScope(request: Request, principal: Principal): string | null {
  const requested = request.headers.get(CUSTOMER_HEADER)?.trim();
  if (requested && !isUuid(requested)) throw badUserInput('X-Customer-Id', 'must be a customer id (a UUID)');
  if (principal.customerId) {
    if (requested && requested.toLowerCase() !== principal.customerId.toLowerCase()) {
      throw forbidden('No such customer in this organization.', { http: { status: 403 } });
    }
    return principal.customerId;
  }
  return requested || null;
}

export function normalizeIp(ip: string | null): string | null {
  if (!ip) return null;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  return v4mapped ? v4mapped[1]! : ip;
}
