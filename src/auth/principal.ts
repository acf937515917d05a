/**
 * Who the caller is inside an organization: membership → role → effective permissions.
 * Membership in the database is the truth (not token claims), so a role change applies on the
 * next request, not at token expiry.
 *
 * Lookups are cached per replica and the cache is emptied whenever Postgres announces an
 * authorization change on the `gateway_authz` channel (triggers on memberships, roles, role
 * grants, teams). Every replica listens, so a change made through one is seen by all. While the
 * listener is down the cache is bypassed: slower, never stale.
 */
import pg from 'pg';
import { isPermission, type Permission } from '../authz/permissions.js';
import type { Logger } from '../logger.js';
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
}

const MAX_ENTRIES = 20_000;
const USER_TTL_MS = 10 * 60_000;
const PRINCIPAL_TTL_MS = 5 * 60_000;

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
  private readonly defaultOrgs = new BoundedCache<string | null>(PRINCIPAL_TTL_MS);
  private listener: pg.Client | undefined;
  private listening = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<() => void>();
  /** Bumped on every invalidation; a lookup started before one must not fill the cache. */
  private generation = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly listenUrl: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connectListener();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.listening = false;
    await this.listener?.end().catch(() => {});
  }

  /** Resolves when this replica next hears of an authorization change (or after `timeoutMs`). */
  nextInvalidation(timeoutMs = 1000): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  invalidate(): void {
    this.generation++;
    this.principals.clear();
    this.defaultOrgs.clear();
    for (const waiter of [...this.waiters]) waiter();
  }

  /** The user row for a verified token; the first sight creates it. */
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

  async principal(userId: string, orgId: string): Promise<Principal | null> {
    const key = `${userId}:${orgId}`;
    if (this.listening) {
      const cached = this.principals.get(key);
      if (cached !== undefined) return cached;
    }
    const generation = this.generation;
    const { rows } = await this.pool.query<PrincipalRow>('select * from app_private.resolve_principal($1, $2)', [userId, orgId]);
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
        }
      : null;
    if (this.listening && generation === this.generation) this.principals.set(key, principal);
    return principal;
  }

  /** The organization a request acts in when it names none: the user's only one, if one. */
  async defaultOrganization(userId: string): Promise<string | null> {
    if (this.listening) {
      const cached = this.defaultOrgs.get(userId);
      if (cached !== undefined) return cached;
    }
    const generation = this.generation;
    const { rows } = await this.pool.query<{ org_id: string }>(
      'select org_id from app_private.active_organizations($1) as org_id',
      [userId],
    );
    const orgId = rows.length === 1 ? rows[0]!.org_id : null;
    if (this.listening && generation === this.generation) this.defaultOrgs.set(userId, orgId);
    return orgId;
  }

  private async connectListener(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.listenUrl, application_name: 'gateway-authz-listener' });
    client.on('notification', () => this.invalidate());
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listening = false;
      this.listener = undefined;
      this.invalidate();
      if (this.stopped) return;
      this.logger.warn({ err: error }, 'authorization change listener lost; cache bypassed until it reconnects');
      this.reconnectTimer = setTimeout(() => void this.connectListener().catch(() => {}), 1000);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query('listen gateway_authz');
      this.listener = client;
      this.invalidate();
      this.listening = true;
    } catch (error) {
      await client.end().catch(() => {});
      this.logger.warn({ err: error }, 'authorization change listener could not connect; retrying');
      this.reconnectTimer = setTimeout(() => void this.connectListener().catch(() => {}), 1000);
    }
  }
}
