/**
 * Verifying an organization's audit trail against its seals (src/audit/seal.ts): used by
 * `npm run audit:verify` (as the owner, every organization) and by the `auditLogVerification`
 * query (the caller's organization, under its RLS, with audit_log.read).
 *
 * What is checked, and what each tampering looks like:
 *  - the chain of seals: numbers without gaps from the latest valid purge checkpoint on, each
 *    linked to the previous one (transaction range and chain head) and carrying a valid MAC —
 *    deleted seals are SEAL_MISSING, edited or forged ones SEAL_FORGED / SEAL_CHAIN_BROKEN;
 *  - each seal's events (those overlapping the range asked for), recomputed in (xact, seq) order
 *    against the manifest: an edited or reordered event (any column, seq and time included) is
 *    EVENT_CHANGED, a missing one EVENT_DELETED, an extra one EVENT_INSERTED — also when whoever
 *    did it recomputed every plain hash, since chain values and MACs need the key;
 *  - events inside a purged range (below the checkpoint) are EVENT_INSERTED.
 * Events newer than the last seal are reported as not yet sealed: deleting those (or the newest
 * seals together with their events) cannot be told from the database alone — the sealer's
 * `audit.sealed` log lines (seal number and head per organization) are the outside record.
 */
import {
  CANONICAL_SELECT,
  CHECKPOINT_SELECT,
  GENESIS,
  SEAL_SELECT,
  UTC_MICROS,
  chainNext,
  checkpointFieldsOf,
  checkpointMac,
  decodeManifest,
  sameBytes,
  sealFieldsOf,
  sealMac,
  type CanonicalEvent,
  type CheckpointRow,
  type SealingKey,
  type SealRow,
  eventAuthentic,
  latestTip,
} from './seal.js';

export type TamperProblem =
  | 'EVENT_CHANGED'
  | 'EVENT_DELETED'
  | 'EVENT_INSERTED'
  | 'SEAL_FORGED'
  | 'SEAL_MISSING'
  | 'SEAL_CHAIN_BROKEN'
  | 'CHECKPOINT_FORGED'
  | 'EVENT_FORGED'
  | 'CHAIN_TRUNCATED'
  | 'SEALING_STALLED';

export interface TamperFinding {
  problem: TamperProblem;
  sealNo: number | null;
  eventId: string | null;
  seq: string | null;
  /** Canonical UTC text (microseconds). */
  occurredAt: string | null;
  message: string;
  /** What this finding puts in doubt. */
  range: AffectedRange;
}

export interface AffectedRange {
  fromSeq: string | null;
  toSeq: string | null;
  from: string | null;
  to: string | null;
}

export interface VerificationReport {
  orgId: string;
  intact: boolean;
  checkedSeals: number;
  checkedEvents: number;
  unsealedEvents: number;
  oldestUnsealedAt: string | null;
  lastSealedAt: string | null;
  /** The latest valid purge checkpoint verification started from. */
  checkpoint: { sealNo: number; purgedBefore: string } | null;
  firstBroken: TamperFinding | null;
  affected: AffectedRange | null;
  findings: TamperFinding[];
  findingCount: number;
}

export type Query = (text: string, values?: unknown[]) => Promise<{ rows: any[] }>;

const MAX_FINDINGS = 100;
const SEAL_PAGE = 50;
const EVENT_PAGE = 5_000;

/** Unsealed events older than this are SEALING_STALLED: max(60 s, 10 × AUDIT_SEAL_INTERVAL). */
export function staleAfterMs(sealIntervalMs: number): number {
  return Math.max(60_000, 10 * sealIntervalMs);
}

/** A Date as the canonical UTC text events and seals are compared in. */
export function canonicalTime(date: Date): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

export async function verifyOrganization(
  q: Query,
  key: SealingKey,
  orgId: string,
  range: { from?: Date | null; to?: Date | null } = {},
  options: { staleAfterMs?: number; now?: Date; expectHead?: { sealNo: number; head: string } } = {},
): Promise<VerificationReport> {
  const from = range.from ? canonicalTime(range.from) : null;
  const to = range.to ? canonicalTime(range.to) : null;
  const findings: TamperFinding[] = [];
  let findingCount = 0;
  const found = (f: TamperFinding) => {
    findingCount++;
    if (findings.length < MAX_FINDINGS) findings.push(f);
  };
  const report: VerificationReport = {
    orgId,
    intact: true,
    checkedSeals: 0,
    checkedEvents: 0,
    unsealedEvents: 0,
    oldestUnsealedAt: null,
    lastSealedAt: null,
    checkpoint: null,
    firstBroken: null,
    affected: null,
    findings,
    findingCount: 0,
  };

  // 0. How far the chain went (migration 019): the newest chain tip with a valid MAC. Events
  //    above its unsigned_upto_seq must carry a valid per-event MAC.
  const { tip, forged: forgedTips } = await latestTip(q, key, orgId);
  for (const t of forgedTips) {
    found({
      problem: 'SEAL_FORGED',
      sealNo: t.seal_no,
      eventId: null,
      seq: null,
      occurredAt: null,
      message: `chain tip at seal ${t.seal_no} fails its MAC`,
      range: { fromSeq: null, toSeq: null, from: null, to: null },
    });
  }
  const unsignedUptoSeq = tip
    ? BigInt(tip.unsigned_upto_seq)
    : BigInt((await q('select app_private.audit_event_mac_boundary()::text as b')).rows[0]!.b as string);
  const authentic = (e: CanonicalEvent) => eventAuthentic(key, e, unsignedUptoSeq);
  const forgedEvent = (e: CanonicalEvent, sealNo: number | null, where: string) =>
    found({
      problem: 'EVENT_FORGED',
      sealNo,
      eventId: e.id,
      seq: e.seq,
      occurredAt: e.occurred_at,
      message: `event ${e.id} (seq ${e.seq}) ${where} has no valid MAC: it was not written (or not left) as the gateway wrote it`,
      range: { fromSeq: e.seq, toSeq: e.seq, from: e.occurred_at, to: e.occurred_at },
    });

  // 1. Where the chain starts: the latest purge checkpoint with a valid MAC, else the beginning.
  let prev: { sealNo: number; xactTo: string; toSeq: string; head: Buffer; lastSeq: string | null; lastAt: string | null } = {
    sealNo: 0,
    xactTo: '0',
    toSeq: '0',
    head: GENESIS,
    lastSeq: null,
    lastAt: null,
  };
  const checkpoints = (
    await q(`select ${CHECKPOINT_SELECT} from audit_checkpoints c where c.org_id = $1 order by c.seal_no desc`, [orgId])
  ).rows as CheckpointRow[];
  for (const c of checkpoints) {
    if (sameBytes(checkpointMac(key, checkpointFieldsOf(c)), c.mac)) {
      prev = { sealNo: c.seal_no, xactTo: c.xact_to, toSeq: c.to_seq, head: c.head, lastSeq: c.last_seq, lastAt: null };
      report.checkpoint = { sealNo: c.seal_no, purgedBefore: c.purged_before };
      break;
    }
    found({
      problem: 'CHECKPOINT_FORGED',
      sealNo: c.seal_no,
      eventId: null,
      seq: null,
      occurredAt: null,
      message: `purge checkpoint at seal ${c.seal_no} fails its MAC`,
      range: { fromSeq: null, toSeq: c.last_seq, from: null, to: c.purged_before },
    });
  }

  // 2. Nothing may remain (or appear) below where the chain starts: a purged range, or (no
  //    checkpoint) a transaction id below the first seal's (a forged xact of 0 or less).
  {
    const { rows } = await q(
      `select ${CANONICAL_SELECT}, count(*) over () as n from audit_events e
       where e.org_id = $1 and (e.xact, e.seq) < ($2::bigint, $3::bigint) order by e.xact, e.seq limit 1`,
      [orgId, prev.xactTo, prev.toSeq],
    );
    const e = rows[0] as (CanonicalEvent & { n: string }) | undefined;
    if (e) {
      found({
        problem: 'EVENT_INSERTED',
        sealNo: null,
        eventId: e.id,
        seq: e.seq,
        occurredAt: e.occurred_at,
        message:
          prev.sealNo > 0
            ? `${e.n} event(s) lie in the range purged up to seal ${prev.sealNo}, where none should be`
            : `${e.n} event(s) lie below the first seal's transaction range, where none can be`,
        range: { fromSeq: e.seq, toSeq: prev.lastSeq, from: e.occurred_at, to: null },
      });
    }
  }

  // 3a. In a range verification, also the seals holding an event whose *current* time is in the
  //     range (review S9: an event moved into the range from another seal is checked too).
  const holding = new Set<number>();
  if (from || to) {
    const { rows } = await q(
      `select distinct s.seal_no::int as seal_no from audit_events e
       join audit_seals s on s.org_id = e.org_id
         and (e.xact, e.seq) >= (s.xact_from, coalesce(s.from_seq, 0)) and (e.xact, e.seq) < (s.xact_to, coalesce(s.to_seq, 0))
       where e.org_id = $1 and ($2::timestamptz is null or e.occurred_at >= $2) and ($3::timestamptz is null or e.occurred_at < $3)`,
      [orgId, range.from ?? null, range.to ?? null],
    );
    for (const r of rows as { seal_no: number }[]) holding.add(r.seal_no);
  }

  // 3. The seals, in order, page by page.
  for (;;) {
    const page = (
      await q(
        `select ${SEAL_SELECT}, s.manifest from audit_seals s where s.org_id = $1 and s.seal_no > $2 order by s.seal_no limit $3`,
        [orgId, prev.sealNo, SEAL_PAGE],
      )
    ).rows as SealRow[];
    for (const s of page) {
      report.checkedSeals++;
      const sealRange: AffectedRange = { fromSeq: s.first_seq, toSeq: s.last_seq, from: s.first_at, to: s.last_at };
      const sealFinding = (problem: TamperProblem, message: string, r: AffectedRange = sealRange) =>
        found({ problem, sealNo: s.seal_no, eventId: null, seq: null, occurredAt: null, message, range: r });
      if (s.seal_no !== prev.sealNo + 1) {
        sealFinding(
          'SEAL_MISSING',
          `seal(s) ${prev.sealNo + 1}–${s.seal_no - 1} are missing: the events between were not checked`,
          { fromSeq: prev.lastSeq, toSeq: s.first_seq, from: prev.lastAt, to: s.first_at },
        );
      } else if (s.xact_from !== prev.xactTo || s.from_seq !== prev.toSeq || !sameBytes(s.prev_head, prev.head)) {
        sealFinding('SEAL_CHAIN_BROKEN', `seal ${s.seal_no} does not continue seal ${prev.sealNo}`);
      }
      const macValid = sameBytes(sealMac(key, sealFieldsOf(s, s.manifest!)), s.mac);
      if (!macValid) sealFinding('SEAL_FORGED', `seal ${s.seal_no} fails its MAC (changed, forged, or made with another key)`);
      const inRange = ((!from || s.last_at >= from) && (!to || s.first_at < to)) || holding.has(s.seal_no);
      if (inRange) await checkSealEvents(q, key, orgId, s, found, report, authentic);
      prev = { sealNo: s.seal_no, xactTo: s.xact_to, toSeq: s.to_seq, head: s.head, lastSeq: s.last_seq, lastAt: s.last_at };
      report.lastSealedAt = s.sealed_at;
    }
    if (page.length < SEAL_PAGE) break;
  }

  // 4. The chain must reach the newest recorded tip: seals deleted from the end are missing.
  if (tip && prev.sealNo < tip.seal_no) {
    found({
      problem: 'CHAIN_TRUNCATED',
      sealNo: tip.seal_no,
      eventId: null,
      seq: null,
      occurredAt: null,
      message: `the chain ends at seal ${prev.sealNo}, but it reached seal ${tip.seal_no}: the newest seals were deleted`,
      range: { fromSeq: prev.lastSeq, toSeq: null, from: prev.lastAt, to: null },
    });
  }

  // 4b. An outside record (the `audit.sealed` log line shipped elsewhere): the chain must still
  //     hold that seal with that head, unless a purge checkpoint already covers it.
  const expected = options.expectHead;
  if (expected && !(report.checkpoint && expected.sealNo <= report.checkpoint.sealNo)) {
    const { rows } = await q("select encode(head, 'hex') as head from audit_seals where org_id = $1 and seal_no = $2", [
      orgId,
      expected.sealNo,
    ]);
    const head = (rows[0] as { head: string } | undefined)?.head;
    if (head !== expected.head.toLowerCase()) {
      found({
        problem: head === undefined ? 'CHAIN_TRUNCATED' : 'SEAL_FORGED',
        sealNo: expected.sealNo,
        eventId: null,
        seq: null,
        occurredAt: null,
        message:
          head === undefined
            ? `seal ${expected.sealNo}, recorded outside the database, is gone: the trail was cut back`
            : `seal ${expected.sealNo} does not have the head recorded outside the database`,
        range: { fromSeq: null, toSeq: null, from: null, to: null },
      });
    }
  }

  // 5. What the sealer has not reached yet: counted, each event's MAC checked (page by page).
  let position: { xact: string; seq: string } = { xact: prev.xactTo, seq: prev.toSeq };
  let oldest: string | null = null;
  for (;;) {
    const { rows } = await q(
      `select ${CANONICAL_SELECT} from audit_events e
       where e.org_id = $1 and (e.xact, e.seq) >= ($2::bigint, $3::bigint) order by e.xact, e.seq limit $4`,
      [orgId, position.xact, position.seq, EVENT_PAGE],
    );
    for (const e of rows as CanonicalEvent[]) {
      report.unsealedEvents++;
      if (oldest === null || e.occurred_at! < oldest) oldest = e.occurred_at;
      if (!authentic(e)) forgedEvent(e, null, 'not yet sealed');
    }
    if (rows.length < EVENT_PAGE) break;
    const last = rows[rows.length - 1] as CanonicalEvent;
    position = { xact: last.xact!, seq: (BigInt(last.seq!) + 1n).toString() };
  }
  report.oldestUnsealedAt = oldest;

  // 6. The sealer seals within seconds: an event left unsealed for long means sealing stalled (a
  //    long transaction, a refused chain) or seals were deleted. Either way the tail is unprotected.
  const staleAfterMs = options.staleAfterMs ?? 60_000;
  const now = options.now ?? new Date();
  if (oldest !== null && oldest < canonicalTime(new Date(now.getTime() - staleAfterMs))) {
    found({
      problem: 'SEALING_STALLED',
      sealNo: null,
      eventId: null,
      seq: null,
      occurredAt: oldest,
      message: `${report.unsealedEvents} event(s) are not sealed, the oldest since ${oldest} (more than ${Math.round(staleAfterMs / 1000)} s): sealing stalled or seals were deleted`,
      range: { fromSeq: prev.lastSeq, toSeq: null, from: oldest, to: null },
    });
  }

  report.findingCount = findingCount;
  report.intact = findingCount === 0;
  report.firstBroken = findings[0] ?? null;
  report.affected = findings.length ? spanOf(findings.map((f) => f.range)) : null;
  return report;
}

async function checkSealEvents(
  q: Query,
  key: SealingKey,
  orgId: string,
  s: SealRow,
  found: (f: TamperFinding) => void,
  report: VerificationReport,
  authentic: (e: CanonicalEvent) => boolean,
): Promise<void> {
  const events = (
    await q(
      `select ${CANONICAL_SELECT} from audit_events e
       where e.org_id = $1 and (e.xact, e.seq) >= ($2::bigint, $3::bigint) and (e.xact, e.seq) < ($4::bigint, $5::bigint)
       order by e.xact, e.seq`,
      [orgId, s.xact_from, s.from_seq, s.xact_to, s.to_seq],
    )
  ).rows as CanonicalEvent[];
  const entries = decodeManifest(s.manifest!) ?? [];
  // Match by (seq, id) first, then by seq: every row consumes at most one manifest entry, so a
  // second row reusing a sealed seq is reported as inserted (seq has no unique constraint).
  const byKey = new Map(events.map((e) => [`${e.seq}/${e.id}`, e]));
  const bySeq = new Map<string, CanonicalEvent[]>();
  for (const e of events) bySeq.set(e.seq!, [...(bySeq.get(e.seq!) ?? []), e]);
  const consumed = new Set<CanonicalEvent>();
  const local: TamperFinding[] = [];
  const eventFinding = (problem: TamperProblem, e: { id: string; seq: string; at: string | null }, message: string) =>
    local.push({
      problem,
      sealNo: s.seal_no,
      eventId: e.id,
      seq: e.seq,
      occurredAt: e.at,
      message,
      range: { fromSeq: e.seq, toSeq: s.last_seq, from: e.at ?? s.first_at, to: s.last_at },
    });
  let chain: Buffer = s.prev_head;
  for (const entry of entries) {
    const seq = entry.seq.toString();
    const exact = byKey.get(`${seq}/${entry.id}`);
    const event = exact && !consumed.has(exact) ? exact : bySeq.get(seq)?.find((e) => !consumed.has(e));
    if (event) consumed.add(event);
    if (!event) {
      eventFinding('EVENT_DELETED', { id: entry.id, seq, at: null }, `event ${entry.id} (seq ${seq}) was sealed and is gone`);
      chain = entry.chain;
      continue;
    }
    report.checkedEvents++;
    const next = chainNext(key, chain, event);
    if (!sameBytes(next, entry.chain)) {
      eventFinding(
        'EVENT_CHANGED',
        { id: event.id!, seq, at: event.occurred_at },
        event.id !== entry.id
          ? `seq ${seq} was sealed as event ${entry.id}, now holds event ${event.id} (reordered or replaced)`
          : `event ${event.id} (seq ${seq}) differs from what was sealed (edited, moved, or an event sealed before it was removed)`,
      );
      chain = entry.chain; // resynchronize: find the next break, not every event after this one
    } else {
      chain = next;
      if (!authentic(event)) {
        eventFinding(
          'EVENT_FORGED',
          { id: event.id!, seq, at: event.occurred_at },
          `event ${event.id} (seq ${seq}) is sealed but has no valid MAC`,
        );
      }
    }
  }
  for (const event of events) {
    if (!consumed.has(event)) {
      const forged = !authentic(event);
      eventFinding(
        forged ? 'EVENT_FORGED' : 'EVENT_INSERTED',
        { id: event.id!, seq: event.seq!, at: event.occurred_at },
        forged
          ? `event ${event.id} (seq ${event.seq}) has no valid MAC and is not in seal ${s.seal_no}, whose range holds it`
          : `event ${event.id} (seq ${event.seq}) is not in seal ${s.seal_no}, whose range holds it`,
      );
    }
  }
  local.sort((a, b) => (BigInt(a.seq!) < BigInt(b.seq!) ? -1 : BigInt(a.seq!) > BigInt(b.seq!) ? 1 : 0));
  for (const f of local) found(f);
}

function spanOf(ranges: AffectedRange[]): AffectedRange {
  const pick = (values: (string | null)[], cmp: (a: string, b: string) => boolean) =>
    values
      .filter((v): v is string => v !== null)
      .reduce<string | null>((acc, v) => (acc === null || cmp(v, acc) ? v : acc), null);
  const lt = (a: string, b: string) => BigInt(a) < BigInt(b);
  return {
    fromSeq: pick(
      ranges.map((r) => r.fromSeq),
      lt,
    ),
    toSeq: pick(
      ranges.map((r) => r.toSeq),
      (a, b) => BigInt(a) > BigInt(b),
    ),
    from: pick(
      ranges.map((r) => r.from),
      (a, b) => a < b,
    ),
    to: pick(
      ranges.map((r) => r.to),
      (a, b) => a > b,
    ),
  };
}

/** Every organization with events, seals or checkpoints (the owner sees them all). */
export async function organizationsToVerify(q: Query): Promise<string[]> {
  const { rows } = await q(
    `select org_id::text as org_id from (
       select distinct org_id from app_public.audit_events
       union select org_id from app_public.audit_seals
       union select org_id from app_public.audit_checkpoints) o order by 1`,
  );
  return rows.map((r: { org_id: string }) => r.org_id);
}
