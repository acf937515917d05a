/**
 * Seed stories for tests: organizations with one member per system role and a couple of
 * customers, written as the app role through the same domain code as requests.
 *
 *   const world = new World(pool, issuer);
 *   const acme = await world.organization('Acme');
 *   await client.as(acme.members.developer).request(...)
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { SYSTEM_ROLE_KEYS, type SystemRoleKey } from '../../src/authz/permissions.js';
import type { DevIssuer, TokenClaims } from '../../src/auth/dev-issuer.js';
import { RequestDatabase, UNBOUND } from '../../src/db/request-database.js';
import { addMembership } from '../../src/domain/members.js';
import { createOrganization } from '../../src/domain/organizations.js';
import { createConnection } from '../../src/domain/connections.js';
import { createDefinition, deployDefinition } from '../../src/domain/definitions.js';
import type { CredentialCipher } from '../../src/integrations/credentials.js';
import { silentLogger } from './database.js';

export interface SeededUser {
  userId: string;
  subject: string;
  email: string;
  name: string;
}

export interface SeededMember extends SeededUser {
  role: SystemRoleKey | 'custom';
  orgId: string;
  membershipId: string;
}

export interface SeededOrg {
  id: string;
  name: string;
  customers: { id: string; name: string }[];
  members: Record<SystemRoleKey, SeededMember>;
  workflows: string[];
}

export class World {
  constructor(
    readonly pool: pg.Pool,
    readonly issuer: DevIssuer,
    readonly cipher?: CredentialCipher,
  ) {}

  async user(label = 'user'): Promise<SeededUser> {
    const subject = `${label}-${randomUUID()}`;
    const email = `${subject}@example.test`;
    const name = `${label} ${subject.slice(-6)}`;
    const { rows } = await this.pool.query<{ id: string }>('select app_private.ensure_user($1, $2, $3, true, $4) as id', [
      this.issuer.issuer,
      subject,
      email,
      name,
    ]);
    return { userId: rows[0]!.id, subject, email, name };
  }

  /** An organization with one member per system role, `customers` customers and `workflows` workflows. */
  async organization(name: string, options: { customers?: number; workflows?: number } = {}): Promise<SeededOrg> {
    const users = new Map<SystemRoleKey, SeededUser>();
    for (const role of SYSTEM_ROLE_KEYS)
      users.set(role, await this.user(`${name}-${role}`.toLowerCase().replace(/[^a-z0-9-]/g, '-')));
    const owner = users.get('owner')!;
    const db = new RequestDatabase(this.pool, { ...UNBOUND, userId: owner.userId }, silentLogger);
    const orgId = await createOrganization(db, owner.userId, name);
    await db.rebind({ userId: owner.userId, orgId, access: 'staff', tenantId: null });
    const membershipIds = new Map<SystemRoleKey, string>();
    membershipIds.set(
      'owner',
      (await db.query<{ id: string }>('select id from memberships where user_id = $1', [owner.userId])).rows[0]!.id,
    );
    const customers: SeededOrg['customers'] = [];
    for (let i = 0; i < (options.customers ?? 2); i++) {
      const customerName = `${name} customer ${i + 1}`;
      const { rows } = await db.query<{ id: string }>(
        `insert into customers (org_id, name, slug) values ($1, $2, $3) returning id`,
        [orgId, customerName, `customer-${i + 1}`],
      );
      customers.push({ id: rows[0]!.id, name: customerName });
    }
    for (const role of SYSTEM_ROLE_KEYS.filter((r) => r !== 'owner')) {
      membershipIds.set(
        role,
        await addMembership(db, users.get(role)!.userId, role, role === 'end_user' ? customers[0]!.id : null),
      );
    }
    const workflows: string[] = [];
    for (let i = 0; i < (options.workflows ?? 0); i++) {
      workflows.push(
        await createDefinition(db, 'workflow', owner.userId, { name: `${name} workflow ${i + 1}`, definition: { step: i } }),
      );
    }
    if ((await db.finish()) !== 'committed') throw new Error('seed did not commit');
    const memberOf = (role: SystemRoleKey): SeededMember => ({
      ...users.get(role)!,
      role,
      orgId,
      membershipId: membershipIds.get(role)!,
    });
    const members: Record<SystemRoleKey, SeededMember> = {
      owner: memberOf('owner'),
      admin: memberOf('admin'),
      developer: memberOf('developer'),
      operator: memberOf('operator'),
      viewer: memberOf('viewer'),
      end_user: memberOf('end_user'),
    };
    return { id: orgId, name, customers, members, workflows };
  }

  /** Runs `fn` bound to `org` as its owner (staff), committed: extra fixtures for a test. */
  inOrg<T>(org: Pick<SeededOrg, 'id' | 'members'>, fn: (db: RequestDatabase) => Promise<T>): Promise<T> {
    return this.inOrgAs(org.id, org.members.owner.userId, undefined, fn);
  }

  /** Bound as `userId` in `orgId`; `permissions` omitted: the member's own, resolved by the database. */
  async inOrgAs<T>(
    orgId: string,
    userId: string,
    permissions: readonly string[] | undefined,
    fn: (db: RequestDatabase) => Promise<T>,
  ): Promise<T> {
    const db = new RequestDatabase(this.pool, { userId, orgId, access: 'staff', tenantId: null, permissions }, silentLogger);
    try {
      const result = await fn(db);
      if ((await db.finish()) !== 'committed') throw new Error('fixture did not commit');
      return result;
    } catch (error) {
      await db.abandon();
      throw error;
    }
  }

  workflow(org: SeededOrg, name = `wf ${randomUUID()}`): Promise<string> {
    return this.inOrg(org, (db) => createDefinition(db, 'workflow', org.members.owner.userId, { name, definition: { n: 1 } }));
  }

  /** The organization's audit trail, oldest first (read as its staff, through RLS). */
  audit(org: Pick<SeededOrg, 'id' | 'members'>, where: { requestId?: string } = {}) {
    return this.auditOf(org.id, org.members.owner.userId, where);
  }

  /**
   * Read as staff holding audit_log.read, bound explicitly rather than resolved from a membership:
   * a deleted organization's trail outlives its members.
   */
  async auditOf(orgId: string, asUserId: string, where: { requestId?: string } = {}) {
    return this.inOrgAs(orgId, asUserId, ['audit_log.read'], async (db) => {
      const { rows } = await db.query<{
        action: string;
        outcome: string;
        resource_type: string;
        resource_id: string | null;
        actor_user_id: string | null;
        customer_id: string | null;
        request_id: string | null;
        details: Record<string, unknown>;
      }>(
        `select action, outcome, resource_type, resource_id, actor_user_id, customer_id, request_id, details
         from audit_events where ($1::text is null or request_id = $1) order by occurred_at, id`,
        [where.requestId ?? null],
      );
      return rows;
    });
  }

  /** A new member of `org` with a system role (End Users go into the first customer). */
  async member(org: SeededOrg, role: SystemRoleKey, label: string = role): Promise<SeededMember> {
    const user = await this.user(`${label}-${role}`);
    const membershipId = await this.inOrg(org, (db) =>
      addMembership(db, user.userId, role, role === 'end_user' ? org.customers[0]!.id : null),
    );
    return { ...user, role, orgId: org.id, membershipId };
  }

  /** A custom role with these permissions, and (optionally) a new member holding it. */
  async customRole(
    org: SeededOrg,
    name: string,
    permissions: readonly string[],
  ): Promise<{ roleId: string; member: SeededMember }> {
    const user = await this.user(`custom-${name}`.toLowerCase().replace(/[^a-z0-9-]/g, '-'));
    return this.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(`insert into roles (org_id, name) values ($1, $2) returning id`, [
        org.id,
        name,
      ]);
      const roleId = rows[0]!.id;
      await db.query(`insert into role_permissions (org_id, role_id, permission_key) select $1, $2, unnest($3::text[])`, [
        org.id,
        roleId,
        permissions,
      ]);
      const { rows: m } = await db.query<{ id: string }>(
        `insert into memberships (org_id, user_id, role_id) values ($1, $2, $3) returning id`,
        [org.id, user.userId, roleId],
      );
      return { roleId, member: { ...user, role: 'custom' as const, orgId: org.id, membershipId: m[0]!.id } };
    });
  }

  async customer(org: SeededOrg, name = `Customer ${randomUUID().slice(0, 8)}`): Promise<string> {
    return this.inOrg(org, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into customers (org_id, name, slug) values ($1, $2, $3) returning id`,
        [org.id, name, `c-${randomUUID().slice(0, 12)}`],
      );
      return rows[0]!.id;
    });
  }

  /** A connector (deployed to production, so the catalogue lists it). */
  async connector(
    org: Pick<SeededOrg, 'id' | 'members'>,
    name = `Connector ${randomUUID().slice(0, 8)}`,
    authKind = 'oauth2',
  ): Promise<string> {
    return this.inOrg(org, async (db) => {
      const id = await createDefinition(db, 'connector', org.members.owner.userId, {
        name,
        authKind,
        definition: { actions: ['contacts.list'] },
      });
      await deployDefinition(db, 'connector', org.members.owner.userId, id, 'production');
      return id;
    });
  }

  /** A connection with (encrypted) credentials, as the gateway would store it. */
  async connection(
    org: Pick<SeededOrg, 'id' | 'members'>,
    options: {
      customerId: string;
      connectorId: string;
      ownerUserId: string;
      shared?: boolean;
      credentials?: Record<string, unknown>;
      name?: string;
    },
  ): Promise<string> {
    if (!this.cipher) throw new Error('World has no cipher');
    const cipher = this.cipher;
    return this.inOrg(org, (db) =>
      createConnection(db, cipher, options.ownerUserId, org.id, {
        customerId: options.customerId,
        connectorId: options.connectorId,
        name: options.name ?? `Connection ${randomUUID().slice(0, 8)}`,
        scope: options.shared ? 'shared' : 'user',
        credentials: options.credentials ?? {
          accessToken: 'at',
          refreshToken: 'rt',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      }),
    );
  }

  async systemRoleId(org: Pick<SeededOrg, 'id' | 'members'>, key: SystemRoleKey): Promise<string> {
    return this.inOrg(
      org,
      async (db) => (await db.query<{ id: string }>('select id from roles where system_key = $1', [key])).rows[0]!.id,
    );
  }

  token(who: SeededUser, claims: Partial<TokenClaims> = {}): Promise<string> {
    return this.issuer.mint({ sub: who.subject, email: who.email, name: who.name, ...claims });
  }
}
