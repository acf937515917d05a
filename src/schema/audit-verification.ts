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
    description: 'Checks the trail (the seals overlapping from…to; the chain of seals always whole) against its seals.',
    authScopes: { permission: 'audit_log.read' },
    args: {
      from: t.arg({ type: 'DateTime', description: 'Inclusive.' }),
      to: t.arg({ type: 'DateTime', description: 'Exclusive.' }),
    },
    resolve: async (_root, args, ctx) => {
      if (args.from && args.to && args.from > args.to) throw badUserInput('from', 'must not be after to');
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
