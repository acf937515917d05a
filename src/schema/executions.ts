import { loadExecutions, type ExecutionRow } from '../domain/executions.js';
import { requireId } from '../domain/validation.js';
import { notFound } from '../errors.js';
import { builder } from './builder.js';
import { CustomerRef } from './customers.js';
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
  values: { WORKFLOW: { value: 'workflow' }, AGENT: { value: 'agent' }, TOOL: { value: 'tool' } } as const,
});

export const ExecutionRef = builder.objectRef<ExecutionRow>('Execution').implement({
  description: 'A run of a workflow, agent or tool for one customer.',
  authScopes: { permission: 'executions.read' },
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: ExecutionStatusEnum, resolve: (e) => e.status }),
    targetKind: t.field({ type: TargetKindEnum, resolve: (e) => e.target_kind }),
    targetName: t.exposeString('target_name', { description: 'What ran, as named when it was queued.' }),
    targetVersion: t.exposeInt('target_version', { nullable: true }),
    workflowId: t.exposeID('workflow_id', {
      nullable: true,
      description: 'Null for agents and tools, or when the workflow was deleted.',
    }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      resolve: (e, _args, ctx) => ctx.loaders.customer.load(e.customer_id),
    }),
    parameters: t.field({ type: 'JSON', resolve: (e) => e.input }),
    output: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.output ?? null }),
    error: t.exposeString('error', { nullable: true }),
    retryOfId: t.exposeID('retry_of', { nullable: true }),
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

builder.queryField('execution', (t) =>
  t.field({
    type: ExecutionRef,
    nullable: true,
    authScopes: { permission: 'executions.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const id = requireId('id', args.id);
      const execution = (await loadExecutions(ctx.db, [id]))[0];
      if (!execution) throw notFound('Execution', id);
      return execution;
    },
  }),
);
