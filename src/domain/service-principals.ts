/**
 * Service principals (Settings → API Keys): API keys (TEST and LIVE), runner keys and registered
 * OIDC clients. Created, rotated and revoked by `settings.manage` holders, each with a role that
 * the creator holds entirely (the same escalation guard as roles and invitations). The secret is
 * returned once, by the mutation that makes it; only its hash is stored.
 */
import { displayPrefix, generateApiKey, type KeyEnvironment, type KeyKind } from '../auth/api-keys.js';
import { permissionsForEnvironment, type Principal, type ServicePrincipalKind } from '../auth/principal.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { withDatabaseErrors, type ConstraintMessages } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { resolveWorkspaceAccess, workspaceSubjectOf } from '../authz/workspace-access.js';
import { assertHolds, requireRole } from './roles.js';
import { requireText } from './validation.js';

export type ServicePrincipalStatus = 'active' | 'revoked' | 'expired';

export interface ServicePrincipalRow {
  id: string;
  org_id: string;
  kind: ServicePrincipalKind;
  name: string;
  user_id: string;
  role_id: string | null;
  customer_id: string | null;
  workspace_id: string | null;
  environment: KeyEnvironment | null;
  public_id: string | null;
  oidc_issuer: string | null;
  oidc_client_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  last_used_at: Date | null;
  rotated_at: Date | null;
  created_by: string | null;
  created_at: Date;
  status: ServicePrincipalStatus;
}

const COLUMNS = `sp.id, sp.org_id, sp.kind, sp.name, sp.user_id, sp.role_id, sp.customer_id, sp.workspace_id, sp.environment, sp.public_id,
  sp.oidc_issuer, sp.oidc_client_id, sp.expires_at, sp.revoked_at, sp.revoked_by, sp.last_used_at, sp.rotated_at,
  sp.created_by, sp.created_at,
  case when sp.revoked_at is not null then 'revoked' when sp.expires_at <= now() then 'expired' else 'active' end as status`;

/** What a list shows of a key: enough to recognise it (`gwk_live_ab12…`), nothing to use it. */
export function prefixOf(row: Pick<ServicePrincipalRow, 'kind' | 'environment' | 'public_id'>): string | null {
  if (row.kind === 'oidc_client' || !row.environment || !row.public_id) return null;
  return displayPrefix(row.kind, row.environment, row.public_id);
}

export async function loadServicePrincipals(db: RequestDatabase, ids: readonly string[]): Promise<ServicePrincipalRow[]> {
  const { rows } = await db.query<ServicePrincipalRow>(
    `select ${COLUMNS} from service_principals sp where sp.id = any($1::uuid[])`,
    [ids],
  );
  return rows;
}

export async function requireServicePrincipal(db: RequestDatabase, id: string): Promise<ServicePrincipalRow> {
  const row = (await loadServicePrincipals(db, [id]))[0];
  if (!row) throw notFound('ApiKey', id);
  return row;
}

export interface ServicePrincipalFilter {
  kind?: ServicePrincipalKind | null;
  status?: ServicePrincipalStatus | null;
  environment?: KeyEnvironment | null;
}

export async function listServicePrincipals(
  db: RequestDatabase,
  filter: ServicePrincipalFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<ServicePrincipalRow & { cursor_key: string }>> {
  const statusCondition: Record<ServicePrincipalStatus, string> = {
    active: 'sp.revoked_at is null and (sp.expires_at is null or sp.expires_at > now())',
    revoked: 'sp.revoked_at is not null',
    expired: 'sp.revoked_at is null and sp.expires_at <= now()',
  };
  const where = new Conditions()
    .add((p) => `sp.kind = ${p}`, filter.kind)
    .add((p) => `sp.environment = ${p}`, filter.environment);
  if (filter.status) where.raw(statusCondition[filter.status]);
  return pagedQuery<ServicePrincipalRow>(db, {
    columns: COLUMNS,
    from: 'service_principals sp',
    where,
    sort: { expression: 'sp.created_at', type: 'timestamptz', direction: 'desc', id: 'sp.id' },
    page,
    withTotal,
  });
}

export interface NewServicePrincipal {
  name: string;
  kind: ServicePrincipalKind;
  roleId: string | null;
  customerId: string | null;
  /** Confine the principal to one workspace (never together with a customer). */
  workspaceId?: string | null;
  environment: KeyEnvironment | null;
  expiresAt: Date | null;
  oidcClientId: string | null;
}

const CONSTRAINTS: ConstraintMessages = {
  unique: {
    service_principals_oidc_issuer_oidc_client_id_key: {
      field: 'input.oidcClientId',
      message: 'This OIDC client is already registered as a service principal.',
    },
  },
  foreignKey: {
    service_principals_org_id_customer_id_fkey: { resourceType: 'Customer' },
    service_principals_org_id_workspace_id_fkey: { resourceType: 'Workspace' },
  },
};

/**
 * The role a key may carry: one that exists, is not the Owner's (ownership is a person's), and
 * whose permissions — as this key would hold them (a TEST key never holds `*.deploy_prod`) — the
 * creator holds entirely. A customer-confined role (End User) needs a customer. A workspace-scoped
 * key holds its role's workspace-scoped permissions only (WORKSPACE_SCOPED_CATEGORIES), so only
 * those are compared, and a role with none of them is refused (the key could do nothing).
 */
async function requireGrantableRole(
  db: RequestDatabase,
  caller: Principal,
  roleId: string,
  environment: KeyEnvironment | null,
  customerId: string | null,
  workspaceId: string | null = null,
): Promise<void> {
  const role = await requireRole(db, roleId);
  if (role.system_key === 'owner') {
    throw badUserInput('input.roleId', 'the Owner role belongs to one person; give the key Admin or a custom role');
  }
  if (role.customer_confined && !customerId) {
    throw badUserInput('input.customerId', `is required for a key with the ${role.name} role`);
  }
  const held = permissionsForEnvironment(role.permissions, environment, workspaceId !== null);
  if (workspaceId && held.size === 0) {
    throw badUserInput('input.roleId', 'holds nothing a workspace-scoped key can use (only organization-wide permissions)');
  }
  assertHolds(caller, [...held], 'give a key this role');
}

/**
 * A workspace the creator can act in: one of the bound organization's (another organization's
 * answers exactly like a missing one), resolved as a request naming it would be.
 */
async function requireUsableWorkspace(db: RequestDatabase, caller: Principal, workspaceId: string): Promise<void> {
  if (!(await resolveWorkspaceAccess(db, workspaceSubjectOf(caller), workspaceId))) throw notFound('Workspace', workspaceId);
}

async function requireCustomer(db: RequestDatabase, customerId: string): Promise<void> {
  const { rowCount } = await db.query('select 1 from customers where id = $1', [customerId]);
  if (!rowCount) throw notFound('Customer', customerId);
}

function requireFutureExpiry(expiresAt: Date | null): void {
  if (expiresAt && expiresAt.getTime() <= Date.now()) throw badUserInput('input.expiresAt', 'must be in the future');
}

export interface CreatedServicePrincipal {
  id: string;
  /** The key, shown once (null for OIDC clients: they authenticate with their own tokens). */
  secret: string | null;
}

export async function createServicePrincipal(
  db: RequestDatabase,
  caller: Principal,
  actorId: string,
  oidcIssuer: string,
  input: NewServicePrincipal,
): Promise<CreatedServicePrincipal> {
  const name = requireText('input.name', input.name, 80);
  const isKey = input.kind !== 'oidc_client';
  if (isKey && !input.environment) throw badUserInput('input.environment', 'is required for a key (TEST or LIVE)');
  if (!isKey && input.environment) throw badUserInput('input.environment', 'applies to keys only, not to OIDC clients');
  if (input.kind === 'oidc_client' && !input.oidcClientId)
    throw badUserInput('input.oidcClientId', 'is required for an OIDC client');
  if (input.kind !== 'oidc_client' && input.oidcClientId)
    throw badUserInput('input.oidcClientId', 'applies to OIDC clients only');
  if (input.kind === 'runner' && input.customerId)
    throw badUserInput('input.customerId', 'a runner serves the whole organization');
  const workspaceId = input.workspaceId ?? null;
  if (input.kind === 'runner' && workspaceId) throw badUserInput('input.workspaceId', 'a runner serves the whole organization');
  if (workspaceId && input.customerId)
    throw badUserInput('input.workspaceId', 'a key is scoped to one workspace or to one customer, not both');
  if (input.kind !== 'runner' && !input.roleId) throw badUserInput('input.roleId', 'is required');
  requireFutureExpiry(input.expiresAt);
  const clientId = input.oidcClientId ? requireText('input.oidcClientId', input.oidcClientId, 255) : null;
  if (input.customerId) await requireCustomer(db, input.customerId);
  if (workspaceId) await requireUsableWorkspace(db, caller, workspaceId);
  if (input.roleId) await requireGrantableRole(db, caller, input.roleId, input.environment, input.customerId, workspaceId);

  const key = isKey ? generateApiKey(input.kind as KeyKind, input.environment!) : null;
  return withDatabaseErrors(async () => {
    const { rows } = await db.query<{ id: string }>('select gen_random_uuid() as id');
    const id = rows[0]!.id;
    const identity = await db.query<{ id: string }>('select app_private.create_service_identity($1, $2) as id', [id, name]);
    await db.query(
      `insert into service_principals (org_id, id, kind, name, user_id, role_id, customer_id, environment, public_id,
         secret_hash, oidc_issuer, oidc_client_id, expires_at, created_by, workspace_id)
       values (app_public.current_org_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        id,
        input.kind,
        name,
        identity.rows[0]!.id,
        input.roleId,
        input.customerId,
        input.environment,
        key?.publicId ?? null,
        key?.secretHash ?? null,
        clientId ? oidcIssuer : null,
        clientId,
        input.expiresAt,
        actorId,
        workspaceId,
      ],
    );
    return { id, secret: key?.key ?? null };
  }, CONSTRAINTS);
}

/**
 * A new secret (and public id) for the same principal: the old key stops working on the next
 * request on every replica; the principal, its role and its audit trail stay.
 */
export async function rotateServicePrincipal(db: RequestDatabase, caller: Principal, id: string): Promise<string> {
  const row = await requireServicePrincipal(db, id);
  if (row.kind === 'oidc_client')
    throw conflict('An OIDC client has no key to rotate; rotate its secret in the identity provider.');
  if (row.status === 'revoked') throw conflict('This key is revoked; create a new one.');
  // Rotating hands out a working credential for this role again: the same guard as creating it.
  if (row.role_id) await requireGrantableRole(db, caller, row.role_id, row.environment, row.customer_id, row.workspace_id);
  const key = generateApiKey(row.kind, row.environment!);
  await db.query('update service_principals set public_id = $2, secret_hash = $3, rotated_at = now() where id = $1', [
    id,
    key.publicId,
    key.secretHash,
  ]);
  return key.key;
}

export async function revokeServicePrincipal(db: RequestDatabase, actorId: string, id: string): Promise<void> {
  const row = await requireServicePrincipal(db, id);
  if (row.status === 'revoked') throw conflict('This key is already revoked.');
  await db.query('update service_principals set revoked_at = now(), revoked_by = $2 where id = $1', [id, actorId]);
}
