/**
 * The demo organization a newcomer explores: one member per system role, one customer with an
 * End User, a few workflows, connectors (one live), an agent, a tool and a shared connection. Written through the same domain code and RLS as requests (as
 * gateway_app, bound to the demo organization). Idempotent: an existing demo is left alone.
 */
import type pg from 'pg';
import type { SystemRoleKey } from '../authz/permissions.js';
import type { Logger } from '../logger.js';
import { createConnection } from '../domain/connections.js';
import { addMembership } from '../domain/members.js';
import type { CredentialCipher } from '../integrations/credentials.js';
import { createOrganization } from '../domain/organizations.js';
import { createDefinition, deployDefinition } from '../domain/definitions.js';
import { RequestDatabase, UNBOUND } from './request-database.js';

export const DEMO_ORG_ID = '0d3e0000-0000-4000-8000-000000000001';
export const DEMO_CUSTOMER_ID = '0d3e0000-0000-4000-8000-00000000c001';

export interface DemoMember {
  /** What you type: `npm run token -- <key>`. */
  key: string;
  role: SystemRoleKey;
  subject: string;
  email: string;
  name: string;
}

export const DEMO_MEMBERS: readonly DemoMember[] = [
  { key: 'owner', role: 'owner', subject: 'demo-owner', email: 'olivia.owner@demo.example', name: 'Olivia Owner' },
  { key: 'admin', role: 'admin', subject: 'demo-admin', email: 'adam.admin@demo.example', name: 'Adam Admin' },
  {
    key: 'developer',
    role: 'developer',
    subject: 'demo-developer',
    email: 'dana.developer@demo.example',
    name: 'Dana Developer',
  },
  { key: 'operator', role: 'operator', subject: 'demo-operator', email: 'oscar.operator@demo.example', name: 'Oscar Operator' },
  { key: 'viewer', role: 'viewer', subject: 'demo-viewer', email: 'vera.viewer@demo.example', name: 'Vera Viewer' },
  { key: 'end-user', role: 'end_user', subject: 'demo-end-user', email: 'eddie@acme.example', name: 'Eddie End-User' },
];

export async function seedDemo(
  pool: pg.Pool,
  issuer: string,
  cipher: CredentialCipher,
  logger: Logger,
): Promise<'created' | 'present'> {
  const userIds = new Map<string, string>();
  for (const member of DEMO_MEMBERS) {
    const { rows } = await pool.query<{ id: string }>('select app_private.ensure_user($1, $2, $3, true, $4) as id', [
      issuer,
      member.subject,
      member.email,
      member.name,
    ]);
    userIds.set(member.key, rows[0]!.id);
  }
  const ownerId = userIds.get('owner')!;
  const inDemo = { userId: ownerId, orgId: DEMO_ORG_ID, access: 'staff' as const, tenantId: null };

  const probe = new RequestDatabase(pool, inDemo, logger);
  const exists = (await probe.query('select 1 from organizations where id = $1', [DEMO_ORG_ID])).rowCount === 1;
  await probe.finish();
  if (exists) return 'present';

  const db = new RequestDatabase(pool, { ...UNBOUND, userId: ownerId }, logger);
  try {
    await createOrganization(db, ownerId, 'Demo Organization', async () => {}, DEMO_ORG_ID);
    await db.rebind(inDemo);
    await db.query(
      `insert into customers (org_id, id, name, slug, region, plan) values ($1, $2, 'Acme Corp', 'acme', 'US', 'growth')`,
      [DEMO_ORG_ID, DEMO_CUSTOMER_ID],
    );
    for (const member of DEMO_MEMBERS.filter((m) => m.role !== 'owner')) {
      await addMembership(db, userIds.get(member.key)!, member.role, member.role === 'end_user' ? DEMO_CUSTOMER_ID : null);
    }
    const developerId = userIds.get('developer')!;
    const sync = await createDefinition(db, 'workflow', developerId, {
      name: 'Sync HubSpot contacts to Salesforce',
      description: 'Every 15 minutes, copy new HubSpot contacts into Salesforce leads.',
      definition: {
        trigger: { schedule: '*/15 * * * *' },
        steps: [{ action: 'hubspot.listContacts' }, { action: 'salesforce.upsertLead' }],
      },
    });
    await deployDefinition(db, 'workflow', developerId, sync, 'test');
    await deployDefinition(db, 'workflow', developerId, sync, 'production');
    await createDefinition(db, 'workflow', developerId, {
      name: 'Slack alert on failed payment',
      description: 'Post to #billing when Stripe reports a failed charge.',
      definition: { trigger: { webhook: 'stripe.charge.failed' }, steps: [{ action: 'slack.postMessage' }] },
    });
    await createDefinition(db, 'workflow', ownerId, {
      name: 'Weekly usage report',
      definition: { trigger: { schedule: '0 9 * * MON' } },
    });
    const hubspot = await createDefinition(db, 'connector', developerId, {
      name: 'HubSpot',
      authKind: 'oauth2',
      logoUrl: 'https://www.hubspot.com/favicon.ico',
      definition: { actions: ['contacts.list', 'contacts.create', 'deals.list'] },
    });
    await deployDefinition(db, 'connector', developerId, hubspot, 'production');
    await createDefinition(db, 'connector', developerId, {
      name: 'Salesforce (beta)',
      authKind: 'oauth2',
      definition: { actions: ['leads.upsert'] },
    });
    await createDefinition(db, 'agent', developerId, {
      name: 'Support triage agent',
      definition: { model: 'any', instructions: 'Label and route tickets.' },
    });
    await createDefinition(db, 'tool', developerId, {
      name: 'Lookup customer by email',
      definition: { input: { email: 'string' } },
    });
    await createConnection(db, cipher, userIds.get('end-user')!, DEMO_ORG_ID, {
      customerId: DEMO_CUSTOMER_ID,
      connectorId: hubspot,
      name: 'Acme HubSpot',
      scope: 'shared',
      credentials: {
        accessToken: 'demo-access-token',
        refreshToken: 'demo-refresh-token',
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    if ((await db.finish()) !== 'committed') throw new Error('demo seed did not commit');
  } catch (error) {
    await db.abandon();
    throw error;
  }
  logger.info({ organization: DEMO_ORG_ID }, 'demo organization created');
  return 'created';
}
