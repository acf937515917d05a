/**
 * Connections: a customer's authenticated account in an app (one connector), per user or shared
 * with the whole customer. Credentials go in encrypted (src/integrations/credentials.ts) and
 * never come out of this module except, decrypted in memory, to the code that uses them: the
 * column list below has no `credentials`, so no query here can return them by accident.
 */
import { randomUUID } from 'node:crypto';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, forbidden, notFound } from '../errors.js';
import { CredentialsUnreadableError, type CredentialCipher, type Credentials } from '../integrations/credentials.js';
import { lockCustomer } from './customers.js';
import { withDatabaseErrors } from './database-errors.js';
import { Conditions, pagedQuery, type Connection, type PageArgs } from './pagination.js';
import { requireJsonObject, requireText } from './validation.js';

/** Anything that runs a statement in a bound transaction: a request, or the refresher's own. */
export type Queryable = Pick<RequestDatabase, 'query'>;

export interface ConnectionRow {
  id: string;
  org_id: string;
  customer_id: string;
  connector_id: string;
  name: string;
  scope: 'user' | 'shared';
  owner_user_id: string | null;
  status: 'active' | 'error' | 'disconnected';
  sync_status: 'never' | 'syncing' | 'succeeded' | 'failed';
  last_synced_at: Date | null;
  last_error: string | null;
  token_expires_at: Date | null;
  has_credentials: boolean;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

export const CONNECTION_COLUMNS = `c.id, c.org_id, c.customer_id, c.connector_id, c.name, c.scope, c.owner_user_id, c.status,
  c.sync_status, c.last_synced_at, c.last_error, c.token_expires_at, (c.credentials is not null) as has_credentials,
  c.created_by, c.created_at, c.updated_at`;

export interface ConnectorListingRow {
  id: string;
  name: string;
  logo_url: string | null;
  auth_kind: string;
}

/** What the widget may know of connectors: name, logo, auth kind (live in production only, unless ids are given). */
export async function connectorListings(
  db: Queryable,
  ids: readonly string[] | null,
  liveOnly: boolean,
): Promise<ConnectorListingRow[]> {
  return (await db.query<ConnectorListingRow>('select * from app_private.connector_listings($1::uuid[], $2)', [ids, liveOnly]))
    .rows;
}

export async function loadConnections(db: Queryable, ids: readonly string[]): Promise<ConnectionRow[]> {
  return (await db.query<ConnectionRow>(`select ${CONNECTION_COLUMNS} from connections c where c.id = any($1::uuid[])`, [ids]))
    .rows;
}

export async function requireConnection(db: Queryable, id: string): Promise<ConnectionRow> {
  const row = (await loadConnections(db, [id]))[0];
  if (!row) throw notFound('Connection', id);
  return row;
}

export interface ConnectionFilter {
  customerId?: string | null;
  connectorId?: string | null;
  status?: ConnectionRow['status'] | null;
  syncStatus?: ConnectionRow['sync_status'] | null;
  scope?: ConnectionRow['scope'] | null;
  search?: string | null;
}

export async function listConnections(
  db: RequestDatabase,
  filter: ConnectionFilter,
  page: PageArgs,
  withTotal: boolean,
): Promise<Connection<ConnectionRow & { cursor_key: string }>> {
  const where = new Conditions()
    .add((p) => `c.customer_id = ${p}::uuid`, filter.customerId)
    .add((p) => `c.connector_id = ${p}::uuid`, filter.connectorId)
    .add((p) => `c.status = ${p}`, filter.status)
    .add((p) => `c.sync_status = ${p}`, filter.syncStatus)
    .add((p) => `c.scope = ${p}`, filter.scope)
    .search(['c.name'], filter.search);
  return pagedQuery<ConnectionRow>(db, {
    columns: CONNECTION_COLUMNS,
    from: 'connections c',
    where,
    sort: { expression: 'c.created_at', type: 'timestamptz', direction: 'desc', id: 'c.id' },
    page,
    withTotal,
  });
}

/** An expiry the credentials announce (`expiresAt`, ISO), for OAuth refresh scheduling. */
function expiryOf(credentials: Credentials): Date | null {
  const value = credentials.expiresAt;
  if (value == null) return null;
  const date = new Date(String(value));
  if (Number.isNaN(date.getTime())) throw badUserInput('input.credentials.expiresAt', 'must be an ISO date-time');
  return date;
}

function requireCredentials(value: unknown): Credentials {
  const credentials = requireJsonObject('input.credentials', value);
  if (Object.keys(credentials).length === 0) throw badUserInput('input.credentials', 'must not be empty');
  return credentials;
}

/**
 * Locks the customer (concurrent creations count one after another) and refuses a connection
 * for a suspended customer, or one past its connections limit.
 */
async function assertCanConnect(db: Queryable, customerId: string): Promise<void> {
  await lockCustomer(db, customerId);
  const { rows } = await db.query<{ status: string; max_connections: number | null; used: number }>(
    `select c.status, c.max_connections, app_private.customer_connection_count(c.id) as used
     from customers c where c.id = $1`,
    [customerId],
  );
  const customer = rows[0];
  if (!customer) throw notFound('Customer', customerId);
  if (customer.status !== 'active')
    throw conflict('This customer is suspended; it cannot connect apps.', { field: 'input.customerId' });
  if (customer.max_connections !== null && customer.used >= customer.max_connections) {
    throw conflict(`This customer has all ${customer.max_connections} connections its plan allows.`, {
      limit: 'maxConnections',
      max: customer.max_connections,
    });
  }
}

export interface NewConnection {
  customerId: string;
  connectorId: string;
  name: string;
  scope: 'user' | 'shared';
  credentials: unknown;
}

export async function createConnection(
  db: Queryable,
  cipher: CredentialCipher,
  actorId: string,
  orgId: string,
  input: NewConnection,
): Promise<string> {
  const name = requireText('input.name', input.name, 120);
  const credentials = requireCredentials(input.credentials);
  // End Users cannot read connector definitions; the catalogue says whether it exists.
  if ((await connectorListings(db, [input.connectorId], false)).length === 0) throw notFound('Connector', input.connectorId);
  await assertCanConnect(db, input.customerId);
  const id = randomUUID();
  await withDatabaseErrors(() =>
    db.query(
      `insert into connections (org_id, id, customer_id, connector_id, name, scope, owner_user_id, credentials, credentials_key_id, token_expires_at, created_by)
       values (app_public.current_org_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $6)`,
      [
        id,
        input.customerId,
        input.connectorId,
        name,
        input.scope,
        actorId,
        cipher.encrypt(credentials, { orgId, connectionId: id }),
        cipher.keyId,
        expiryOf(credentials),
      ],
    ),
  );
  return id;
}

export async function updateConnection(
  db: Queryable,
  cipher: CredentialCipher,
  connection: ConnectionRow,
  input: { name?: string | null; credentials?: unknown },
): Promise<void> {
  const name = input.name == null ? null : requireText('input.name', input.name, 120);
  if (name === null && input.credentials == null) throw badUserInput('input', 'nothing to change');
  if (name !== null) await db.query('update connections set name = $2 where id = $1', [connection.id, name]);
  if (input.credentials != null) {
    const credentials = requireCredentials(input.credentials);
    await db.query(
      `update connections set credentials = $2, credentials_key_id = $3, token_expires_at = $4, status = 'active', last_error = null where id = $1`,
      [
        connection.id,
        cipher.encrypt(credentials, { orgId: connection.org_id, connectionId: connection.id }),
        cipher.keyId,
        expiryOf(credentials),
      ],
    );
  }
}

export async function deleteConnection(db: Queryable, id: string): Promise<void> {
  const { rowCount } = await db.query('delete from connections where id = $1', [id]);
  if (!rowCount) throw notFound('Connection', id);
}

/**
 * Per user → shared with the whole customer, and back (to its owner, or to the caller). In a
 * customer's context only its owner may take a shared connection back.
 */
export async function setConnectionScope(
  db: Queryable,
  connection: ConnectionRow,
  scope: 'user' | 'shared',
  actorId: string,
  confined: boolean,
): Promise<void> {
  if (connection.scope === scope)
    throw conflict(scope === 'shared' ? 'This connection is already shared.' : 'This connection is already personal.');
  if (scope === 'user' && confined && connection.owner_user_id !== actorId) {
    throw forbidden('Only its owner can make a shared connection personal again.');
  }
  await withDatabaseErrors(() =>
    db.query('update connections set scope = $2, owner_user_id = coalesce(owner_user_id, $3) where id = $1', [
      connection.id,
      scope,
      actorId,
    ]),
  );
}

async function sealedCredentials(
  db: Queryable,
  cipher: CredentialCipher,
  connection: ConnectionRow,
): Promise<Credentials | null> {
  const { rows } = await db.query<{ credentials: Buffer | null; credentials_key_id: string | null }>(
    'select credentials, credentials_key_id from connections where id = $1',
    [connection.id],
  );
  const row = rows[0];
  if (!row?.credentials) return null;
  return cipher.decrypt(row.credentials, row.credentials_key_id, { orgId: connection.org_id, connectionId: connection.id });
}

export interface TestResult {
  ok: boolean;
  message: string;
}

/**
 * "Test the connection": its credentials decrypt, are complete for the connector's auth kind,
 * and have not expired. (Calling the app itself is a runner's job; there is none here.)
 */
export async function testConnection(db: Queryable, cipher: CredentialCipher, connection: ConnectionRow): Promise<TestResult> {
  let result: TestResult;
  try {
    const credentials = await sealedCredentials(db, cipher, connection);
    const [listing] = await connectorListings(db, [connection.connector_id], false);
    const needed: Record<string, string[]> = {
      oauth2: ['accessToken'],
      api_key: ['apiKey'],
      basic: ['username', 'password'],
      none: [],
    };
    const missing = (needed[listing?.auth_kind ?? 'none'] ?? []).filter(
      (key) => !credentials || credentials[key] == null || credentials[key] === '',
    );
    const expiry = credentials ? expiryOf(credentials) : null;
    if (!credentials && listing?.auth_kind !== 'none')
      result = { ok: false, message: 'No credentials are stored for this connection.' };
    else if (missing.length) result = { ok: false, message: `The credentials lack ${missing.join(', ')}.` };
    else if (expiry && expiry.getTime() <= Date.now())
      result = { ok: false, message: 'The access token has expired; refresh it.' };
    else result = { ok: true, message: 'The credentials are complete and current.' };
  } catch (error) {
    if (!(error instanceof CredentialsUnreadableError)) throw error;
    result = { ok: false, message: 'The stored credentials cannot be read; enter them again.' };
  }
  await db.query(`update connections set status = $2, last_error = $3 where id = $1`, [
    connection.id,
    result.ok ? 'active' : 'error',
    result.ok ? null : result.message,
  ]);
  return result;
}

/** Exchanges a refresh token for a new access token. Production plugs in the connector's token endpoint. */
export interface TokenRefresher {
  refresh(credentials: Credentials, connection: ConnectionRow): Promise<Credentials>;
}

export class TokenRefreshError extends Error {}

/** Rotates the connection's OAuth token; the caller records credential.token_refresh. */
export async function refreshConnectionToken(
  db: Queryable,
  cipher: CredentialCipher,
  refresher: TokenRefresher,
  connection: ConnectionRow,
): Promise<Date | null> {
  const credentials = await sealedCredentials(db, cipher, connection);
  if (!credentials?.refreshToken) throw new TokenRefreshError('This connection has no refresh token.');
  const next = await refresher.refresh(credentials, connection);
  const expiry = expiryOf(next);
  await db.query(
    `update connections set credentials = $2, credentials_key_id = $3, token_expires_at = $4, status = 'active', last_error = null where id = $1`,
    [connection.id, cipher.encrypt(next, { orgId: connection.org_id, connectionId: connection.id }), cipher.keyId, expiry],
  );
  return expiry;
}

/** Refuses to delete a connector customers are connected to, saying how many. */
export async function assertConnectorUnused(db: Queryable, connectorId: string): Promise<void> {
  // Counted by the database: the caller (connectors.delete) need not be able to read connections.
  const { rows } = await db.query<{ n: number }>('select app_private.connector_connection_count($1) as n', [connectorId]);
  const n = rows[0]!.n;
  if (n > 0)
    throw conflict(`${n} connection${n === 1 ? '' : 's'} use this connector; delete them first.`, { connectionCount: n });
}
