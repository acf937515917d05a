/**
 * Settings → Audit Log → Verify: the trail checked against its seals (src/audit/verify.ts) with
 * the gateway's AUDIT_SIGNING_KEY, inside the caller's RLS (its organization only).
 */
import { sealingKey } from '../audit/seal.js';
import {
  staleAfterMs,
  verifyOrganization,
  type AffectedRange,
  type TamperFinding,
  type VerificationReport,
} from '../audit/verify.js';
import { badUserInput } from '../errors.js';
import { builder } from './builder.js';

const TamperProblemEnum = builder.enumType('AuditTamperProblem', {
  values: {
    EVENT_CHANGED: {
      description: 'The event differs from what was sealed (edited, reordered, or one sealed before it was removed).',
    },
    EVENT_DELETED: { description: 'A sealed event is gone.' },
    EVENT_INSERTED: { description: 'An event that was never sealed sits inside a sealed (or purged) range.' },
    SEAL_FORGED: { description: 'A seal fails its MAC (changed, forged, or made with another key).' },
    SEAL_MISSING: { description: 'Seals are missing from the chain.' },
    SEAL_CHAIN_BROKEN: { description: 'A seal does not continue the one before it.' },
    CHECKPOINT_FORGED: { description: 'A retention-purge checkpoint fails its MAC.' },
    EVENT_FORGED: {
      description: 'An event has no valid per-event MAC: inserted or edited outside the gateway (sealed or not).',
    },
    CHAIN_TRUNCATED: { description: 'The newest seals the sealer recorded are gone.' },
    SEALING_STALLED: {
      description:
        'Events have stayed unsealed for longer than max(60 s, 10 × AUDIT_SEAL_INTERVAL): sealing stalled or seals were deleted.',
    },
  } as const,
});

/** At most this many events re-checked per call (the CLI is unbounded). */
export const MAX_EVENTS_PER_CALL = 200_000;

const time = (text: string | null) => (text ? new Date(text) : null);

const AffectedRangeRef = builder.objectRef<AffectedRange>('AuditAffectedRange').implement({
  description: 'What a finding puts in doubt: a sequence range and a time range (either end may be open).',
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({
    fromSeq: t.string({ nullable: true, resolve: (r) => r.fromSeq }),
    toSeq: t.string({ nullable: true, resolve: (r) => r.toSeq }),
    from: t.field({ type: 'DateTime', nullable: true, resolve: (r) => time(r.from) }),
    to: t.field({ type: 'DateTime', nullable: true, resolve: (r) => time(r.to) }),
  }),
});

const FindingRef = builder.objectRef<TamperFinding>('AuditTamperFinding').implement({
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({
    problem: t.field({ type: TamperProblemEnum, resolve: (f) => f.problem }),
    eventId: t.id({
      nullable: true,
      description: 'The event concerned (a deleted one by its sealed id).',
      resolve: (f) => f.eventId,
    }),
    seq: t.string({ nullable: true, resolve: (f) => f.seq }),
    occurredAt: t.field({ type: 'DateTime', nullable: true, resolve: (f) => time(f.occurredAt) }),
    sealNumber: t.int({ nullable: true, resolve: (f) => f.sealNo }),
    message: t.string({ resolve: (f) => f.message }),
    affected: t.field({ type: AffectedRangeRef, resolve: (f) => f.range }),
  }),
});

const VerificationRef = builder.objectRef<VerificationReport>('AuditLogVerification').implement({
  description: 'The audit trail recomputed against its seals (MACs made with a key the database never sees).',
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({
    intact: t.boolean({
      description: 'No finding: nothing sealed was edited, deleted, inserted or reordered.',
      resolve: (r) => r.intact,
    }),
    checkedSeals: t.int({ resolve: (r) => r.checkedSeals }),
    checkedEvents: t.int({ resolve: (r) => r.checkedEvents }),
    unsealedEvents: t.int({
      description: 'Events newer than the last seal (sealed within AUDIT_SEAL_INTERVAL); not yet tamper-evident.',
      resolve: (r) => r.unsealedEvents,
    }),
    oldestUnsealedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => time(r.oldestUnsealedAt) }),
    lastSealedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => time(r.lastSealedAt) }),
    firstBroken: t.field({ type: FindingRef, nullable: true, resolve: (r) => r.firstBroken }),
    affected: t.field({
      type: AffectedRangeRef,
      nullable: true,
      description: 'Every finding together.',
      resolve: (r) => r.affected,
    }),
    findings: t.field({ type: [FindingRef], description: 'The first 100, in chain order.', resolve: (r) => r.findings }),
    findingCount: t.int({ resolve: (r) => r.findingCount }),
  }),
});

builder.queryFields((t) => ({
  auditLogVerification: t.field({
    type: VerificationRef,
    nullable: true,
    description:
      'Checks the trail (the seals overlapping from…to; the chain of seals always whole) against its seals. A range holding more than 200,000 events is refused (BAD_USER_INPUT): narrow it, or run npm run audit:verify.',
    authScopes: { permission: 'audit_log.read' },
    args: {
      from: t.arg({ type: 'DateTime', description: 'Inclusive.' }),
      to: t.arg({ type: 'DateTime', description: 'Exclusive.' }),
    },
    resolve: async (_root, args, ctx) => {
      if (args.from && args.to && args.from > args.to) throw badUserInput('from', 'must not be after to');
      // Bounded work per call (review S8): a request re-reads and re-MACs the events of its range
      // on the event loop, so a range holding more than MAX_EVENTS_PER_CALL is refused with a
      // stable code; `npm run audit:verify` (the owner's CLI) checks any size.
      const { rows } = await ctx.db.query(
        `select count(*)::int as n from (select 1 from audit_events e where e.org_id = $1
           and ($2::timestamptz is null or e.occurred_at >= $2) and ($3::timestamptz is null or e.occurred_at < $3)
           limit ${MAX_EVENTS_PER_CALL + 1}) x`,
        [ctx.principal!.orgId, args.from ?? null, args.to ?? null],
      );
      if ((rows[0] as { n: number }).n > MAX_EVENTS_PER_CALL) {
        throw badUserInput(
          args.from ? 'to' : 'from',
          `the range holds more than ${MAX_EVENTS_PER_CALL} events: narrow from/to (npm run audit:verify checks everything)`,
        );
      }
      const key = sealingKey(ctx.services.config.AUDIT_SIGNING_KEY);
      return verifyOrganization(
        (text, values) => ctx.db.query(text, values),
        key,
        ctx.principal!.orgId,
        {
          from: args.from,
          to: args.to,
        },
        { staleAfterMs: staleAfterMs(ctx.services.config.AUDIT_SEAL_INTERVAL) },
      );
    },
  }),
}));
