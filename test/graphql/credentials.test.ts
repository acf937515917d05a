/**
 * Connection credentials are write-only: after every path that touches them (create, replace,
 * test, refresh by a user and by the system, run an action, list, fail validation) the secrets
 * appear in no response, no log line, no audit row — and the database holds only ciphertext
 * bound to its row.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsUnreadableError } from '../../src/integrations/credentials.js';
import { LocalTokenRefresher, refreshDueTokens } from '../../src/integrations/token-refresh.js';
import { expectData, startTestGateway, type GraphQLResponse, type TestGateway } from '../helpers/gateway.js';
import type { SeededMember, SeededOrg } from '../helpers/world.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

let t: TestGateway;
let org: SeededOrg;
let superuser: pg.Client;
let connector: string;
const secrets: string[] = [];
const responses: string[] = [];
const secret = (label: string) => {
  const value = `SECRET-${label}-${randomUUID()}`;
  secrets.push(value);
  return value;
};

async function send(
  member: SeededMember,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<Loose>> {
  const response = await t.client.request<Loose>(query, variables, { token: await t.world.token(member), orgId: member.orgId });
  responses.push(JSON.stringify(response.body), JSON.stringify([...response.headers.entries()]));
  return response;
}

const EVERY_FIELD = `id name scope status syncStatus lastError hasCredentials tokenExpiresAt owner { id email } customer { id } connector { id name authKind }`;

beforeAll(async () => {
  // Debug logging: the most there will ever be to search.
  t = await startTestGateway({ LOG_LEVEL: 'debug' });
  org = await t.world.organization('Secretive');
  connector = await t.world.connector(org, 'Vault');
  superuser = new pg.Client({ connectionString: t.db.superuserUrl });
  await superuser.connect();
});
afterAll(async () => {
  await superuser?.end();
  await t?.stop();
});

describe('credentials are write-only', () => {
  let personal: string;

  it('exercise every path that touches them', async () => {
    const endUser = org.members.end_user;
    personal = expectData(
      await send(
        endUser,
        `mutation($k: ID!, $c: JSON!) { createConnection(input: { connectorId: $k, name: "Mine", credentials: $c }) { ${EVERY_FIELD} } }`,
        {
          k: connector,
          c: {
            accessToken: secret('access'),
            refreshToken: secret('refresh'),
            expiresAt: new Date(Date.now() + 60_000).toISOString(),
          },
        },
      ),
    ).createConnection.id;
    const shared = expectData(
      await send(
        org.members.admin,
        `mutation($k: ID!, $cu: ID!, $c: JSON!) { createConnection(input: { connectorId: $k, customerId: $cu, name: "Team", shared: true, credentials: $c }) { ${EVERY_FIELD} } }`,
        {
          k: connector,
          cu: org.customers[0]!.id,
          c: { username: 'svc', password: secret('password'), apiKey: secret('apikey') },
        },
      ),
    ).createConnection.id;
    await send(
      endUser,
      `mutation($id: ID!, $c: JSON!) { updateConnection(input: { id: $id, credentials: $c }) { ${EVERY_FIELD} } }`,
      {
        id: personal,
        c: {
          accessToken: secret('access2'),
          refreshToken: secret('refresh2'),
          expiresAt: new Date(Date.now() + 60_000).toISOString(),
        },
      },
    );
    await send(
      endUser,
      `mutation($id: ID!) { testConnection(input: { id: $id }) { ok message connection { ${EVERY_FIELD} } } }`,
      { id: personal },
    );
    await send(endUser, `mutation($id: ID!) { refreshConnectionToken(input: { id: $id }) { ${EVERY_FIELD} } }`, { id: personal });
    await send(
      endUser,
      `mutation($id: ID!) { runConnectionAction(input: { id: $id, action: "contacts.list" }) { id parameters connection { ${EVERY_FIELD} } } }`,
      { id: personal },
    );
    await send(
      org.members.admin,
      `{ connections(first: 50) { edges { node { ${EVERY_FIELD} } } } executions(first: 50) { edges { node { parameters } } } }`,
    );
    // Refused input that carries secrets: the error names the field, never the value.
    const refused = await send(
      endUser,
      `mutation($k: ID!, $c: JSON!) { createConnection(input: { connectorId: $k, name: "Bad", credentials: $c }) { id } }`,
      {
        k: connector,
        c: { accessToken: secret('refused'), expiresAt: `not-a-date ${secret('in-a-bad-value')}` },
      },
    );
    expect(refused.body.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
    // The system refresher (the personal token is due).
    await superuser.query(`update app_public.connections set token_expires_at = now() where id = $1`, [personal]);
    await superuser.query(
      `update app_private.connection_refresh_schedule set due_at = now() - interval '1 second' where connection_id = $1`,
      [personal],
    );
    const tally = await refreshDueTokens({
      pool: t.world.pool,
      auditKey: t.gateway.sealingKey,
      cipher: t.cipher,
      refresher: new LocalTokenRefresher(),
      logger: t.gatewayLogger,
    });
    expect(tally.refreshed).toBe(1);
    await send(org.members.admin, `{ auditLog(first: 100) { edges { node { action details } } } }`);
    expect(shared).toBeTruthy();
  });

  it('no response, log line or audit row contains a secret', async () => {
    const audit = (await superuser.query<{ row: string }>(`select e::text as row from app_public.audit_events e`)).rows.map(
      (r) => r.row,
    );
    const haystacks = { responses, logs: t.logs, audit };
    expect(t.logs.length).toBeGreaterThan(10);
    for (const [where, texts] of Object.entries(haystacks)) {
      for (const s of secrets) {
        expect(
          texts.filter((text) => text.includes(s)),
          `${s} found in ${where}`,
        ).toEqual([]);
      }
    }
  });

  it('the database holds ciphertext only, bound to its row', async () => {
    const { rows } = await superuser.query<{
      id: string;
      org_id: string;
      credentials: Buffer;
      credentials_key_id: string;
      dump: string;
    }>(`select id, org_id, credentials, credentials_key_id, c::text as dump from app_public.connections c where org_id = $1`, [
      org.id,
    ]);
    for (const row of rows) for (const s of secrets) expect(row.dump.includes(s)).toBe(false);
    const row = rows.find((r) => r.id === personal)!;
    const decrypted = t.cipher.decrypt(row.credentials, row.credentials_key_id, { orgId: row.org_id, connectionId: row.id });
    expect(decrypted.refreshToken).toBe(secrets.find((s) => s.startsWith('SECRET-refresh2-')));
    // Copied onto another row, the same ciphertext does not decrypt.
    const other = rows.find((r) => r.id !== personal)!;
    expect(() =>
      t.cipher.decrypt(row.credentials, row.credentials_key_id, { orgId: other.org_id, connectionId: other.id }),
    ).toThrow(CredentialsUnreadableError);
    await superuser.query('update app_public.connections set credentials = $1 where id = $2', [row.credentials, other.id]);
    const tested = expectData(
      await send(org.members.admin, 'mutation($id: ID!) { testConnection(input: { id: $id }) { ok message } }', { id: other.id }),
    );
    expect(tested.testConnection).toEqual({ ok: false, message: 'The stored credentials cannot be read; enter them again.' });
  });

  it('no field of the schema can return them', async () => {
    const { body } = await t.client.request<Loose>('{ __type(name: "Connection") { fields { name } } }');
    const fields = body.data!.__type.fields.map((f: Loose) => f.name as string);
    expect(fields.filter((f: string) => /credential|secret|token$|password|apikey/i.test(f))).toEqual(['hasCredentials']);
  });
});
