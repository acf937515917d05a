/**
 * Tamper evidence (issue 11.4, migration 015): the sealer seals each organization's events, and
 * verification — `auditLogVerification`, `npm run audit:verify`, src/audit/verify.ts — names the
 * first event a superuser (or the owner) edited, deleted, inserted or reordered, also after
 * recomputing every plain hash; untouched trails and purged ones verify.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertAuditRows } from '../../src/audit/audit-log.js';
import { purgeAuditEvents } from '../../src/audit/retention.js';
import { AuditSealer, SEAL_MAX_EVENTS } from '../../src/audit/sealer.js';
import { CANONICAL_COLUMNS } from '../../src/audit/seal.js';
import { verifyOrganization, type VerificationReport } from '../../src/audit/verify.js';
import { asApp } from '../helpers/database.js';
import { expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';

const SECRET = randomBytes(32).toString('base64');
let t: TestGateway;
let superuser: pg.Client;
let owner: pg.Client;

beforeAll(async () => {
  t = await startTestGateway({ AUDIT_SIGNING_KEY: SECRET });
  superuser = new pg.Client({ connectionString: t.db.superuserUrl });
  await superuser.connect();
  owner = new pg.Client({ connectionString: t.db.ownerUrl });
  await owner.connect();
  await owner.query('set search_path = app_public');
}, 120_000);

afterAll(async () => {
  await superuser?.end();
  await owner?.end();
  await t?.stop();
});

/** `n` events per transaction, `transactions` times, as the gateway writes them (as the app role, MAC'd). */
async function events(org: SeededOrg, transactions: number, n: number): Promise<void> {
  for (let i = 0; i < transactions; i++) {
    await asApp(
      t.world.pool,
      { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['workflows.create'] },
      (c) =>
        insertAuditRows(
          c,
          { requestId: `seal-test-${i}`, clientIp: '10.1.2.3', userAgent: 'seal test' },
          { userId: org.members.owner.userId, name: 'Owner' },
          Array.from({ length: n }, (_, g) => ({
            orgId: org.id,
            action: 'workflow.create',
            resourceType: 'workflow',
            resourceId: `wf-${g + 1}`,
            outcome: 'success' as const,
            details: { n: g + 1, t: i },
          })),
          t.gateway.sealingKey,
        ),
      { commit: true },
    );
  }
}

const verify = (org: SeededOrg): Promise<VerificationReport> =>
  verifyOrganization((text, values) => owner.query(text, values), t.gateway.sealingKey, org.id);

/** The org's events in chain order, as the superuser sees them. */
async function trail(org: SeededOrg) {
  const { rows } = await superuser.query<{ id: string; seq: string; occurred_at: Date }>(
    'select id, seq::text as seq, occurred_at from app_public.audit_events where org_id = $1 order by xact, seq',
    [org.id],
  );
  return rows;
}

/**
 * Rounds until the organization has no unsealed event. The horizon is the cluster's oldest
 * running transaction: other test files' transactions (same cluster) can hold it back for a
 * while, exactly as a long transaction would in production (a delay, never a wrong seal).
 */
/**
 * Seals until nothing is left. Only transactions below the cluster's snapshot horizon can be
 * sealed, and transaction ids are cluster-wide: a long transaction in another test file's
 * database (a paused export, a held lock) holds sealing back until it ends — by design — so
 * this waits up to ~90 s rather than the few rounds a quiet cluster needs.
 */
async function sealAll(org: SeededOrg): Promise<void> {
  for (let attempt = 0; attempt < 900; attempt++) {
    await t.gateway.auditSealer.round();
    if ((await verify(org)).unsealedEvents === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${org.name}: events still unsealed after 900 rounds`);
}

async function sealedOrg(name: string, transactions = 3, n = 10): Promise<SeededOrg> {
  const org = await t.world.organization(name, { customers: 1 });
  await events(org, transactions, n);
  await sealAll(org);
  const report = await verify(org);
  expect(report.unsealedEvents).toBe(0);
  expect(report.intact).toBe(true);
  return org;
}

const VERIFY_QUERY = `query ($from: DateTime, $to: DateTime) {
  auditLogVerification(from: $from, to: $to) {
    intact checkedSeals checkedEvents unsealedEvents findingCount
    firstBroken { problem eventId seq sealNumber message affected { fromSeq toSeq from to } }
    affected { fromSeq toSeq from to }
  }
}`;

describe('sealing', { timeout: 180_000 }, () => {
  it('the canonical encoding covers every column of audit_events (a new column must be added to it)', async () => {
    const { rows } = await superuser.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = 'app_public' and table_name = 'audit_events'`,
    );
    expect(rows.map((r) => r.column_name).sort()).toEqual([...CANONICAL_COLUMNS].sort());
  });

  it('an untouched trail verifies, through GraphQL too; new events are reported as not yet sealed', async () => {
    const org = await sealedOrg('Untouched');
    const report = await verify(org);
    expect(report).toMatchObject({ intact: true, checkedEvents: (await trail(org)).length, findingCount: 0 });
    await events(org, 1, 3);
    const token = await t.world.token(org.members.admin);
    const answer = expectData(await t.client.request<any>(VERIFY_QUERY, {}, { token, orgId: org.id }));
    expect(answer.auditLogVerification).toMatchObject({ intact: true, unsealedEvents: 3, firstBroken: null });
    await sealAll(org);
    const again = expectData(await t.client.request<any>(VERIFY_QUERY, {}, { token, orgId: org.id }));
    expect(again.auditLogVerification).toMatchObject({ intact: true, unsealedEvents: 0 });
  });

  it('only holders of audit_log.read may verify', async () => {
    const org = await sealedOrg('Verify permission', 1, 2);
    const token = await t.world.token(org.members.viewer);
    const answer = await t.client.request<any>(VERIFY_QUERY, {}, { token, orgId: org.id });
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('no request can file a seal: the insert policy wants the system (no user) holding audit_log.read', async () => {
    const org = await t.world.organization('Seal forgery', { customers: 1 });
    await expect(
      asApp(
        t.world.pool,
        { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['audit_log.read'] },
        (c) =>
          c.query(
            `insert into audit_seals (org_id, seal_no, xact_from, xact_to, event_count, first_seq, last_seq, first_at, last_at,
             prev_head, head, manifest, key_id, sealed_at, mac)
           values ($1, 1, 0, 1, 1, 1, 1, now(), now(), '\\x00', '\\x00', '\\x', 'k', now(), '\\x00')`,
            [org.id],
          ),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    // …and the app role can neither change nor delete one.
    const privileges = await superuser.query(
      `select has_table_privilege('gateway_app', 'app_public.audit_seals', 'update') as u,
              has_table_privilege('gateway_app', 'app_public.audit_seals', 'delete') as d,
              has_table_privilege('gateway_app', 'app_public.audit_seals', 'truncate') as tr,
              has_table_privilege('gateway_app', 'app_public.audit_checkpoints', 'insert') as ci`,
    );
    expect(privileges.rows[0]).toEqual({ u: false, d: false, tr: false, ci: false });
  });

  it('sealing under concurrent mutations: every event sealed exactly once, in order, and the trail verifies', async () => {
    const org = await t.world.organization('Concurrent', { customers: 1 });
    const token = await t.world.token(org.members.owner);
    let stop = false;
    const sealing = (async () => {
      let rounds = 0;
      while (!stop || rounds < 1) {
        await t.gateway.auditSealer.round();
        rounds++;
      }
      return rounds;
    })();
    const writers = Array.from({ length: 6 }, async (_, w) => {
      // (each writer: 15 sequential mutations; 6 at once)
      for (let i = 0; i < 15; i++) {
        const answer = await t.client.request<any>(
          `mutation ($input: CreateWorkflowInput!) { createWorkflow(input: $input) { id } }`,
          { input: { name: `w${w}-${i}`, definition: { w, i } } },
          { token, orgId: org.id },
        );
        expectData(answer);
      }
    });
    try {
      await Promise.all(writers);
    } finally {
      stop = true;
    }
    const rounds = await sealing;
    await sealAll(org); // whatever committed after the last round
    expect(rounds).toBeGreaterThan(0);
    const report = await verify(org);
    const created = (await t.world.audit(org)).filter((e) => e.action === 'workflow.create');
    expect(created.length).toBe(90);
    expect(report).toMatchObject({ intact: true, unsealedEvents: 0, findingCount: 0 });
    expect(report.checkedEvents).toBe((await trail(org)).length);
    const { rows } = await owner.query<{ n: string; total: string }>(
      'select count(*)::text as n, sum(event_count)::text as total from audit_seals where org_id = $1',
      [org.id],
    );
    expect(Number(rows[0]!.total)).toBe(report.checkedEvents); // no event in two seals
  }, 120_000);
});

describe('tampering as a superuser', { timeout: 180_000 }, () => {
  it('an edited event (any column: details) is named', async () => {
    const org = await sealedOrg('Edit');
    const victim = (await trail(org))[14]!;
    await superuser.query(`update app_public.audit_events set details = '{"n": 999}' where id = $1`, [victim.id]);
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_CHANGED', eventId: victim.id, seq: victim.seq });
    expect(report.findingCount).toBe(1);
    expect(report.affected?.fromSeq).toBe(victim.seq);
    // The GraphQL query names the same event, for a holder of audit_log.read.
    const token = await t.world.token(org.members.admin);
    const answer = expectData(await t.client.request<any>(VERIFY_QUERY, {}, { token, orgId: org.id }));
    expect(answer.auditLogVerification).toMatchObject({
      intact: false,
      firstBroken: { problem: 'EVENT_CHANGED', eventId: victim.id, seq: victim.seq },
    });
  });

  it('an edit of occurred_at (by one microsecond) or actor_name is named', async () => {
    const org = await sealedOrg('Edit columns');
    const [a, b] = [(await trail(org))[3]!, (await trail(org))[20]!];
    await superuser.query(
      `update app_public.audit_events set occurred_at = occurred_at + interval '1 microsecond' where id = $1`,
      [a.id],
    );
    await superuser.query(`update app_public.audit_events set actor_name = 'Someone else' where id = $1`, [b.id]);
    const report = await verify(org);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_CHANGED', eventId: a.id });
    expect(report.findings.map((f) => f.eventId)).toEqual([a.id, b.id]);
  });

  it('a deleted event is named by its sealed id', async () => {
    const org = await sealedOrg('Delete');
    const victim = (await trail(org))[7]!;
    await superuser.query('delete from app_public.audit_events where id = $1', [victim.id]);
    const report = await verify(org);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_DELETED', eventId: victim.id, seq: victim.seq });
  });

  it('an inserted event (between sealed ones, with a plausible seq and transaction id) is named', async () => {
    const org = await sealedOrg('Insert');
    const rows = await trail(org);
    const { rows: inserted } = await superuser.query<{ id: string; seq: string }>(
      `insert into app_public.audit_events (org_id, actor_type, actor_user_id, actor_name, action, resource_type, outcome, seq, xact, occurred_at)
       overriding system value
       select org_id, actor_type, actor_user_id, actor_name, 'role.delete', 'role', 'success', seq + 100000, xact, occurred_at
       from app_public.audit_events where id = $1 returning id, seq::text as seq`,
      [rows[5]!.id],
    );
    // The stamp triggers set xact and the time; a superuser puts them back as wanted.
    await superuser.query(
      `alter table app_public.audit_events disable trigger user;
       update app_public.audit_events set xact = (select xact from app_public.audit_events where id = $1) where id = $2;
       alter table app_public.audit_events enable trigger user;`
        .replace(/\$1/g, `'${rows[5]!.id}'`)
        .replace(/\$2/g, `'${inserted[0]!.id}'`),
    );
    const report = await verify(org);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_FORGED', eventId: inserted[0]!.id });
  });

  it("a forged event reusing a sealed event's seq (and the seal's xact) is named (review S2)", async () => {
    const org = await sealedOrg('Duplicate seq', 3, 5);
    const rows = await trail(org);
    const target = rows[rows.length - 1]!;
    const { rows: seal } = await superuser.query<{ xact_from: string }>(
      'select xact_from::text from app_public.audit_seals where org_id = $1 and seal_no = 1',
      [org.id],
    );
    await superuser.query('alter table app_public.audit_events disable trigger user');
    const { rows: forged } = await superuser.query<{ id: string }>(
      `insert into app_public.audit_events (org_id, actor_type, actor_name, action, resource_type, resource_id, outcome, details, seq, xact)
       overriding system value values ($1::uuid, 'system', 'system', 'organization.transfer', 'organization', $1::text, 'success', '{"forged":1}', $2, $3)
       returning id`,
      [org.id, target.seq, seal[0]!.xact_from],
    );
    await superuser.query('alter table app_public.audit_events enable trigger user');
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.findings.find((f) => f.eventId === forged[0]!.id)?.problem).toBe('EVENT_FORGED');
  });

  it('a forged event with a transaction id below the first seal (negative) is named (review S3)', async () => {
    const org = await sealedOrg('Below chain', 1, 5);
    await superuser.query('alter table app_public.audit_events disable trigger user');
    const { rows: forged } = await superuser.query<{ id: string }>(
      `insert into app_public.audit_events (org_id, actor_type, actor_name, action, resource_type, resource_id, outcome, details, xact, occurred_at)
       values ($1::uuid, 'system', 'system', 'organization.transfer', 'organization', $1::text, 'success', '{"forged":2}', -1, now() - interval '1 day')
       returning id`,
      [org.id],
    );
    await superuser.query('alter table app_public.audit_events enable trigger user');
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.findings.find((f) => f.eventId === forged[0]!.id)?.problem).toBe('EVENT_INSERTED');
  });

  it('a replayed genuine event (same columns and MAC, reusing a sealed seq) is named as inserted (review S2)', async () => {
    const org = await sealedOrg('Replay', 1, 5);
    const victim = (await trail(org))[2]!;
    // A superuser drops the primary key's protection by copying the row under a new org-less key? No:
    // the copy keeps every column the MAC covers, so only (org_id, id) would clash — drop the key.
    await superuser.query('alter table app_public.audit_events drop constraint audit_events_pkey');
    try {
      await superuser.query('alter table app_public.audit_events disable trigger user');
      await superuser.query(
        `insert into app_public.audit_events overriding system value select * from app_public.audit_events where id = $1`,
        [victim.id],
      );
      await superuser.query('alter table app_public.audit_events enable trigger user');
      const report = await verify(org);
      expect(report.intact).toBe(false);
      expect(report.findings.map((f) => [f.problem, f.eventId])).toContainEqual(['EVENT_INSERTED', victim.id]);
    } finally {
      await superuser.query(
        `delete from app_public.audit_events a using app_public.audit_events b
         where a.id = $1 and b.id = $1 and a.ctid > b.ctid`,
        [victim.id],
      );
      await superuser.query('alter table app_public.audit_events add primary key (org_id, id)');
    }
  });

  it('events inserted or edited outside the gateway are EVENT_FORGED before sealing, and the sealer never seals them (review S4)', async () => {
    const org = await sealedOrg('Unsealed forgery', 1, 3);
    await superuser.query('alter table app_public.audit_events disable trigger audit_events_stamp');
    const { rows: forged } = await superuser.query<{ id: string }>(
      `insert into app_public.audit_events (org_id, actor_type, actor_name, action, resource_type, resource_id, outcome, details, occurred_at)
       values ($1::uuid, 'system', 'system', 'organization.transfer', 'organization', $1::text, 'success', '{"forged":3}', now() - interval '300 days')
       returning id`,
      [org.id],
    );
    await superuser.query('alter table app_public.audit_events enable trigger audit_events_stamp');
    await events(org, 1, 2);
    const genuine = (await trail(org)).at(-1)!;
    await superuser.query(`update app_public.audit_events set actor_name = 'Someone', details = '{"x":1}' where id = $1`, [
      genuine.id,
    ]);
    const before = await verify(org);
    expect(before.intact).toBe(false);
    expect(
      before.findings
        .filter((f) => f.problem === 'EVENT_FORGED')
        .map((f) => f.eventId)
        .sort(),
    ).toEqual([forged[0]!.id, genuine.id].sort());
    await sealAll(org);
    const after = await verify(org);
    expect(after.intact).toBe(false);
    expect(
      after.findings
        .filter((f) => f.problem === 'EVENT_FORGED')
        .map((f) => f.eventId)
        .sort(),
    ).toEqual([forged[0]!.id, genuine.id].sort());
    const { rows } = await owner.query<{ total: string }>(
      'select sum(event_count)::text as total from audit_seals where org_id = $1',
      [org.id],
    );
    expect(Number(rows[0]!.total)).toBe(4); // 3 + the genuine untouched one
    expect(t.logs.some((l) => l.includes('audit.event_forged') && l.includes(forged[0]!.id))).toBe(true);
  });

  it("the per-event MAC survives the database's normalization (jsonb key order, inet spelling, µs time, UTF-8)", async () => {
    const org = await t.world.organization('Canonical', { customers: 1 });
    await asApp(
      t.world.pool,
      { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['workflows.create'] },
      (c) =>
        insertAuditRows(
          c,
          { requestId: 'canon', clientIp: '::FFFF:10.0.0.1', userAgent: 'agent \u00e9\u{1F600} ' + 'x'.repeat(600) },
          { userId: org.members.owner.userId, name: 'Ówner  "quoted"' },
          [
            {
              orgId: org.id,
              action: 'workflow.create',
              resourceType: 'workflow',
              resourceId: 'wf',
              outcome: 'success',
              customerId: org.customers[0]!.id.toUpperCase(),
              details: {
                zeta: 1,
                alpha: { b: [1, 2.5, { y: 'é', x: null }], a: 1e21 },
                gone: undefined,
                '': true,
                long_key_: -0,
              },
            },
            { orgId: org.id, action: 'workflow.delete', resourceType: 'workflow', outcome: 'failure' },
          ],
          t.gateway.sealingKey,
        ),
      { commit: true },
    );
    const report = await verify(org);
    expect(report).toMatchObject({ intact: true, unsealedEvents: 2, findingCount: 0 });
    await sealAll(org);
    expect(await verify(org)).toMatchObject({ intact: true, checkedEvents: 2, findingCount: 0 });
  });

  it('deleting every seal is CHAIN_TRUNCATED, and no sealer (a restart, another replica) restarts the chain (review S1)', async () => {
    const org = await sealedOrg('Truncate', 2, 3);
    await superuser.query('delete from app_public.audit_seals where org_id = $1', [org.id]);
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.findings.map((f) => f.problem)).toContain('CHAIN_TRUNCATED');
    const fresh = new AuditSealer({ pool: t.world.pool, key: t.gateway.sealingKey, logger: t.gatewayLogger });
    await fresh.round();
    const after = await verify(org);
    expect(after).toMatchObject({ intact: false, checkedSeals: 0, unsealedEvents: 6 });
    expect(after.findings.map((f) => f.problem)).toContain('CHAIN_TRUNCATED');
  });

  it('the newest seal deleted with its events and tip: consistent inside the database, caught by an expected head from the log (review S1/S12)', async () => {
    const org = await sealedOrg('Tail cut', 1, 3);
    await events(org, 1, 3);
    await sealAll(org);
    const { rows } = await owner.query<{ seal_no: number; head: Buffer; xact_from: string }>(
      'select seal_no, head, xact_from::text from audit_seals where org_id = $1 order by seal_no desc limit 1',
      [org.id],
    );
    const newest = rows[0]!;
    const line = t.logs.find((l) => l.includes('audit.sealed') && l.includes(org.id) && l.includes(newest.head.toString('hex')));
    expect(line).toBeTruthy(); // the outside record
    await superuser.query('delete from app_public.audit_events where org_id = $1 and xact >= $2', [org.id, newest.xact_from]);
    await superuser.query('delete from app_public.audit_seals where org_id = $1 and seal_no = $2', [org.id, newest.seal_no]);
    await superuser.query('delete from app_public.audit_seal_tips where org_id = $1 and seal_no >= $2', [org.id, newest.seal_no]);
    expect(await verify(org)).toMatchObject({ intact: true }); // the honest limit (README)
    const withHead = await verifyOrganization(
      (text, values) => owner.query(text, values),
      t.gateway.sealingKey,
      org.id,
      {},
      { expectHead: { sealNo: newest.seal_no, head: newest.head.toString('hex') } },
    );
    expect(withHead.intact).toBe(false);
    expect(withHead.firstBroken?.problem).toBe('CHAIN_TRUNCATED');
  });

  it('a range verification also checks the seal of an event moved into the range from another seal (review S9)', async () => {
    const org = await sealedOrg('Moved in time', 1, 3);
    await new Promise((r) => setTimeout(r, 50));
    const mid = new Date();
    await new Promise((r) => setTimeout(r, 50));
    await events(org, 1, 3);
    await sealAll(org);
    const late = (await trail(org)).at(-1)!;
    await superuser.query(`update app_public.audit_events set occurred_at = $2::timestamptz - interval '20 ms' where id = $1`, [
      late.id,
      mid,
    ]);
    const ranged = await verifyOrganization((text, values) => owner.query(text, values), t.gateway.sealingKey, org.id, {
      from: new Date(0),
      to: mid,
    });
    expect(ranged.intact).toBe(false);
    expect(ranged.firstBroken).toMatchObject({ problem: 'EVENT_CHANGED', eventId: late.id });
  });

  it('events left unsealed longer than max(60 s, 10 × interval) are SEALING_STALLED (review S6)', async () => {
    const org = await sealedOrg('Stalled', 1, 2);
    await events(org, 1, 2);
    const verifyAt = (now: Date) =>
      verifyOrganization(
        (text, values) => owner.query(text, values),
        t.gateway.sealingKey,
        org.id,
        {},
        { staleAfterMs: 60_000, now },
      );
    expect(await verifyAt(new Date())).toMatchObject({ intact: true, unsealedEvents: 2 });
    const later = await verifyAt(new Date(Date.now() + 120_000));
    expect(later.intact).toBe(false);
    expect(later.firstBroken?.problem).toBe('SEALING_STALLED');
  });

  it('one transaction with more events than a seal holds is sealed in bounded chunks (review S4b: the first round over a 015 trail)', async () => {
    const org = await t.world.organization('Chunked', { customers: 1 });
    await asApp(
      t.world.pool,
      { userId: org.members.owner.userId, orgId: org.id, role: 'staff', permissions: ['workflows.create'] },
      (c) =>
        insertAuditRows(
          c,
          { requestId: 'bulk', clientIp: null, userAgent: null },
          { userId: org.members.owner.userId, name: 'Owner' },
          Array.from({ length: 2 * SEAL_MAX_EVENTS + 7 }, (_, g) => ({
            orgId: org.id,
            action: 'workflow.create',
            resourceType: 'workflow',
            resourceId: `wf-${g}`,
            outcome: 'success' as const,
          })),
          t.gateway.sealingKey,
        ),
      { commit: true },
    );
    await sealAll(org);
    const { rows: seals } = await owner.query<{ event_count: number }>(
      'select event_count from audit_seals where org_id = $1 order by seal_no',
      [org.id],
    );
    expect(seals.map((r) => r.event_count)).toEqual([SEAL_MAX_EVENTS, SEAL_MAX_EVENTS, 7]);
    expect(await verify(org)).toMatchObject({ intact: true, checkedSeals: 3, checkedEvents: 2 * SEAL_MAX_EVENTS + 7 });
    const victim = (await trail(org))[SEAL_MAX_EVENTS + 3]!;
    await superuser.query('delete from app_public.audit_events where id = $1', [victim.id]);
    const report = await verify(org);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_DELETED', eventId: victim.id, sealNo: 2 });
    expect(report.findingCount).toBe(1);
  }, 120_000);

  it('a reorder (two events swap seq and time) is named at the first of them', async () => {
    const org = await sealedOrg('Reorder');
    const rows = await trail(org);
    const [a, b] = [rows[10]!, rows[11]!];
    // seq is GENERATED ALWAYS: a superuser relaxes that first.
    await superuser.query('alter table app_public.audit_events alter column seq set generated by default');
    await superuser.query(
      `update app_public.audit_events e set seq = v.seq, occurred_at = v.at
       from (values ($1::uuid, $4::bigint, $6::timestamptz), ($2::uuid, $3::bigint, $5::timestamptz)) v(id, seq, at) where e.id = v.id`,
      [a.id, b.id, a.seq, b.seq, a.occurred_at, b.occurred_at],
    );
    await superuser.query('alter table app_public.audit_events alter column seq set generated always');
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.firstBroken).toMatchObject({ problem: 'EVENT_CHANGED', seq: a.seq });
    expect(report.findings.map((f) => f.seq)).toEqual([a.seq, b.seq]);
  });

  it('recomputing every hash does not help: the edited event is still named, forged seals fail their MAC', async () => {
    const org = await sealedOrg('Recompute');
    const victim = (await trail(org))[12]!;
    await superuser.query(`update app_public.audit_events set outcome = 'failure' where id = $1`, [victim.id]);
    // The tamperer rebuilds every seal's manifest and digest with SHA-256 (all it can do without
    // the key): chain values and MACs recomputed, as well as anyone can.
    const { rows: seals } = await superuser.query<{ seal_no: number; manifest: Buffer; mac: Buffer }>(
      'select seal_no, manifest, mac from app_public.audit_seals where org_id = $1 order by seal_no',
      [org.id],
    );
    for (const seal of seals) {
      const forged = Buffer.from(seal.manifest);
      for (let at = 0; at < forged.length; at += 40) {
        createHash('sha256')
          .update(forged.subarray(0, at + 24))
          .digest()
          .subarray(0, 16)
          .copy(forged, at + 24);
      }
      await superuser.query(
        'update app_public.audit_seals set manifest = $3, head = $4, mac = $5 where org_id = $1 and seal_no = $2',
        [org.id, seal.seal_no, forged, forged.subarray(forged.length - 16), createHash('sha256').update(forged).digest()],
      );
    }
    const report = await verify(org);
    expect(report.intact).toBe(false);
    expect(report.findings.some((f) => f.problem === 'SEAL_FORGED')).toBe(true);
    expect(report.findings.find((f) => f.eventId === victim.id)?.problem).toBe('EVENT_CHANGED');
    // …and a sealer never chains onto a forged seal (new events stay unsealed, visibly).
    await events(org, 1, 2);
    await t.gateway.auditSealer.round();
    expect((await verify(org)).unsealedEvents).toBe(2);
  });

  it('a deleted seal is named with the range it covered; its events are not silently resealed', async () => {
    const org = await sealedOrg('Seal deletion', 1, 5);
    await events(org, 1, 5);
    await sealAll(org);
    await events(org, 1, 5);
    await sealAll(org);
    await superuser.query('delete from app_public.audit_seals where org_id = $1 and seal_no = 2', [org.id]);
    const report = await verify(org);
    expect(report.firstBroken).toMatchObject({ problem: 'SEAL_MISSING', sealNo: 3 });
    expect(report.affected?.fromSeq).toBeTruthy();
    // Deleting every seal: the sealer remembers the chain it wrote and refuses to start a new one.
    await superuser.query('delete from app_public.audit_seals where org_id = $1', [org.id]);
    await events(org, 1, 2);
    await t.gateway.auditSealer.round();
    const after = await verify(org);
    expect(after.unsealedEvents).toBe(17);
    expect(t.logs.some((l) => l.includes('audit.seal_chain_broken') && l.includes(org.id))).toBe(true);
  });

  it('a retention purge leaves a checkpoint: the rest verifies and the chain goes on; a forged checkpoint is named', async () => {
    const org = await sealedOrg('Purge', 2, 5); // seal 1: 10 events
    await new Promise((r) => setTimeout(r, 20));
    await events(org, 1, 4);
    await sealAll(org); // seal 2: 4 events
    const report = await purgeAfter(org, 1);
    expect(report).toMatchObject({ intact: true, checkedSeals: 1, checkedEvents: 4, checkpoint: { sealNo: 1 } });
    expect(await trail(org)).toHaveLength(4);
    // The sealer continues the chain from what is left.
    await events(org, 1, 3);
    await sealAll(org);
    expect(await verify(org)).toMatchObject({ intact: true, checkedEvents: 7, unsealedEvents: 0 });
    // An event slipped back into the purged range is named.
    // A forged checkpoint (edited by the owner or a superuser) is named first.
    await superuser.query('update app_public.audit_checkpoints set purged_events = purged_events + 1 where org_id = $1', [
      org.id,
    ]);
    const forged = await verify(org);
    expect(forged.intact).toBe(false);
    expect(forged.firstBroken?.problem).toBe('CHECKPOINT_FORGED');
    expect(forged.findings.map((f) => f.problem)).toContain('SEAL_MISSING');
  });

  it('a purge never turns a forged seal into a checkpoint', async () => {
    const org = await sealedOrg('Purge forged', 1, 3);
    await superuser.query(`update app_public.audit_seals set key_id = 'other' where org_id = $1`, [org.id]);
    const { rows } = await owner.query<{ last_at: Date }>('select last_at from audit_seals where org_id = $1', [org.id]);
    const result = await purgeAsOf(rows[0]!.last_at.getTime() + 1);
    expect(result.refused).toContain(org.id);
    expect(await trail(org)).toHaveLength(3);
  });
});

/** Purges with retention 1 day as if the clock stood 1 day after `cutoff` (ms). */
async function purgeAsOf(cutoff: number) {
  const realNow = Date.now;
  Date.now = () => cutoff + 86_400_000;
  try {
    return await purgeAuditEvents(t.db.ownerUrl, 1, t.gateway.sealingKey);
  } finally {
    Date.now = realNow;
  }
}

/** Purges everything up to seal `sealNo` of `org` (its newest event is past retention), then verifies. */
async function purgeAfter(org: SeededOrg, sealNo: number): Promise<VerificationReport> {
  const { rows } = await owner.query<{ last_at: Date }>('select last_at from audit_seals where org_id = $1 and seal_no = $2', [
    org.id,
    sealNo,
  ]);
  const result = await purgeAsOf(rows[0]!.last_at.getTime() + 1);
  expect(result.checkpoints).toBeGreaterThanOrEqual(1);
  return verify(org);
}

describe('npm run audit:verify', { timeout: 180_000 }, () => {
  const run = (orgId: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join('src', 'cli', 'audit-verify.ts'), '--org', orgId], {
        env: { PATH: process.env.PATH!, DATABASE_OWNER_URL: t.db.ownerUrl, AUDIT_SIGNING_KEY: SECRET, DATA_DIR: os.tmpdir() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c) => (out += String(c)));
      child.stderr.on('data', (c) => (out += String(c)));
      child.once('exit', (code) => resolve({ code, out }));
    });

  it('exits 0 on an intact trail, and 3 naming the first broken event after tampering', async () => {
    const org = await sealedOrg('CLI', 2, 5);
    const intact = await run(org.id);
    expect(intact.code, intact.out).toBe(0);
    expect(intact.out).toContain('"intact":true');
    const victim = (await trail(org))[6]!;
    await superuser.query('delete from app_public.audit_events where id = $1', [victim.id]);
    const broken = await run(org.id);
    expect(broken.code, broken.out).toBe(3);
    const line = JSON.parse(broken.out.split('\n').find((l) => l.includes(org.id))!);
    expect(line.firstBroken).toMatchObject({ problem: 'EVENT_DELETED', eventId: victim.id });
  }, 60_000);
});
