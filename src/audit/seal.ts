/**
 * Tamper evidence for the audit trail (migration 015, README "Tamper evidence").
 *
 * Each organization's events form one chain, in (xact, seq) order: for every event,
 * chain = HMAC(key, previous chain || SHA-256(canonical encoding of ALL its columns)), truncated
 * to 16 bytes. Seals store the chain values of the events they cover (the manifest) and a MAC
 * over everything else, made with a key derived from AUDIT_SIGNING_KEY, which the database never
 * sees. Whoever edits, deletes, inserts or reorders events — and recomputes every plain hash —
 * still cannot produce a chain value or a MAC: verification names the first event that no longer
 * matches.
 *
 * The request path does nothing here: events get a sequence value and their transaction id from
 * the database; the sealer (src/audit/sealer.ts) runs in the background.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** A key anyone can read: development and tests only (production refuses to start without one). */
export const DEVELOPMENT_SIGNING_KEY = 'development-only-audit-signing-key-not-secret';

export interface SealingKey {
  /** Identifies the key in seals (a digest of it, never the key). */
  id: string;
  development: boolean;
  mac(data: Buffer | string): Buffer;
}

const keys = new Map<string, SealingKey>();

export function sealingKey(secret: string | undefined): SealingKey {
  const known = keys.get(secret ?? '');
  if (known) return known;
  const made = deriveKey(secret);
  keys.set(secret ?? '', made);
  return made;
}

function deriveKey(secret: string | undefined): SealingKey {
  const development = !secret;
  // Derived, so the same secret used elsewhere never produces these MACs.
  const key = createHmac('sha256', secret ?? DEVELOPMENT_SIGNING_KEY)
    .update('audit-seal-key/v1')
    .digest();
  return {
    id: createHash('sha256').update(key).digest('hex').slice(0, 16),
    development,
    mac: (data) => createHmac('sha256', key).update(data).digest(),
  };
}

export const CHAIN_BYTES = 16;
export const ENTRY_BYTES = 8 + 16 + CHAIN_BYTES;
export const GENESIS = Buffer.alloc(CHAIN_BYTES);

/**
 * Every column of app_public.audit_events, as text, in a fixed order (test/audit/seal.test.ts
 * fails when the table has a column this list lacks). Times in UTC with microseconds.
 */
export const CANONICAL_COLUMNS = [
  'org_id',
  'id',
  'seq',
  'xact',
  'occurred_at',
  'actor_type',
  'actor_user_id',
  'actor_principal_id',
  'actor_name',
  'action',
  'resource_type',
  'resource_id',
  'outcome',
  'customer_id',
  'request_id',
  'client_ip',
  'user_agent',
  'details',
  'event_mac',
] as const;

export const UTC_MICROS = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The select list that reads an event's canonical values (alias `e`). */
export const CANONICAL_SELECT = CANONICAL_COLUMNS.map((c) =>
  c === 'occurred_at'
    ? `${UTC_MICROS('e.occurred_at')} as occurred_at`
    : c === 'event_mac'
      ? `encode(e.event_mac, 'hex') as event_mac`
      : `e.${c}::text as ${c}`,
).join(', ');

export type CanonicalEvent = Record<(typeof CANONICAL_COLUMNS)[number], string | null>;

export function leafOf(event: CanonicalEvent): Buffer {
  // Events without a per-event MAC (written before migration 019) keep the v1 encoding, so seals
  // made before it still verify; events with one chain their MAC too.
  const encoded = event.event_mac
    ? JSON.stringify(['audit-event/v2', ...CANONICAL_COLUMNS.map((c) => event[c] ?? null)])
    : JSON.stringify(['audit-event/v1', ...CANONICAL_COLUMNS.filter((c) => c !== 'event_mac').map((c) => event[c] ?? null)]);
  return createHash('sha256').update(encoded).digest();
}

/**
 * The per-event MAC (migration 019): written by the gateway in the INSERT itself, over every
 * column the gateway sets (all but seq and xact, which the database assigns and the seal chain
 * covers). Verification reads the row back and must get the same bytes, so each value is
 * canonicalized the way it comes back: uuids lower case, the time as UTC text with microseconds
 * (the gateway names it so, see audit-log.ts), the address as its bytes (inet prints `/32` and
 * normalizes IPv6), details as JSON with sorted keys (jsonb reorders keys and drops whitespace),
 * text as its UTF-8 round trip (what PostgreSQL stores).
 */
export const EVENT_MAC_COLUMNS = [
  'org_id',
  'id',
  'occurred_at',
  'actor_type',
  'actor_user_id',
  'actor_principal_id',
  'actor_name',
  'action',
  'resource_type',
  'resource_id',
  'outcome',
  'customer_id',
  'request_id',
  'client_ip',
  'user_agent',
  'details',
] as const;

export type EventMacInput = Record<(typeof EVENT_MAC_COLUMNS)[number], string | null>;
export const EVENT_MAC_BYTES = 16;
const UUID_COLUMNS = new Set(['org_id', 'id', 'actor_user_id', 'actor_principal_id', 'customer_id']);

export function eventMac(key: SealingKey, event: EventMacInput): Buffer {
  const values = EVENT_MAC_COLUMNS.map((c) => {
    const v = event[c];
    if (v === null || v === undefined) return null;
    if (UUID_COLUMNS.has(c)) return v.toLowerCase();
    if (c === 'client_ip') return canonicalIp(v);
    if (c === 'details') return canonicalJson(JSON.parse(v));
    return Buffer.from(v, 'utf8').toString('utf8');
  });
  return key.mac(JSON.stringify(['audit-event-mac/v1', ...values])).subarray(0, EVENT_MAC_BYTES);
}

/** True when the event carries a valid MAC; false when it has a wrong one or none. */
export function eventMacValid(key: SealingKey, event: CanonicalEvent): boolean {
  if (!event.event_mac) return false;
  let expected: Buffer;
  try {
    expected = eventMac(key, event);
  } catch {
    return false; // details that are not JSON: not what the gateway wrote
  }
  return sameBytes(expected, Buffer.from(event.event_mac, 'hex'));
}

/** JSON with object keys sorted, recursively (what jsonb gives back, re-read, encodes the same). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An address as the hex of its bytes (v4: 4, v6: 16), whatever its spelling; a host mask dropped. */
export function canonicalIp(text: string): string {
  const bare = text.replace(/\/(32|128)$/, '');
  if (isIPv4(bare)) return `4:${Buffer.from(bare.split('.').map(Number)).toString('hex')}`;
  if (!isIPv6(bare)) return bare;
  let body = bare.toLowerCase();
  const v4 = body.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    body = body.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = body.includes('::') ? body.split('::') : [body, undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `6:${groups.map((g) => g.padStart(4, '0')).join('')}`;
}

export function chainNext(key: SealingKey, previous: Buffer, event: CanonicalEvent): Buffer {
  return key.mac(Buffer.concat([previous, leafOf(event)])).subarray(0, CHAIN_BYTES);
}

export interface ManifestEntry {
  seq: bigint;
  id: string;
  chain: Buffer;
}

const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex');
const uuidText = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

export function encodeManifest(entries: ManifestEntry[]): Buffer {
  const out = Buffer.alloc(entries.length * ENTRY_BYTES);
  entries.forEach((e, i) => {
    const at = i * ENTRY_BYTES;
    out.writeBigInt64BE(e.seq, at);
    uuidBytes(e.id).copy(out, at + 8);
    e.chain.copy(out, at + 24);
  });
  return out;
}

/** Null when the manifest is not a whole number of entries (then the seal's MAC fails too). */
export function decodeManifest(manifest: Buffer): ManifestEntry[] | null {
  if (manifest.length % ENTRY_BYTES !== 0) return null;
  const entries: ManifestEntry[] = [];
  for (let at = 0; at < manifest.length; at += ENTRY_BYTES) {
    entries.push({
      seq: manifest.readBigInt64BE(at),
      id: uuidText(manifest.subarray(at + 8, at + 24)),
      chain: Buffer.from(manifest.subarray(at + 24, at + ENTRY_BYTES)),
    });
  }
  return entries;
}

export interface SealFields {
  orgId: string;
  sealNo: number;
  xactFrom: string;
  xactTo: string;
  /** Where inside xact_from / xact_to the seal starts / ends ('0': the transaction's start). */
  fromSeq: string;
  toSeq: string;
  eventCount: number;
  firstSeq: string;
  lastSeq: string;
  /** Canonical UTC text with microseconds. */
  firstAt: string;
  lastAt: string;
  prevHead: Buffer;
  head: Buffer;
  manifest: Buffer;
  keyId: string;
  /** ISO text (milliseconds): what the column stores exactly. */
  sealedAt: string;
}

export function sealMac(key: SealingKey, s: SealFields): Buffer {
  // A seal that cuts inside a transaction (migration 019) also covers where; one that does not
  // keeps the 015 encoding, so older seals still verify.
  const cut = s.fromSeq !== '0' || s.toSeq !== '0' ? ['audit-seal/v2', s.fromSeq, s.toSeq] : ['audit-seal/v1'];
  return key.mac(
    JSON.stringify([
      ...cut,
      s.orgId,
      String(s.sealNo),
      s.xactFrom,
      s.xactTo,
      String(s.eventCount),
      s.firstSeq,
      s.lastSeq,
      s.firstAt,
      s.lastAt,
      s.prevHead.toString('hex'),
      s.head.toString('hex'),
      createHash('sha256').update(s.manifest).digest('hex'),
      s.keyId,
      s.sealedAt,
    ]),
  );
}

export interface CheckpointFields {
  orgId: string;
  sealNo: number;
  xactTo: string;
  toSeq: string;
  head: Buffer;
  lastSeq: string;
  purgedEvents: string;
  purgedBefore: string;
  createdAt: string;
  keyId: string;
}

export function checkpointMac(key: SealingKey, c: CheckpointFields): Buffer {
  return key.mac(
    JSON.stringify([
      ...(c.toSeq !== '0' ? ['audit-checkpoint/v2', c.toSeq] : ['audit-checkpoint/v1']),
      c.orgId,
      String(c.sealNo),
      c.xactTo,
      c.head.toString('hex'),
      c.lastSeq,
      c.purgedEvents,
      c.purgedBefore,
      c.createdAt,
      c.keyId,
    ]),
  );
}

export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Columns of a seal row as read back for verification and chaining (times as canonical text). */
export const SEAL_SELECT = `s.org_id::text as org_id, s.seal_no::int as seal_no, s.xact_from::text as xact_from,
  s.xact_to::text as xact_to, coalesce(s.from_seq, 0)::text as from_seq, coalesce(s.to_seq, 0)::text as to_seq, s.event_count, s.first_seq::text as first_seq, s.last_seq::text as last_seq,
  ${UTC_MICROS('s.first_at')} as first_at, ${UTC_MICROS('s.last_at')} as last_at, s.prev_head, s.head,
  s.key_id, to_char(s.sealed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as sealed_at, s.mac`;

export interface SealRow {
  org_id: string;
  seal_no: number;
  xact_from: string;
  xact_to: string;
  from_seq: string;
  to_seq: string;
  event_count: number;
  first_seq: string;
  last_seq: string;
  first_at: string;
  last_at: string;
  prev_head: Buffer;
  head: Buffer;
  key_id: string;
  sealed_at: string;
  mac: Buffer;
  manifest?: Buffer;
}

export function sealFieldsOf(row: SealRow, manifest: Buffer): SealFields {
  return {
    orgId: row.org_id,
    sealNo: row.seal_no,
    xactFrom: row.xact_from,
    xactTo: row.xact_to,
    fromSeq: row.from_seq,
    toSeq: row.to_seq,
    eventCount: row.event_count,
    firstSeq: row.first_seq,
    lastSeq: row.last_seq,
    firstAt: row.first_at,
    lastAt: row.last_at,
    prevHead: row.prev_head,
    head: row.head,
    manifest,
    keyId: row.key_id,
    sealedAt: row.sealed_at,
  };
}

export const CHECKPOINT_SELECT = `c.org_id::text as org_id, c.seal_no::int as seal_no, c.xact_to::text as xact_to, coalesce(c.to_seq, 0)::text as to_seq, c.head,
  c.last_seq::text as last_seq, c.purged_events::text as purged_events,
  to_char(c.purged_before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as purged_before,
  to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, c.key_id, c.mac`;

export interface CheckpointRow {
  org_id: string;
  seal_no: number;
  xact_to: string;
  to_seq: string;
  head: Buffer;
  last_seq: string;
  purged_events: string;
  purged_before: string;
  created_at: string;
  key_id: string;
  mac: Buffer;
}

export function checkpointFieldsOf(row: CheckpointRow): CheckpointFields {
  return {
    orgId: row.org_id,
    sealNo: row.seal_no,
    xactTo: row.xact_to,
    toSeq: row.to_seq,
    head: row.head,
    lastSeq: row.last_seq,
    purgedEvents: row.purged_events,
    purgedBefore: row.purged_before,
    createdAt: row.created_at,
    keyId: row.key_id,
  };
}

/** ISO text with milliseconds, as timestamptz stores and to_char(…MS) gives back. */
export function isoMillis(date: Date): string {
  return date.toISOString();
}

/**
 * A chain tip (migration 019): "this organization's chain reached seal `sealNo`", filed with
 * every sealing transaction. Sealers on every replica start from the newest valid one, never
 * from memory, and verification reports seals missing above it (CHAIN_TRUNCATED).
 */
export interface TipFields {
  orgId: string;
  sealNo: number;
  xactTo: string;
  toSeq: string;
  head: Buffer;
  unsignedUptoSeq: string;
  keyId: string;
  writtenAt: string;
}

export function tipMac(key: SealingKey, t: TipFields): Buffer {
  return key.mac(
    JSON.stringify([
      'audit-tip/v1',
      t.orgId,
      String(t.sealNo),
      t.xactTo,
      t.toSeq,
      t.head.toString('hex'),
      t.unsignedUptoSeq,
      t.keyId,
      t.writtenAt,
    ]),
  );
}

export const TIP_SELECT = `t.org_id::text as org_id, t.seal_no::int as seal_no, t.xact_to::text as xact_to, t.to_seq::text as to_seq, t.head,
  t.unsigned_upto_seq::text as unsigned_upto_seq, t.key_id,
  to_char(t.written_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as written_at, t.mac`;

export interface TipRow {
  org_id: string;
  seal_no: number;
  xact_to: string;
  to_seq: string;
  head: Buffer;
  unsigned_upto_seq: string;
  key_id: string;
  written_at: string;
  mac: Buffer;
}

export function tipFieldsOf(row: TipRow): TipFields {
  return {
    orgId: row.org_id,
    sealNo: row.seal_no,
    xactTo: row.xact_to,
    toSeq: row.to_seq,
    head: row.head,
    unsignedUptoSeq: row.unsigned_upto_seq,
    keyId: row.key_id,
    writtenAt: row.written_at,
  };
}

/** The newest tip with a valid MAC (and how many newer ones failed theirs). */
export async function latestTip(
  q: (text: string, values?: unknown[]) => Promise<{ rows: any[] }>,
  key: SealingKey,
  orgId: string,
): Promise<{ tip: TipRow | null; forged: TipRow[] }> {
  const { rows } = await q(`select ${TIP_SELECT} from audit_seal_tips t where t.org_id = $1 order by t.seal_no desc limit 20`, [
    orgId,
  ]);
  const forged: TipRow[] = [];
  for (const row of rows as TipRow[]) {
    if (sameBytes(tipMac(key, tipFieldsOf(row)), row.mac)) return { tip: row, forged };
    forged.push(row);
  }
  return { tip: null, forged };
}

/** Whether an event may stand: a valid MAC, or none at all when written before migration 019. */
export function eventAuthentic(key: SealingKey, event: CanonicalEvent, unsignedUptoSeq: bigint): boolean {
  if (!event.event_mac) return BigInt(event.seq!) <= unsignedUptoSeq;
  return eventMacValid(key, event);
}
