/** Executions: runs for one customer — list with filters, detail, retry. */
import { listExecutions, requireExecution, retryExecution, type ExecutionRow } from '../domain/executions.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { CustomerRef } from './customers.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';

export const ExecutionStatusEnum = builder.enumType('ExecutionStatus', {
  values: {
    QUEUED: { value: 'queued' },
    RUNNING: { value: 'running' },
    SUCCEEDED: { value: 'succeeded' },
    FAILED: { value: 'failed' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

export const TargetKindEnum = builder.enumType('ExecutionTargetKind', {
  values: {
    WORKFLOW: { value: 'workflow' },
    AGENT: { value: 'agent' },
    TOOL: { value: 'tool' },
    CONNECTION: { value: 'connection' },
  } as const,
});

export const ExecutionRef = builder.objectRef<ExecutionRow>('Execution');

ExecutionRef.implement({
  description: 'A run of a workflow, agent or tool, or an action on a connection, for one customer.',
  authScopes: readOrMutationResult({ permission: 'executions.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: ExecutionStatusEnum, resolve: (e) => e.status }),
    targetKind: t.field({ type: TargetKindEnum, resolve: (e) => e.target_kind }),
    targetId: t.id({
      nullable: true,
      description:
        'The workflow, agent, tool or connection that ran; null once it was deleted. In a customer’s context only connections are named: definitions are org-internal.',
      resolve: (e, _args, ctx) => (ctx.confinedToCustomer ? e.connection_id : (e.definition_id ?? e.connection_id)),
    }),
    targetName: t.exposeString('target_name', { description: 'What ran, as named when it was queued.' }),
    targetVersion: t.exposeInt('target_version', { nullable: true }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      resolve: (e, _args, ctx) => ctx.loaders.customer.load(e.customer_id),
    }),
    parameters: t.field({ type: 'JSON', resolve: (e) => e.input }),
    output: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.output ?? null }),
    error: t.exposeString('error', { nullable: true }),
    progress: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What the runner last reported while running.',
      resolve: (e) => e.progress ?? null,
    }),
    attempts: t.exposeInt('attempts', { description: 'Claims by a runner; more than 1 when a lease expired before.' }),
    retryOf: t.field({
      type: ExecutionRef,
      nullable: true,
      description: 'The execution this one retried.',
      resolve: (e, _args, ctx) => (e.retry_of ? ctx.loaders.execution.load(e.retry_of) : null),
    }),
    requestedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (e, _args, ctx) => (e.requested_by ? ctx.loaders.user.load(e.requested_by) : null),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.created_at }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (e) => e.started_at }),
    finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (e) => e.finished_at }),
  }),
});

const ExecutionFilter = builder.inputType('ExecutionFilter', {
  fields: (t) => ({
    status: t.field({ type: ExecutionStatusEnum }),
    targetKind: t.field({ type: TargetKindEnum, description: 'What kind of thing ran.' }),
    targetId: t.id({ description: 'The workflow, agent, tool or connection that ran.' }),
    customerId: t.id(),
    from: t.field({ type: 'DateTime', description: 'Queued at or after (inclusive).' }),
    to: t.field({ type: 'DateTime', description: 'Queued before (exclusive).' }),
  }),
});

builder.queryFields((t) => ({
  executions: t.connection(
    {
      type: ExecutionRef,
      nullable: true,
      description: 'Newest first. End Users see their customer’s only.',
      authScopes: { permission: 'executions.read' },
      args: { filter: t.arg({ type: ExecutionFilter }) },
      resolve: (_root, args, ctx, info) =>
        listExecutions(
          ctx.db,
          {
            status: args.filter?.status,
            targetKind: args.filter?.targetKind,
            targetId: args.filter?.targetId ? requireId('filter.targetId', args.filter.targetId) : null,
            customerId: args.filter?.customerId ? requireId('filter.customerId', args.filter.customerId) : null,
            from: args.filter?.from,
            to: args.filter?.to,
          },
          args,
          selectsField(info, 'totalCount'),
        ),
    },
    connectionOptions('Execution'),
    edgeOptions('Execution'),
  ),
  execution: t.field({
    type: ExecutionRef,
    nullable: true,
    authScopes: { permission: 'executions.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireExecution(ctx.db, requireId('id', args.id)),
  }),
}));

const RetryExecutionInput = builder.inputType('RetryExecutionInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

builder.mutationField('retryExecution', (t) =>
  t.field({
    type: ExecutionRef,
    nullable: true,
    description: 'Queue the same run again (a finished one), linked to it by retryOf.',
    authScopes: { permission: 'executions.retry' },
    grantScopes: ['mutationResult'],
    audit: 'permission',
    args: { input: t.arg({ type: RetryExecutionInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      const execution = await retryExecution(ctx.db, userIdOf(ctx), id);
      return auditOutcome(info, execution, {
        resourceId: id,
        customerId: execution.customer_id,
        details: { executionId: execution.id },
      });
    },
  }),
);
