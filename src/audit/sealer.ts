/**
 * The background sealer (see src/audit/seal.ts for what a seal is). Every AUDIT_SEAL_INTERVAL,
 * one replica — whichever holds the advisory lock — seals each organization's new events:
 *
 *  1. outside any binding, `app_private.audit_orgs_to_seal(since)` names the organizations with
 *     events from transactions at or after `since` (the previous round's horizon);
 *  2. per organization, in a REPEATABLE READ transaction bound as the system holding only
 *     audit_log.read: the horizon is the snapshot's xmin (every transaction below it has ended,
 *     so no event can still commit below it); the events with xact in [previous seal's xact_to,
 *     horizon) are chained onto the previous seal (or purge checkpoint) and stored as seals of at
 *     most SEAL_MAX_EVENTS events.
 *
 * It never touches the request path: events are only read, with plain snapshots, and nothing a
 * request waits for is locked. A long-open transaction anywhere holds the horizon back (events
 * stay "not yet sealed" until it ends) — a delay, never a wrong seal.
 */
import type pg from 'pg';
import { bindingSql, type DatabaseBinding } from '../db/request-database.js';
import type { Logger } from '../logger.js';
import {
  CANONICAL_SELECT,
  CHECKPOINT_SELECT,
  GENESIS,
  SEAL_SELECT,
  checkpointFieldsOf,
  checkpointMac,
  chainNext,
  encodeManifest,
  isoMillis,
  sameBytes,
  sealFieldsOf,
  sealMac,
  type CanonicalEvent,
  type CheckpointRow,
  type ManifestEntry,
  type SealingKey,
  type SealRow,
  eventAuthentic,
  latestTip,
  tipMac,
  type TipFields,
  type TipRow,
} from './seal.js';

/** One seal's manifest stays under ~200 kB. */
export const SEAL_MAX_EVENTS = 5_000;
/**
 * pg_try_advisory_xact_lock(SEALER_LOCK, hashtext(org_id)): one sealer per organization at a
 * time, held by the sealing transaction only (review S10: replicas seal different organizations
 * in parallel, and no lock outlives a transaction or a dead peer). "audi", fits an int4.
 */
const SEALER_LOCK = 0x6175_6469;

export interface ChainTip {
  sealNo: number;
  /** The end position (xact_to, to_seq), excluded: the next seal starts there. */
  xactTo: string;
  toSeq: string;
  head: Buffer;
}

type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

/**
 * Where the organization's chain ends: its last seal, or its last purge checkpoint when all seals
 * were purged. Its MAC is checked: a forged tip is never chained onto (null + reason). The newest
 * valid row of audit_seal_tips (migration 019) says how far the chain went: a chain shorter than
 * that lost seals, and is never continued (on any replica, after any restart).
 */
export async function chainTip(
  q: Query,
  key: SealingKey,
  orgId: string,
): Promise<{ tip: ChainTip | null; problem?: string; recorded: TipRow | null; unsignedUptoSeq: bigint }> {
  const seal = (
    await q(`select ${SEAL_SELECT}, s.manifest from audit_seals s where s.org_id = $1 order by s.seal_no desc limit 1`, [orgId])
  ).rows[0] as SealRow | undefined;
  const checkpoint = (
    await q(`select ${CHECKPOINT_SELECT} from audit_checkpoints c where c.org_id = $1 order by c.seal_no desc limit 1`, [orgId])
  ).rows[0] as CheckpointRow | undefined;
  const { tip: recorded, forged } = await latestTip(q, key, orgId);
  const unsignedUptoSeq = recorded
    ? BigInt(recorded.unsigned_upto_seq)
    : BigInt((await q('select app_private.audit_event_mac_boundary()::text as b')).rows[0]!.b as string);
  const answer = (tip: ChainTip | null, problem?: string) => ({ tip, problem, recorded, unsignedUptoSeq });
  if (!recorded && forged.length > 0) return answer(null, `chain tip ${forged[0]!.seal_no} fails its MAC`);
  let found: ChainTip;
  if (seal && (!checkpoint || seal.seal_no > checkpoint.seal_no)) {
    if (!sameBytes(sealMac(key, sealFieldsOf(seal, seal.manifest!)), seal.mac)) {
      return answer(null, `seal ${seal.seal_no} fails its MAC (forged, or made with another key)`);
    }
    found = { sealNo: seal.seal_no, xactTo: seal.xact_to, toSeq: seal.to_seq, head: seal.head };
  } else if (checkpoint) {
    if (!sameBytes(checkpointMac(key, checkpointFieldsOf(checkpoint)), checkpoint.mac)) {
      return answer(null, `checkpoint ${checkpoint.seal_no} fails its MAC`);
    }
    found = { sealNo: checkpoint.seal_no, xactTo: checkpoint.xact_to, toSeq: checkpoint.to_seq, head: checkpoint.head };
  } else {
    found = { sealNo: 0, xactTo: '0', toSeq: '0', head: GENESIS };
  }
  if (recorded && found.sealNo < recorded.seal_no) {
    return answer(null, `the chain ends at seal ${found.sealNo}, but seal ${recorded.seal_no} was recorded (seals deleted)`);
  }
  return answer(found);
}

export interface SealerOptions {
  pool: pg.Pool;
  key: SealingKey;
  logger: Logger;
  /** Called with each seal written (metrics). */
  onSeal?: (events: number) => void;
}

export class AuditSealer {
  /** Transactions below this were all sealed by an earlier round of this process (a hint only). */
  private since = '0';

  constructor(private readonly options: SealerOptions) {}

  /** One round. Returns the seals and events written. */
  async round(): Promise<{ seals: number; events: number } | null> {
    const { pool, logger } = this.options;
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      const start = await client.query<{ horizon: string }>('select pg_snapshot_xmin(pg_current_snapshot())::text as horizon');
      const horizon = start.rows[0]!.horizon;
      const { rows: orgs } = await client.query<{ org_id: string }>('select org_id from app_private.audit_orgs_to_seal($1)', [
        this.since,
      ]);
      const tally = { seals: 0, events: 0 };
      let allSealed = true;
      for (const { org_id: orgId } of orgs) {
        try {
          const done = await this.sealOrganization(client, orgId);
          tally.seals += done.seals;
          tally.events += done.events;
          if (!done.complete) allSealed = false;
        } catch (error) {
          allSealed = false;
          logger.error({ err: error, orgId }, 'audit.seal_failed');
          await client.query('rollback').catch(() => {});
        }
      }
      // Every organization's events below the round's starting horizon are sealed now.
      if (allSealed) this.since = horizon;
      return tally;
    } finally {
      // Pooled clients are reused: leave no listener behind (a destroyed one keeps a quiet one).
      client.removeListener('error', onError);
      if (broken) client.on('error', () => {});
      client.release(broken);
    }
  }

  private async sealOrganization(
    client: pg.PoolClient,
    orgId: string,
  ): Promise<{ seals: number; events: number; complete: boolean }> {
    const { key, logger } = this.options;
    const binding: DatabaseBinding = {
      userId: null,
      orgId,
      access: 'staff',
      tenantId: null,
      principal: null,
      permissions: ['audit_log.read'],
    };
    const q: Query = (text, values) => client.query(text, values);
    // One snapshot for the horizon and the events (taken by the binding statement, the first).
    await client.query(`begin isolation level repeatable read; ${bindingSql(binding)}`);
    try {
      const locked = await q('select pg_try_advisory_xact_lock($1, hashtext($2)) as ok', [SEALER_LOCK, orgId]);
      if (!locked.rows[0]!.ok) {
        await client.query('rollback'); // another replica seals this organization right now
        return { seals: 0, events: 0, complete: false };
      }
      const { rows } = await q('select pg_snapshot_xmin(pg_current_snapshot())::text as horizon');
      const horizon = BigInt(rows[0]!.horizon as string);
      const { tip, problem, recorded, unsignedUptoSeq } = await chainTip(q, key, orgId);
      if (!tip) {
        // Never chain onto a forgery, and never restart a chain whose seals vanished: leave the
        // events unsealed, so verification shows them (and the log says why, once per round).
        logger.error({ orgId, recorded: recorded?.seal_no ?? null, problem }, 'audit.seal_chain_broken');
        await client.query('rollback');
        return { seals: 0, events: 0, complete: false };
      }
      let prev = tip;
      let seals = 0;
      let events = 0;
      while (BigInt(prev.xactTo) < horizon) {
        const batch = await nextBatch(q, orgId, { xact: prev.xactTo, seq: prev.toSeq }, horizon);
        if (!batch) {
          break; // nothing new below the horizon
        }
        // An event without a valid MAC was not written by the gateway: it is never sealed (it
        // stays in the seal's range, where verification names it EVENT_FORGED).
        const authentic = batch.events.filter((event) => {
          if (eventAuthentic(key, event, unsignedUptoSeq)) return true;
          logger.error({ orgId, eventId: event.id, seq: event.seq }, 'audit.event_forged');
          return false;
        });
        if (authentic.length === 0) break; // only forgeries so far: seal them with genuine ones later
        const entries: ManifestEntry[] = [];
        let chain = prev.head;
        for (const event of authentic) {
          chain = chainNext(key, chain, event);
          entries.push({ seq: BigInt(event.seq!), id: event.id!, chain });
        }
        const manifest = encodeManifest(entries);
        const fields = {
          orgId,
          sealNo: prev.sealNo + 1,
          xactFrom: prev.xactTo,
          xactTo: batch.end.xact,
          fromSeq: prev.toSeq,
          toSeq: batch.end.seq,
          eventCount: authentic.length,
          firstSeq: minSeq(authentic),
          lastSeq: maxSeq(authentic),
          firstAt: minText(authentic.map((e) => e.occurred_at!)),
          lastAt: maxText(authentic.map((e) => e.occurred_at!)),
          prevHead: prev.head,
          head: chain,
          manifest,
          keyId: key.id,
          sealedAt: isoMillis(new Date()),
        };
        await q(
          `insert into audit_seals (org_id, seal_no, xact_from, xact_to, event_count, first_seq, last_seq, first_at, last_at,
             prev_head, head, manifest, key_id, sealed_at, mac, from_seq, to_seq)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, nullif($16::bigint, 0), nullif($17::bigint, 0))`,
          [
            orgId,
            fields.sealNo,
            fields.xactFrom,
            fields.xactTo,
            fields.eventCount,
            fields.firstSeq,
            fields.lastSeq,
            fields.firstAt,
            fields.lastAt,
            fields.prevHead,
            fields.head,
            manifest,
            fields.keyId,
            fields.sealedAt,
            sealMac(key, fields),
            fields.fromSeq,
            fields.toSeq,
          ],
        );
        seals++;
        events += authentic.length;
        this.options.onSeal?.(authentic.length);
        // The outside record (log shipping): with it, even deleting the newest seals together
        // with their events and tips shows (audit:verify --expect-head).
        logger.info(
          { orgId, sealNo: fields.sealNo, events: fields.eventCount, lastSeq: fields.lastSeq, head: chain.toString('hex') },
          'audit.sealed',
        );
        prev = { sealNo: fields.sealNo, xactTo: fields.xactTo, toSeq: fields.toSeq, head: chain };
        if (!batch.full) break;
      }
      if (seals > 0 || !recorded) {
        const tipFields: TipFields = {
          orgId,
          sealNo: prev.sealNo,
          xactTo: prev.xactTo,
          toSeq: prev.toSeq,
          head: prev.head,
          unsignedUptoSeq: unsignedUptoSeq.toString(),
          keyId: key.id,
          writtenAt: isoMillis(new Date()),
        };
        await q(
          `insert into audit_seal_tips (org_id, seal_no, xact_to, head, unsigned_upto_seq, key_id, written_at, mac, to_seq)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`,
          [
            orgId,
            tipFields.sealNo,
            tipFields.xactTo,
            tipFields.head,
            tipFields.unsignedUptoSeq,
            tipFields.keyId,
            tipFields.writtenAt,
            tipMac(key, tipFields),
            tipFields.toSeq,
          ],
        );
      }
      await client.query('commit');
      return { seals, events, complete: true };
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    }
  }
}

/**
 * The next events to seal from position `from` (xact, seq; seq 0 = the transaction's start), below
 * `horizon`, in (xact, seq) order: at most SEAL_MAX_EVENTS. A seal may end inside a transaction
 * (the end position is then that of the first event left out): every transaction below the horizon
 * has ended, so no event can appear inside a sealed range, and no transaction is read whole.
 */
async function nextBatch(
  q: Query,
  orgId: string,
  from: { xact: string; seq: string },
  horizon: bigint,
): Promise<{ events: CanonicalEvent[]; end: { xact: string; seq: string }; full: boolean } | null> {
  const { rows } = await q(
    `select ${CANONICAL_SELECT} from audit_events e
     where e.org_id = $1 and (e.xact, e.seq) >= ($2::bigint, $3::bigint) and e.xact < $4 order by e.xact, e.seq limit $5`,
    [orgId, from.xact, from.seq, horizon.toString(), SEAL_MAX_EVENTS + 1],
  );
  const events = rows as CanonicalEvent[];
  if (events.length === 0) return null;
  if (events.length <= SEAL_MAX_EVENTS) return { events, end: { xact: horizon.toString(), seq: '0' }, full: false };
  const next = events[SEAL_MAX_EVENTS]!;
  return { events: events.slice(0, SEAL_MAX_EVENTS), end: { xact: next.xact!, seq: next.seq! }, full: true };
}

const minSeq = (events: CanonicalEvent[]) =>
  events
    .map((e) => BigInt(e.seq!))
    .reduce((a, b) => (b < a ? b : a))
    .toString();
const maxSeq = (events: CanonicalEvent[]) =>
  events
    .map((e) => BigInt(e.seq!))
    .reduce((a, b) => (b > a ? b : a))
    .toString();
// Canonical UTC texts of equal shape compare as their times do.
const minText = (values: string[]) => values.reduce((a, b) => (b < a ? b : a));
const maxText = (values: string[]) => values.reduce((a, b) => (b > a ? b : a));

/** Runs a round every `intervalMs` (never two at once); returns a stop function. */
export function scheduleAuditSealing(sealer: AuditSealer, logger: Logger, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = sealer
      .round()
      .catch((error) => logger.error({ err: error }, 'audit sealing round failed'))
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
