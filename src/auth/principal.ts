/**
 * Who the caller is inside an organization: membership → role (∪ teams' roles) → effective
 * permissions. Membership in the database is the truth (not token claims), so a change applies
 * on the next request, not at token expiry.
 *
 * Lookups are cached per replica together with the organization's authorization version, and
 * every request checks that version in the round trip that opens its transaction (see
 * src/context.ts): a cached principal is used only while nothing that could change it has
 * committed, on any replica.
 */
import type pg from 'pg';
import { isPermission, isWorkspaceScopedPermission, type Permission } from '../authz/permissions.js';
import type { KeyEnvironment } from './api-keys.js';
import type { VerifiedToken } from './token-verifier.js';

interface PrincipalCommon {
  orgId: string;
  orgName: string;
  roleId: string;
  /** The system role's key, or null for a custom role. */
  roleKey: string | null;
  roleName: string;
  /** End Users (and customer-scoped keys) belong to one customer; staff to none. */
  customerId: string | null;
  /** Built once per principal and never changed: sets derived from it are memoized per set (scopes.ts, request-database.ts). */
  permissions: ReadonlySet<Permission>;
  /** The organization's authorization version this was resolved at. */
  authzVersion: number;
}

/** A person's membership. */
export interface MemberPrincipal extends PrincipalCommon {
  kind: 'member';
  membershipId: string;
  status: 'active' | 'inactive';
}

export type ServicePrincipalKind = 'api_key' | 'runner' | 'oidc_client';

/** An API key, a runner key or a registered OIDC client (DESIGN §3c). */
export interface ServicePrincipal extends PrincipalCommon {
  kind: 'service';
  servicePrincipalId: string;
  serviceKind: ServicePrincipalKind;
  name: string;
  /** The identity it acts as (app.user_id, audit actor, created_by…). */
  userId: string;
  environment: KeyEnvironment | null;
  /**
   * Set: every request acts in this workspace (bound like X-Workspace-Id, which may not name
   * another) and holds only workspace-scoped permissions.
   */
  workspaceId: string | null;
  /** The key's current public id: a rotated-away key no longer matches it. */
  publicId: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdBy: string | null;
  /** Active, revoked or expired (as of resolution; expiry is also checked per request). */
  status: 'active' | 'revoked' | 'expired';
}

export type Principal = MemberPrincipal | ServicePrincipal;

/**
 * A TEST key never holds a `*.deploy_prod` permission, whatever its role: the permissions are
 * stripped (not refused at creation), so a TEST key can carry the same role as its LIVE twin
 * and `viewer.permissions` shows what it really holds.
 */
export function permissionsForEnvironment(
  permissions: Iterable<Permission>,
  environment: KeyEnvironment | null,
  workspaceScoped = false,
): Set<Permission> {
  let all = [...permissions];
  if (environment === 'test') all = all.filter((p) => !p.endsWith('.deploy_prod'));
  // A workspace-scoped principal holds nothing organization-wide, the same way (stripped, not
  // refused): see WORKSPACE_SCOPED_CATEGORIES.
  if (workspaceScoped) all = all.filter(isWorkspaceScopedPermission);
  return new Set(all);
}

export function isServiceActive(principal: ServicePrincipal, now = Date.now()): boolean {
  return principal.status === 'active' && (principal.expiresAt === null || principal.expiresAt.getTime() > now);
}

interface PrincipalRow {
  membership_id: string;
  org_id: string;
  org_name: string;
  role_id: string;
  role_key: string | null;
  role_name: string;
  customer_id: string | null;
  status: 'active' | 'inactive';
  permissions: string[];
  authz_version: string;
}

const MAX_ENTRIES = 20_000;
const USER_TTL_MS = 10 * 60_000;
const PRINCIPAL_TTL_MS = 10 * 60_000;
/** Registering an OIDC client (or removing one) reaches a replica within this long. */
const OIDC_CLIENT_TTL_MS = 30_000;

interface ServicePrincipalRow {
  id: string;
  org_id: string;
  org_name: string;
  kind: ServicePrincipalKind;
  name: string;
  user_id: string;
  role_id: string | null;
  role_key: string | null;
  role_name: string | null;
  customer_id: string | null;
  environment: KeyEnvironment | null;
  public_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
  permissions: string[];
  authz_version: string;
  workspace_id: string | null;
}

type Queryable = { query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> };

class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  constructor(private readonly ttlMs: number) {}
  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }
  set(key: string, value: V) {
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expires: Date.now() + this.ttlMs });
  }
  clear() {
    this.entries.clear();
  }
}

export class PrincipalResolver {
  private readonly users = new BoundedCache<string>(USER_TTL_MS);
  private readonly principals = new BoundedCache<MemberPrincipal | null>(PRINCIPAL_TTL_MS);
  private readonly services = new BoundedCache<ServicePrincipal>(PRINCIPAL_TTL_MS);
  private readonly oidcClients = new BoundedCache<{ orgId: string; id: string } | null>(OIDC_CLIENT_TTL_MS);

  /** `onLookup` hears every principal lookup (hit, miss, or stale: cached but outdated), for metrics. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly onLookup: (result: 'hit' | 'miss' | 'stale') => void = () => {},
  ) {}

  /** The user row for a verified token; the first sight creates it, changed claims refresh it. */
  async userId(token: VerifiedToken): Promise<string> {
    const key = `${token.issuer}\n${token.subject}\n${token.email}\n${token.name}\n${token.emailVerified}`;
    const cached = this.users.get(key);
    if (cached) return cached;
    const { rows } = await this.pool.query<{ id: string }>('select app_private.ensure_user($1, $2, $3, $4, $5) as id', [
      token.issuer,
      token.subject,
      token.email,
      token.emailVerified,
      token.name,
    ]);
    const id = rows[0]!.id;
    this.users.set(key, id);
    return id;
  }

  /** The cached principal (validate its version before trusting it), or a fresh one. */
  async principal(userId: string, orgId: string): Promise<MemberPrincipal | null> {
    const cached = this.principals.get(`${userId}:${orgId}`);
    this.onLookup(cached !== undefined ? 'hit' : 'miss');
    return cached !== undefined ? cached : this.refresh(userId, orgId);
  }

  /**
   * Reads the principal from the database (through `through`, a request's open transaction,
   * when given) and caches it.
   */
  async refresh(
    userId: string,
    orgId: string,
    through?: { query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> },
  ): Promise<MemberPrincipal | null> {
    if (through) this.onLookup('stale'); // the request found the cached one outdated
    const db = through ?? this.pool;
    const { rows } = await db.query<PrincipalRow>('select * from app_private.resolve_principal($1, $2)', [userId, orgId]);
    const row = rows[0];
    const principal: MemberPrincipal | null = row
      ? {
          kind: 'member',
          orgId: row.org_id,
          orgName: row.org_name,
          membershipId: row.membership_id,
          roleId: row.role_id,
          roleKey: row.role_key,
          roleName: row.role_name,
          status: row.status,
          customerId: row.customer_id,
          permissions: new Set(row.permissions.filter(isPermission)),
          authzVersion: Number(row.authz_version),
        }
      : null;
    // Non-members are not cached: joining must work on the next request without a version check.
    if (principal) this.principals.set(`${userId}:${orgId}`, principal);
    return principal;
  }

  /** The cached service principal (validate its version before trusting it), or a fresh one. */
  async servicePrincipal(orgId: string, id: string): Promise<ServicePrincipal | null> {
    return this.services.get(`${orgId}:${id}`) ?? this.refreshService(orgId, id);
  }

  /** Reads a service principal (through the request's open transaction when given) and caches it. */
  async refreshService(orgId: string, id: string, through?: Queryable): Promise<ServicePrincipal | null> {
    const db = through ?? this.pool;
    const { rows } = await db.query<ServicePrincipalRow>('select * from app_private.resolve_service_principal($1, $2)', [
      orgId,
      id,
    ]);
    const row = rows[0];
    if (!row) return null;
    const principal: ServicePrincipal = {
      kind: 'service',
      servicePrincipalId: row.id,
      serviceKind: row.kind,
      name: row.name,
      userId: row.user_id,
      orgId: row.org_id,
      orgName: row.org_name,
      // Runners without a role hold no permissions; `roleId` is then empty.
      roleId: row.role_id ?? '',
      roleKey: row.role_key,
      roleName: row.role_name ?? 'No role',
      customerId: row.customer_id,
      environment: row.environment,
      workspaceId: row.workspace_id,
      publicId: row.public_id,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      createdBy: row.created_by,
      status: row.revoked_at ? 'revoked' : row.expires_at && row.expires_at.getTime() <= Date.now() ? 'expired' : 'active',
      permissions: permissionsForEnvironment(row.permissions.filter(isPermission), row.environment, row.workspace_id !== null),
      authzVersion: Number(row.authz_version),
    };
    this.services.set(`${orgId}:${id}`, principal);
    return principal;
  }

  /** The service principal registered for an OIDC client, if any (cached briefly, misses too). */
  async oidcClient(issuer: string, clientId: string): Promise<{ orgId: string; id: string } | null> {
    const key = `${issuer}\n${clientId}`;
    const cached = this.oidcClients.get(key);
    if (cached !== undefined) return cached;
    const { rows } = await this.pool.query<{ org_id: string; id: string }>(
      'select org_id, id from app_private.find_oidc_client($1, $2)',
      [issuer, clientId],
    );
    const found = rows[0] ? { orgId: rows[0].org_id, id: rows[0].id } : null;
    this.oidcClients.set(key, found);
    return found;
  }

  /**
   * The organization a request acts in when it names none: the user's only active one, if one.
   * Not cached (joining a second organization must end the default at once); clients that
   * send X-Organization-Id never pay for it.
   */
  async defaultOrganization(userId: string): Promise<string | null> {
    const organizations = await this.activeOrganizations(userId);
    return organizations.length === 1 ? organizations[0]! : null;
  }

  /** The organizations the user is an active member of, oldest membership first. */
  async activeOrganizations(userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ org_id: string }>(
      'select org_id from app_private.active_organizations($1) as org_id',
      [userId],
    );
    return rows.map((r) => r.org_id);
  }
}
