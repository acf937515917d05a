/**
 * The runner's API: claim an execution, report progress, finish it, set a connection's sync
 * status. Only runner keys (`runner` scope) may call these (and the database checks it again); each transition is audited with the
 * runner as the actor. A runner needs no role for them: what it must know to run an execution is
 * on the claim itself (a role adds reading definitions etc., under the usual rules).
 */
import {
  claimExecution,
  finishExecution,
  reportProgress,
  setConnectionSyncStatus,
  type Claim,
  type SyncStatusRow,
} from '../domain/runners.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { auditAs } from './caller.js';
import { ExecutionRef, TargetKindEnum } from './executions.js';

const ExecutionClaimRef = builder.objectRef<Claim>('ExecutionClaim').implement({
  description: 'An execution held by this runner under a lease: everything needed to run it. Report with its leaseId.',
  authScopes: { runner: true },
  fields: (t) => ({
    leaseId: t.id({ resolve: (c) => c.leaseId, description: 'Name it in every report; a re-claim replaces it.' }),
    leaseExpiresAt: t.field({
      type: 'DateTime',
      resolve: (c) => c.leaseExpiresAt,
      description: 'Report progress (extendLeaseSeconds) before then, or another runner may claim the execution.',
    }),
    attempt: t.int({ resolve: (c) => c.attempts, description: '1 for a first claim; more when a lease expired before.' }),
    executionId: t.id({ resolve: (c) => c.execution.id }),
    targetKind: t.field({ type: TargetKindEnum, resolve: (c) => c.execution.target_kind }),
    targetId: t.id({
      nullable: true,
      description: 'The workflow, agent, tool or connection to run.',
      resolve: (c) => c.execution.definition_id ?? c.execution.connection_id,
    }),
    targetName: t.string({ resolve: (c) => c.execution.target_name }),
    targetVersion: t.int({ nullable: true, resolve: (c) => c.execution.target_version }),
    customerId: t.id({ resolve: (c) => c.execution.customer_id }),
    parameters: t.field({ type: 'JSON', resolve: (c) => c.execution.input }),
    execution: t.field({
      type: ExecutionRef,
      nullable: true,
      description: 'The execution itself (needs executions.read, like for anyone).',
      resolve: (c) => c.execution,
    }),
  }),
});

const ClaimExecutionInput = builder.inputType('ClaimExecutionInput', {
  fields: (t) => ({
    leaseSeconds: t.int({ description: 'How long the claim holds without a report: 5–3600, default 300.' }),
    targetKinds: t.field({ type: [TargetKindEnum], description: 'Only these kinds (default: any).' }),
  }),
});

const OutcomeEnum = builder.enumType('ExecutionOutcome', {
  values: {
    SUCCEEDED: { value: 'succeeded' },
    FAILED: { value: 'failed', description: 'Needs an error.' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

const ReportExecutionProgressInput = builder.inputType('ReportExecutionProgressInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    leaseId: t.id({ required: true }),
    progress: t.field({ type: 'JSON', description: 'A JSON object the execution shows as its progress.' }),
    extendLeaseSeconds: t.int({ description: 'Hold the lease this many seconds from now (5–3600).' }),
  }),
});

const FinishExecutionInput = builder.inputType('FinishExecutionInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    leaseId: t.id({ required: true }),
    outcome: t.field({ type: OutcomeEnum, required: true }),
    output: t.field({ type: 'JSON' }),
    error: t.string({ description: 'Required for FAILED, refused otherwise.' }),
  }),
});

const RunnerSyncStatusEnum = builder.enumType('RunnerSyncStatus', {
  values: { SYNCING: { value: 'syncing' }, SUCCEEDED: { value: 'succeeded' }, FAILED: { value: 'failed' } } as const,
});

const ConnectionSyncStatusRef = builder.objectRef<SyncStatusRow>('ConnectionSyncStatus').implement({
  description: 'A connection’s sync status as a runner set it (the connection itself needs connections.read).',
  authScopes: { runner: true },
  fields: (t) => ({
    connectionId: t.exposeID('id'),
    syncStatus: t.field({ type: RunnerSyncStatusEnum, resolve: (r) => r.sync_status }),
    lastSyncedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.last_synced_at }),
    lastError: t.exposeString('last_error', { nullable: true }),
  }),
});

const SetConnectionSyncStatusInput = builder.inputType('SetConnectionSyncStatusInput', {
  fields: (t) => ({
    connectionId: t.id({ required: true }),
    status: t.field({ type: RunnerSyncStatusEnum, required: true }),
    error: t.string({ description: 'Required for FAILED, refused otherwise.' }),
  }),
});

builder.mutationFields((t) => ({
  claimExecution: t.field({
    type: ExecutionClaimRef,
    nullable: true,
    description:
      'Runners only. The oldest queued execution (or one whose lease expired), now RUNNING under your lease; null when there is nothing to do (and nothing is recorded).',
    authScopes: { runner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('execution.claim', 'execution'),
    args: { input: t.arg({ type: ClaimExecutionInput }) },
    resolve: async (_root, args, ctx, info) => {
      const claim = await claimExecution(ctx.db, {
        leaseSeconds: args.input?.leaseSeconds,
        targetKinds: args.input?.targetKinds,
      });
      // An empty poll changed nothing: no event, or idle runners would flood the audit log.
      if (!claim) return auditOutcome(info, null, { successRecorded: true });
      return auditOutcome(info, claim, {
        resourceId: claim.execution.id,
        customerId: claim.execution.customer_id,
        details: { leaseId: claim.leaseId, attempt: claim.attempts, leaseExpiresAt: claim.leaseExpiresAt.toISOString() },
      });
    },
  }),
  reportExecutionProgress: t.field({
    type: ExecutionClaimRef,
    nullable: true,
    description: 'Runners only. Progress of an execution you hold; may extend the lease.',
    authScopes: { runner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('execution.report_progress', 'execution'),
    args: { input: t.arg({ type: ReportExecutionProgressInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const claim = await reportProgress(ctx.db, {
        id: requireId('input.id', args.input.id),
        leaseId: requireId('input.leaseId', args.input.leaseId),
        progress: args.input.progress,
        extendLeaseSeconds: args.input.extendLeaseSeconds,
      });
      return auditOutcome(info, claim, {
        resourceId: claim.execution.id,
        customerId: claim.execution.customer_id,
        details: { leaseExpiresAt: claim.leaseExpiresAt.toISOString() },
      });
    },
  }),
  finishExecution: t.field({
    type: ExecutionRef,
    nullable: true,
    description:
      'Runners only. The outcome of an execution you hold: SUCCEEDED, FAILED (with an error) or CANCELLED, with output.',
    authScopes: { runner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('execution.finish', 'execution'),
    args: { input: t.arg({ type: FinishExecutionInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const execution = await finishExecution(ctx.db, {
        id: requireId('input.id', args.input.id),
        leaseId: requireId('input.leaseId', args.input.leaseId),
        outcome: args.input.outcome,
        output: args.input.output,
        error: args.input.error,
      });
      return auditOutcome(info, execution, {
        resourceId: execution.id,
        customerId: execution.customer_id,
        details: { outcome: execution.status },
      });
    },
  }),
  setConnectionSyncStatus: t.field({
    type: ConnectionSyncStatusRef,
    nullable: true,
    description: 'Runners only. A connection’s sync status as the runner saw it (lastSyncedAt moves on success).',
    authScopes: { runner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('connection.sync_status', 'connection'),
    args: { input: t.arg({ type: SetConnectionSyncStatusInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const connectionId = requireId('input.connectionId', args.input.connectionId);
      const updated = await setConnectionSyncStatus(ctx.db, {
        connectionId,
        status: args.input.status,
        error: args.input.error,
      });
      return auditOutcome(info, updated, {
        resourceId: connectionId,
        customerId: updated.customer_id,
        details: { status: args.input.status },
      });
    },
  }),
}));
