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
import { isPermission, type Permission } from '../authz/permissions.js';
import type { VerifiedToken } from './token-verifier.js';

export interface Principal {
  orgId: string;
  orgName: string;
  membershipId: string;
  roleId: string;
  /** The system role's key, or null for a custom role. */
  roleKey: string | null;
  roleName: string;
  status: 'active' | 'inactive';
  /** End Users belong to one customer; staff to none. */
  customerId: string | null;
  permissions: ReadonlySet<Permission>;
  /** The organization's authorization version this was resolved at. */
  authzVersion: number;
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
  private readonly principals = new BoundedCache<Principal | null>(PRINCIPAL_TTL_MS);

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
  async principal(userId: string, orgId: string): Promise<Principal | null> {
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
  ): Promise<Principal | null> {
    if (through) this.onLookup('stale'); // the request found the cached one outdated
    const db = through ?? this.pool;
    const { rows } = await db.query<PrincipalRow>('select * from app_private.resolve_principal($1, $2)', [userId, orgId]);
    const row = rows[0];
    const principal: Principal | null = row
      ? {
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
