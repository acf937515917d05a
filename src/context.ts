/**
 * The per-request context: who is calling, in which organization, with which database binding.
 * Built after the operation parsed and validated (Yoga's order), so an invalid query costs no
 * token verification and no database work.
 */
import type { YogaInitialContext } from 'graphql-yoga';
import type pg from 'pg';
import { RequestAudit } from './audit/audit-log.js';
import { sealingKey } from './audit/seal.js';
import type { MemberActivity } from './auth/activity.js';
import type { TokenRefresher } from './domain/connections.js';
import type { CredentialCipher } from './integrations/credentials.js';
import {
  isServiceActive,
  type MemberPrincipal,
  type Principal,
  type PrincipalResolver,
  type ServicePrincipal,
} from './auth/principal.js';
import type { KeyVerifier } from './auth/key-verifier.js';
import type { Git } from './integrations/git.js';
import {
  accessWithoutProjectRoles,
  resolveWorkspaceAccess,
  workspaceSubjectOf,
  type WorkspaceAccess,
} from './authz/workspace-access.js';
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
export const WORKSPACE_HEADER = 'x-workspace-id';
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Who is calling: nobody, a person (a verified OIDC token), or a service principal (an API key,
 * a runner key, or a registered OIDC client's service-account token), which acts as an identity
 * of its own (`userId`) in exactly one organization.
 */
export type Caller = { kind: 'anonymous' } | { kind: 'user'; userId: string; token: VerifiedToken } | ServiceCaller;

export interface ServiceCaller {
  kind: 'service';
  userId: string;
  orgId: string;
  servicePrincipalId: string;
  /** The key's public id as presented (null for OIDC clients): a rotated key stops matching. */
  publicId: string | null;
}

export interface GatewayServices {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  verifier: TokenVerifier;
  /** The OIDC issuer tokens are verified against (OIDC clients are registered under it). */
  oidcIssuer: string;
  keys: KeyVerifier;
  principals: PrincipalResolver;
  activity: MemberActivity;
  cipher: CredentialCipher;
  refresher: TokenRefresher;
  /** Git sync's client (src/integrations/git.ts). */
  git: Git;
  metrics?: GatewayMetrics;
  /** GET /audit/export's own small pool (createBackgroundPool); absent (a hand-built gateway): the request pool. */
  exportPool?: pg.Pool;
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
  /** The workspace this request acts in (X-Workspace-Id) and what the caller may do there. */
  workspace: WorkspaceAccess | null;
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
  /** The operation is a query (set once it is parsed, src/db/request-transaction-plugin.ts). */
  readOnlyOperation?: boolean;
}

export function createContextFactory(services: GatewayServices) {
  return async function createContext(initial: YogaInitialContext & ServerContext): Promise<Context> {
    const { request } = initial;
    const requestId = requestIds.get(request) ?? crypto.randomUUID();
    const logger = services.logger.child({ requestId });
    const clientIp = normalizeIp(clientIpOf(request, services.config.TRUST_PROXY, initial.req?.socket?.remoteAddress ?? null));
    const userAgent = request.headers.get('user-agent');

    const { caller, service } = await authenticate(request, services);
    let principal: Principal | null = service;
    if (caller.kind === 'user') principal = await selectOrganization(request, caller.userId, services);
    if (caller.kind === 'service') assertOwnOrganization(request, caller);

    let confinedToCustomer = principal ? customerScope(request, principal) : null;
    const workspaceId = principal ? workspaceScope(request, principal) : null;
    // A query runs in a READ ONLY transaction unless this request has activity to record (a
    // sign-in, a last-active touch): PostgreSQL then refuses any write in it, and its end costs no
    // round trip of its own (src/db/parked-transactions.ts).
    const readOnly =
      initial.readOnlyOperation === true &&
      !(principal && caller.kind !== 'anonymous' && wouldRecordActivity(services.activity, principal, caller));
    const db = new RequestDatabase(services.pool, bindingFor(caller, principal, confinedToCustomer, workspaceId), logger, {
      readOnly,
    });
    const actor =
      caller.kind === 'user'
        ? { userId: caller.userId, name: caller.token.name ?? caller.token.email }
        : service
          ? { userId: service.userId, name: service.name, servicePrincipalId: service.servicePrincipalId }
          : null;
    const audit = new RequestAudit(
      { requestId, clientIp, userAgent },
      actor,
      logger,
      sealingKey(services.config.AUDIT_SIGNING_KEY),
    );
    const metrics = services.metrics;
    if (metrics) audit.observer = (outcome, result, count) => metrics.auditEvents.inc({ outcome, result }, count);
    let afterCommit: (() => void) | undefined;
    let workspace: WorkspaceAccess | null = null;

    if (principal && caller.kind !== 'anonymous') {
      const validated = await validateInTransaction(
        db,
        request,
        caller,
        principal,
        services,
        audit,
        caller.kind === 'user' ? caller.token.sessionKey : null,
        workspaceId,
      );
      principal = validated.principal;
      confinedToCustomer = validated.confinedToCustomer;
      afterCommit = validated.afterCommit;
      workspace = validated.workspace;
    }

    return {
      requestId,
      clientIp,
      userAgent,
      caller,
      principal,
      confinedToCustomer,
      workspace,
      db,
      audit,
      loaders: createLoaders(db),
      logger,
      services,
      afterCommit,
    };
  };
}

function wouldRecordActivity(activity: MemberActivity, principal: Principal, caller: Exclude<Caller, { kind: 'anonymous' }>) {
  return principal.kind === 'member'
    ? activity.wouldRecord(principal, caller.kind === 'user' ? caller.token.sessionKey : null)
    : activity.wouldRecordService(principal);
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
  caller: Exclude<Caller, { kind: 'anonymous' }>,
  cached: Principal,
  services: GatewayServices,
  audit: RequestAudit,
  sessionKey: string | null,
  workspaceId: string | null,
): Promise<{
  principal: Principal;
  confinedToCustomer: string | null;
  workspace: WorkspaceAccess | null;
  afterCommit: () => void;
}> {
  try {
    let principal = cached;
    let confinedToCustomer = customerScope(request, principal);
    const version = await db.open();
    if (version !== principal.authzVersion) {
      const fresh: Principal | null =
        principal.kind === 'member'
          ? await services.principals.refresh(caller.userId, principal.orgId, db)
          : await services.principals.refreshService(principal.orgId, principal.servicePrincipalId, db);
      if (!fresh && caller.kind === 'service') throw invalidCredential();
      if (!fresh) throw forbidden('You are not a member of that organization.', { http: { status: 403 } });
      principal = fresh;
      confinedToCustomer = customerScope(request, principal);
      await db.rebind(bindingFor(caller, principal, confinedToCustomer, workspaceId));
    }
    if (principal.kind === 'service') {
      // Revoked, expired or rotated away: exactly the answer a bad token gets.
      if (!isServiceActive(principal) || (caller.kind === 'service' && caller.publicId !== principal.publicId)) {
        throw invalidCredential();
      }
    } else if (principal.status !== 'active') {
      throw forbidden('Your membership in this organization is inactive.', { http: { status: 403 } });
    }
    // Staff scoping a request to one customer must name one of their organization's; another
    // organization's customer answers like a missing one.
    if (confinedToCustomer && !principal.customerId) {
      const { rowCount } = await db.query('select 1 from customers where id = $1', [confinedToCustomer]);
      if (!rowCount) throw forbidden('No such customer in this organization.', { http: { status: 403 } });
    }
    const workspace = workspaceId ? await workspaceContext(db, principal, confinedToCustomer, workspaceId) : null;
    // The write policies check app.permissions (and app.project_permissions for project members
    // and git settings): bind what a project role adds here, once it is known.
    if (workspace && workspace.grants.length > 0) {
      await db.rebind({
        ...db.currentBinding,
        permissions: [...workspace.permissions],
        projectPermissions: [...workspace.projectPermissions],
      });
    }
    const afterCommit =
      principal.kind === 'member'
        ? await services.activity.record(db, audit, principal, caller.userId, sessionKey)
        : await services.activity.recordService(db, principal);
    return { principal, confinedToCustomer, workspace, afterCommit };
  } catch (error) {
    await db.abandon();
    throw error;
  }
}

/**
 * The workspace a request names must be one of its organization's, and only staff act in one
 * (a customer's context sees no definitions at all). Anything else answers exactly like an
 * organization the caller does not belong to: 403, whether it exists elsewhere or not.
 */
async function workspaceContext(
  db: RequestDatabase,
  principal: Principal,
  confinedToCustomer: string | null,
  workspaceId: string,
): Promise<WorkspaceAccess> {
  const access = confinedToCustomer ? null : await resolveWorkspaceAccess(db, workspaceSubjectOf(principal), workspaceId);
  if (!access) throw noSuchWorkspace();
  return access;
}

function bindingFor(
  caller: Caller,
  principal: Principal | null,
  confinedToCustomer: string | null,
  workspaceId: string | null = null,
): DatabaseBinding {
  return {
    userId: caller.kind === 'anonymous' ? null : caller.userId,
    orgId: principal?.orgId ?? null,
    access: principal ? (confinedToCustomer ? 'customer' : 'staff') : null,
    tenantId: confinedToCustomer,
    principal: !principal
      ? null
      : principal.kind === 'member'
        ? { kind: 'member', id: principal.membershipId }
        : { kind: principal.serviceKind, id: principal.servicePrincipalId },
    // Never bound for a customer's context (refused above); staff only.
    workspaceId: confinedToCustomer ? null : workspaceId,
    // What the schema's scopes check, bound for the write policies too (an inactive member's, or
    // a revoked key's, requests are refused before they do anything; they bind nothing). In a
    // workspace whose project role adds permissions, the request is re-bound with them once
    // they are known.
    permissions: principal?.status === 'active' ? effectivePermissions(principal.permissions, confinedToCustomer !== null) : [],
    // A workspace-scoped key's access there is known up front (it holds no project role).
    ...(principal?.kind === 'service' && principal.workspaceId && !confinedToCustomer && principal.status === 'active'
      ? scopedKeyPermissions(principal)
      : {}),
  };
}

function scopedKeyPermissions(principal: ServicePrincipal): Pick<DatabaseBinding, 'permissions' | 'projectPermissions'> {
  const access = accessWithoutProjectRoles(workspaceSubjectOf(principal));
  return { permissions: [...access.permissions], projectPermissions: [...access.projectPermissions] };
}

/**
 * X-Workspace-Id, validated as an id; whose it is is checked in the request's transaction. A
 * workspace-scoped key always acts in its workspace, header or not; naming another answers
 * exactly like an unknown workspace (never a silent switch back to its own).
 */
function workspaceScope(request: Request, principal: Principal): string | null {
  const requested = request.headers.get(WORKSPACE_HEADER)?.trim();
  if (requested && !isUuid(requested)) throw badUserInput('X-Workspace-Id', 'must be a workspace id (a UUID)');
  const own = principal.kind === 'service' ? principal.workspaceId : null;
  if (own) {
    if (requested && requested.toLowerCase() !== own.toLowerCase()) throw noSuchWorkspace();
    return own;
  }
  return requested ? requested.toLowerCase() : null;
}

function noSuchWorkspace() {
  return forbidden('No such workspace in this organization.', { http: { status: 403 } });
}

/** Every way a service credential can be wrong answers exactly like a bad token (same body, same challenge). */
export function invalidCredential() {
  return unauthenticated('The token is invalid.', 'invalid token');
}

/**
 * The bearer credential: an API or runner key (told apart by its `gwk_`/`gwr_` prefix), or an
 * OIDC access token — a person's, or a registered client's service-account token.
 */
async function authenticate(
  request: Request,
  services: GatewayServices,
): Promise<{ caller: Caller; service: ServicePrincipal | null }> {
  const header = request.headers.get('authorization');
  if (!header) return { caller: { kind: 'anonymous' }, service: null };
  const match = /^Bearer +([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim());
  if (!match)
    throw unauthenticated('The Authorization header must be "Bearer <access token>".', 'malformed Authorization header');
  const credential = match[1]!;
  if (services.keys.claims(credential)) {
    const key = await services.keys.verify(credential);
    if (!key) throw invalidCredential();
    return serviceCaller(services, key.orgId, key.servicePrincipalId, key.publicId);
  }
  const token = await services.verifier.verify(credential);
  if (token.clientId) {
    const registered = await services.principals.oidcClient(token.issuer, token.clientId);
    if (registered) return serviceCaller(services, registered.orgId, registered.id, null);
  }
  const userId = await services.principals.userId(token);
  return { caller: { kind: 'user', userId, token }, service: null };
}

async function serviceCaller(
  services: GatewayServices,
  orgId: string,
  servicePrincipalId: string,
  publicId: string | null,
): Promise<{ caller: ServiceCaller; service: ServicePrincipal }> {
  const service = await services.principals.servicePrincipal(orgId, servicePrincipalId);
  if (!service) throw invalidCredential();
  return { caller: { kind: 'service', userId: service.userId, orgId, servicePrincipalId, publicId }, service };
}

/** A key acts in its own organization; naming another answers like a non-member's request. */
function assertOwnOrganization(request: Request, caller: ServiceCaller): void {
  const requested = request.headers.get(ORGANIZATION_HEADER)?.trim();
  if (requested && requested.toLowerCase() !== caller.orgId) {
    throw forbidden('You are not a member of that organization.', { http: { status: 403 } });
  }
}

/**
 * The organization comes from the X-Organization-Id header; without it, the user's only active
 * organization is used. Not a member, or no such organization: the same 403, so the header
 * cannot be used to discover organizations.
 */
async function selectOrganization(request: Request, userId: string, services: GatewayServices): Promise<MemberPrincipal | null> {
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
 * End Users (and customer-scoped keys) are always confined to their customer; staff (and
 * organization-wide keys) may confine themselves with X-Customer-Id. A confined caller naming
 * another customer gets the 403 staff get for a customer that is not theirs (never a silent
 * switch back to their own).
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
