/**
 * Workflows: the vertical slice that proves the request path. Each operation is gated by its
 * own permission from the matrix, audited, and confined to the organization by RLS.
 */
import { enqueueWorkflowExecution } from '../domain/executions.js';
import { requireId } from '../domain/validation.js';
import {
  createWorkflow,
  deleteWorkflow,
  deployWorkflow,
  listWorkflows,
  requireWorkflow,
  updateWorkflow,
  type DeploymentRow,
  type Environment,
  type WorkflowRow,
} from '../domain/workflows.js';
import { audited } from './audited.js';
import { userIdOf } from './caller.js';
import { builder } from './builder.js';
import { ExecutionRef } from './executions.js';
import { OrderDirection } from './scalars.js';
import { connectionOptions, edgeOptions } from './connections.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';

export const EnvironmentEnum = builder.enumType('Environment', {
  values: { TEST: { value: 'test' }, PRODUCTION: { value: 'production' } } as const,
});

const WorkflowDeploymentRef = builder.objectRef<DeploymentRow>('WorkflowDeployment').implement({
  description: 'Which version of a workflow is live in an environment.',
  authScopes: { permission: 'workflows.read' },
  fields: (t) => ({
    environment: t.field({ type: EnvironmentEnum, resolve: (d) => d.environment }),
    version: t.exposeInt('version'),
    deployedAt: t.field({ type: 'DateTime', resolve: (d) => d.deployed_at }),
    deployedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (d, _args, ctx) => (d.deployed_by ? ctx.loaders.user.load(d.deployed_by) : null),
    }),
  }),
});

export const WorkflowRef = builder.objectRef<WorkflowRow>('Workflow').implement({
  authScopes: { permission: 'workflows.read' },
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    version: t.exposeInt('current_version', { description: 'The latest version; every definition change makes a new one.' }),
    definition: t.field({ type: 'JSON', resolve: (w) => w.definition ?? {} }),
    createdAt: t.field({ type: 'DateTime', resolve: (w) => w.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (w) => w.updated_at }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (w, _args, ctx) => (w.created_by ? ctx.loaders.user.load(w.created_by) : null),
    }),
    updatedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (w, _args, ctx) => (w.updated_by ? ctx.loaders.user.load(w.updated_by) : null),
    }),
    deployments: t.field({
      type: [WorkflowDeploymentRef],
      description: 'Live versions, one per environment deployed to.',
      resolve: (w, _args, ctx) => ctx.loaders.deployments.load(w.id),
    }),
  }),
});

const WorkflowOrderField = builder.enumType('WorkflowOrderField', { values: ['CREATED_AT', 'UPDATED_AT', 'NAME'] as const });

const WorkflowOrder = builder.inputType('WorkflowOrder', {
  fields: (t) => ({
    field: t.field({ type: WorkflowOrderField, required: true, defaultValue: 'CREATED_AT' }),
    direction: t.field({ type: OrderDirection, required: true, defaultValue: 'desc' }),
  }),
});

const WorkflowFilter = builder.inputType('WorkflowFilter', {
  fields: (t) => ({
    search: t.string({ description: 'Case-insensitive match on name or description.' }),
    createdBy: t.id({ description: 'A user id.' }),
    deployedTo: t.field({ type: EnvironmentEnum, description: 'Only workflows live in this environment.' }),
    updatedAfter: t.field({ type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  workflows: t.connection(
    {
      type: WorkflowRef,
      nullable: true,
      description: 'Newest first by default; ties broken by id, so the order is stable across pages.',
      authScopes: { permission: 'workflows.read' },
      args: {
        filter: t.arg({ type: WorkflowFilter }),
        orderBy: t.arg({ type: WorkflowOrder }),
      },
      resolve: (_root, args, ctx, info) =>
        listWorkflows(
          ctx.db,
          {
            search: args.filter?.search,
            createdBy: args.filter?.createdBy ? requireId('filter.createdBy', args.filter.createdBy) : null,
            deployedTo: args.filter?.deployedTo as Environment | null | undefined,
            updatedAfter: args.filter?.updatedAfter,
          },
          { field: args.orderBy?.field ?? 'CREATED_AT', direction: args.orderBy?.direction ?? 'desc' },
          args,
          { withTotal: selectsField(info, 'totalCount') },
        ),
    },
    connectionOptions('Workflow'),
    edgeOptions('Workflow'),
  ),
  workflow: t.field({
    type: WorkflowRef,
    nullable: true,
    authScopes: { permission: 'workflows.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireWorkflow(ctx.db, requireId('id', args.id)),
  }),
}));

const CreateWorkflowInput = builder.inputType('CreateWorkflowInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: '1–200 characters, unique in the organization (case-insensitive).' }),
    description: t.string(),
    definition: t.field({ type: 'JSON', description: 'A JSON object; becomes version 1.' }),
  }),
});

const UpdateWorkflowInput = builder.inputType('UpdateWorkflowInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    description: t.string(),
    definition: t.field({ type: 'JSON', description: 'A new definition makes a new version.' }),
  }),
});

const DeleteWorkflowInput = builder.inputType('DeleteWorkflowInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

const DeployWorkflowInput = builder.inputType('DeployWorkflowInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    version: t.int({ description: 'Default: the latest version.' }),
  }),
});

const ExecuteWorkflowInput = builder.inputType('ExecuteWorkflowInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    customerId: t.id({ required: true, description: 'The customer the run is for.' }),
    version: t.int({ description: 'Default: the latest version.' }),
    parameters: t.field({ type: 'JSON', description: 'A JSON object handed to the run.' }),
  }),
});

const DeleteWorkflowPayload = builder.objectRef<{ id: string }>('DeleteWorkflowPayload').implement({
  authScopes: { permission: 'workflows.delete' },
  fields: (t) => ({ deletedWorkflowId: t.exposeID('id') }),
});

function deployField(environment: Environment) {
  const permission = environment === 'test' ? 'workflows.deploy_test' : 'workflows.deploy_prod';
  return builder.mutationField(environment === 'test' ? 'deployWorkflowToTest' : 'deployWorkflowToProduction', (t) =>
    t.field({
      type: WorkflowDeploymentRef,
      nullable: true,
      description: `Make a version live in ${environment === 'test' ? 'the test environment' : 'production'}.`,
      authScopes: { permission },
      args: { input: t.arg({ type: DeployWorkflowInput, required: true }) },
      resolve: (_root, args, ctx, info) =>
        audited(ctx, info, async () => {
          const id = requireId('input.id', args.input.id);
          const deployment = await deployWorkflow(ctx.db, userIdOf(ctx), id, environment, args.input.version);
          return { result: deployment, resourceId: id, details: { environment, version: deployment.version } };
        }),
    }),
  );
}
deployField('test');
deployField('production');

builder.mutationFields((t) => ({
  createWorkflow: t.field({
    type: WorkflowRef,
    nullable: true,
    authScopes: { permission: 'workflows.create' },
    args: { input: t.arg({ type: CreateWorkflowInput, required: true }) },
    resolve: (_root, args, ctx, info) =>
      audited(ctx, info, async () => {
        const id = await createWorkflow(ctx.db, userIdOf(ctx), args.input);
        return { result: await requireWorkflow(ctx.db, id), resourceId: id };
      }),
  }),
  updateWorkflow: t.field({
    type: WorkflowRef,
    nullable: true,
    authScopes: { permission: 'workflows.update' },
    args: { input: t.arg({ type: UpdateWorkflowInput, required: true }) },
    resolve: (_root, args, ctx, info) =>
      audited(ctx, info, async () => {
        const id = requireId('input.id', args.input.id);
        await updateWorkflow(ctx.db, userIdOf(ctx), id, args.input);
        const workflow = await requireWorkflow(ctx.db, id);
        return { result: workflow, resourceId: id, details: { version: workflow.current_version } };
      }),
  }),
  deleteWorkflow: t.field({
    type: DeleteWorkflowPayload,
    nullable: true,
    authScopes: { permission: 'workflows.delete' },
    args: { input: t.arg({ type: DeleteWorkflowInput, required: true }) },
    resolve: (_root, args, ctx, info) =>
      audited(ctx, info, async () => {
        const id = requireId('input.id', args.input.id);
        await deleteWorkflow(ctx.db, id);
        return { result: { id }, resourceId: id };
      }),
  }),
  executeWorkflow: t.field({
    type: ExecutionRef,
    nullable: true,
    description: 'Queue a run for a customer. There is no engine here: a runner picks queued executions up.',
    authScopes: { permission: 'workflows.execute' },
    args: { input: t.arg({ type: ExecuteWorkflowInput, required: true }) },
    resolve: (_root, args, ctx, info) =>
      audited(ctx, info, async () => {
        const id = requireId('input.id', args.input.id);
        const customerId = requireId('input.customerId', args.input.customerId);
        const execution = await enqueueWorkflowExecution(
          ctx.db,
          userIdOf(ctx),
          id,
          customerId,
          args.input.parameters,
          args.input.version,
        );
        return {
          result: execution,
          resourceId: id,
          customerId,
          details: { executionId: execution.id, version: execution.target_version },
        };
      }),
  }),
}));
