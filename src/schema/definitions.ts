/**
 * Connectors, workflows, agents and tools: one domain model (src/domain/definitions.ts), and for
 * each kind its own explicit GraphQL API — type, list, get, create, update, delete, and execute
 * or deploy where the kind has them — each field gated by that kind's permission.
 */
import { TOGGLE_WORKFLOW_PERMISSION, type Permission } from '../authz/permissions.js';
import { assertConnectorUnused } from '../domain/connections.js';
import {
  createDefinitionRow,
  deleteDefinition,
  deployDefinition,
  listDefinitions,
  requireDefinition,
  setWorkflowEnabled,
  updateDefinition,
  type DefinitionKind,
  type DefinitionRow,
  type DeployableKind,
  type DeploymentRow,
  type Environment,
} from '../domain/definitions.js';
import { enqueueExecution, type ExecutableKind } from '../domain/executions.js';
import { requireId } from '../domain/validation.js';
import { acrossWorkspaces, moveDefinition } from '../domain/workspaces.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { ExecutionRef } from './executions.js';
import { OrderDirection } from './scalars.js';
import { selectedFieldsAt, selectsField, selectsPath } from './selection.js';
import { UserRef } from './users.js';

export const EnvironmentEnum = builder.enumType('Environment', {
  values: { TEST: { value: 'test' }, PRODUCTION: { value: 'production' } } as const,
});

export const AuthKindEnum = builder.enumType('AuthKind', {
  description: 'How a customer authenticates to a connector’s app.',
  values: {
    OAUTH2: { value: 'oauth2' },
    API_KEY: { value: 'api_key' },
    BASIC: { value: 'basic' },
    NONE: { value: 'none' },
  } as const,
});

const DeploymentRef = builder.objectRef<DeploymentRow>('Deployment').implement({
  description: 'Which version is live in an environment.',
  // Reached only through a connector or workflow, whose read permission gated it.
  authScopes: { member: true },
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

const DefinitionOrderField = builder.enumType('DefinitionOrderField', { values: ['CREATED_AT', 'UPDATED_AT', 'NAME'] as const });

const DefinitionOrder = builder.inputType('DefinitionOrder', {
  fields: (t) => ({
    field: t.field({ type: DefinitionOrderField, required: true, defaultValue: 'CREATED_AT' }),
    direction: t.field({ type: OrderDirection, required: true, defaultValue: 'desc' }),
  }),
});

interface KindSpec {
  kind: DefinitionKind;
  type: string;
  plural: string;
  description: string;
  permissions: {
    read: Permission;
    create: Permission;
    update: Permission;
    delete: Permission;
    execute?: Permission;
    deployTest?: Permission;
    deployProd?: Permission;
  };
}

const lowerFirst = (s: string) => s[0]!.toLowerCase() + s.slice(1);

/**
 * Fields a list page answers from the light columns (listDefinitions' `light`: id, org_id, kind,
 * name, created_by). A selection with any other field of the node reads whole rows. A field added
 * here must read nothing else from the row (test/graphql/workflows.test.ts compares both reads).
 */
const LIGHT_DEFINITION_FIELDS: ReadonlySet<string> = new Set(['__typename', 'id', 'name', 'createdBy']);

function defineKind(spec: KindSpec) {
  const { kind, type, plural, permissions } = spec;
  const deployable = Boolean(permissions.deployTest);
  const ref = builder.objectRef<DefinitionRow>(type).implement({
    description: spec.description,
    authScopes: readOrMutationResult({ permission: permissions.read }),
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      version: t.exposeInt('current_version', { description: 'The latest version; every definition change makes a new one.' }),
      definition: t.field({
        type: 'JSON',
        resolve: async (d, _a, ctx) =>
          (d.definition !== undefined
            ? d.definition
            : await ctx.loaders.definitionDocument.load(`${d.id}:${d.current_version}`)) ?? {},
      }),
      workspaceId: t.exposeID('workspace_id', { description: 'The workspace it belongs to (see `workspaces`).' }),
      createdAt: t.field({ type: 'DateTime', resolve: (d) => d.created_at }),
      updatedAt: t.field({ type: 'DateTime', resolve: (d) => d.updated_at }),
      createdBy: t.field({
        type: UserRef,
        nullable: true,
        resolve: (d, _a, ctx) => (d.created_by ? ctx.loaders.user.load(d.created_by) : null),
      }),
      updatedBy: t.field({
        type: UserRef,
        nullable: true,
        resolve: (d, _a, ctx) => (d.updated_by ? ctx.loaders.user.load(d.updated_by) : null),
      }),
      ...(deployable
        ? {
            deployments: t.field({
              type: [DeploymentRef],
              description: 'Live versions, one per environment deployed to.',
              resolve: (d, _a, ctx) => ctx.loaders.deployments.load(d.id),
            }),
          }
        : {}),
      ...(kind === 'workflow'
        ? { enabled: t.exposeBoolean('enabled', { description: 'A disabled workflow does not run ("Toggle Flows").' }) }
        : {}),
      ...(kind === 'connector'
        ? {
            authKind: t.field({ type: AuthKindEnum, resolve: (d) => d.auth_kind ?? 'none' }),
            logoUrl: t.exposeString('logo_url', { nullable: true }),
          }
        : {}),
    }),
  });

  const Filter = builder.inputType(`${type}Filter`, {
    fields: (t) => ({
      search: t.string({ description: 'Case-insensitive match on name or description.' }),
      createdBy: t.id({ description: 'A user id.' }),
      updatedAfter: t.field({ type: 'DateTime' }),
      ...(deployable
        ? { deployedTo: t.field({ type: EnvironmentEnum, description: 'Only those live in this environment.' }) }
        : {}),
    }),
  });

  builder.queryFields((t) => ({
    [plural]: t.connection(
      {
        type: ref,
        nullable: true,
        description: 'Newest first by default; ties broken by id, so the order is stable across pages.',
        authScopes: { permission: permissions.read },
        args: { filter: t.arg({ type: Filter }), orderBy: t.arg({ type: DefinitionOrder }) },
        resolve: async (_root, args, ctx, info) => {
          const filter = args.filter as
            | { search?: string | null; createdBy?: string | null; updatedAfter?: Date | null; deployedTo?: Environment | null }
            | null
            | undefined;
          const withCreator = selectsPath(info, ['edges', 'node', 'createdBy']);
          const light = [...selectedFieldsAt(info, ['edges', 'node'])].every((f) => LIGHT_DEFINITION_FIELDS.has(f));
          const page = await listDefinitions(
            ctx.db,
            kind,
            {
              search: filter?.search,
              createdBy: filter?.createdBy ? requireId('filter.createdBy', filter.createdBy) : null,
              deployedTo: filter?.deployedTo,
              updatedAfter: filter?.updatedAfter,
            },
            { field: args.orderBy?.field ?? 'CREATED_AT', direction: args.orderBy?.direction ?? 'desc' },
            args,
            { withTotal: selectsField(info, 'totalCount'), withCreator, light },
          );
          // The page brought its creators along: createdBy answers from the loader, no query.
          if (withCreator) {
            for (const { node } of page.edges) {
              if (!node.created_by) continue;
              const visible = node.creator_id
                ? { id: node.creator_id, name: node.creator_name ?? null, email: node.creator_email ?? null }
                : null;
              ctx.loaders.user.prime(node.created_by, visible);
            }
          }
          return page;
        },
      },
      connectionOptions(type),
      edgeOptions(type),
    ),
    [lowerFirst(type)]: t.field({
      type: ref,
      nullable: true,
      authScopes: { permission: permissions.read },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => requireDefinition(ctx.db, kind, requireId('id', args.id)),
    }),
  }));

  const CreateInput = builder.inputType(`Create${type}Input`, {
    fields: (t) => ({
      name: t.string({
        required: true,
        description: `1–200 characters, unique among the organization’s ${plural} (case-insensitive).`,
      }),
      description: t.string(),
      definition: t.field({ type: 'JSON', description: 'A JSON object; becomes version 1.' }),
      workspaceId: t.id({
        description: 'Default: the workspace the request acts in (X-Workspace-Id), else the organization’s default one.',
      }),
      ...(kind === 'connector'
        ? {
            authKind: t.field({ type: AuthKindEnum, required: true, description: 'How customers authenticate.' }),
            logoUrl: t.string({ description: 'An https:// URL the widget shows.' }),
          }
        : {}),
    }),
  });
  const UpdateInput = builder.inputType(`Update${type}Input`, {
    fields: (t) => ({
      id: t.id({ required: true }),
      name: t.string(),
      description: t.string(),
      definition: t.field({ type: 'JSON', description: 'A new definition makes a new version.' }),
      ...(kind === 'connector' ? { authKind: t.field({ type: AuthKindEnum }), logoUrl: t.string() } : {}),
    }),
  });
  const DeleteInput = builder.inputType(`Delete${type}Input`, { fields: (t) => ({ id: t.id({ required: true }) }) });
  const DeletePayload = builder.objectRef<{ id: string }>(`Delete${type}Payload`).implement({
    authScopes: { permission: permissions.delete },
    fields: (t) => ({ [`deleted${type}Id`]: t.exposeID('id') }),
  });

  builder.mutationFields((t) => ({
    [`create${type}`]: t.field({
      type: ref,
      nullable: true,
      authScopes: { permission: permissions.create },
      grantScopes: ['mutationResult'],
      audit: 'permission',
      args: { input: t.arg({ type: CreateInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const input = args.input as Parameters<typeof createDefinitionRow>[3];
        const workspaceId = input.workspaceId ? requireId('input.workspaceId', input.workspaceId) : null;
        const row = await createDefinitionRow(ctx.db, kind, userIdOf(ctx), { ...input, workspaceId });
        return auditOutcome(info, row, { resourceId: row.id });
      },
    }),
    [`update${type}`]: t.field({
      type: ref,
      nullable: true,
      authScopes: { permission: permissions.update },
      grantScopes: ['mutationResult'],
      audit: 'permission',
      args: { input: t.arg({ type: UpdateInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const input = args.input as { id: string } & Parameters<typeof updateDefinition>[4];
        const id = requireId('input.id', input.id);
        await updateDefinition(ctx.db, kind, userIdOf(ctx), id, input);
        const row = await requireDefinition(ctx.db, kind, id);
        return auditOutcome(info, row, { resourceId: id, details: { version: row.current_version } });
      },
    }),
    [`delete${type}`]: t.field({
      type: DeletePayload,
      nullable: true,
      authScopes: { permission: permissions.delete },
      grantScopes: ['mutationResult'],
      audit: 'permission',
      args: { input: t.arg({ type: DeleteInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const id = requireId('input.id', args.input.id);
        if (kind === 'connector') {
          await requireDefinition(ctx.db, kind, id);
          await assertConnectorUnused(ctx.db, id);
        }
        await deleteDefinition(ctx.db, kind, id);
        return auditOutcome(info, { id }, { resourceId: id });
      },
    }),
  }));

  const MoveInput = builder.inputType(`Move${type}Input`, {
    fields: (t) => ({
      id: t.id({ required: true }),
      workspaceId: t.id({ required: true, description: 'The workspace it moves to.' }),
    }),
  });
  builder.mutationField(`move${type}`, (t) =>
    t.field({
      type: ref,
      nullable: true,
      description: `Move a ${kind} to another workspace: needs ${permissions.update} in both (its connections and runs follow it).`,
      authScopes: { permission: permissions.update },
      grantScopes: ['mutationResult'],
      audit: auditAs(`${kind}.move`),
      args: { input: t.arg({ type: MoveInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const id = requireId('input.id', args.input.id);
        const to = requireId('input.workspaceId', args.input.workspaceId);
        const moved = await moveDefinition(ctx.db, principalOf(ctx), kind, id, to, permissions.update);
        const row = await acrossWorkspaces(ctx.db, async () => requireDefinition(ctx.db, kind, id));
        return auditOutcome(info, row, { resourceId: id, details: moved });
      },
    }),
  );

  if (kind === 'workflow') {
    const ToggleInput = builder.inputType('SetWorkflowEnabledInput', {
      fields: (t) => ({ id: t.id({ required: true }), enabled: t.boolean({ required: true }) }),
    });
    builder.mutationField('setWorkflowEnabled', (t) =>
      t.field({
        type: ref,
        nullable: true,
        description:
          '"Toggle Flows": switch a workflow on or off. Needs the deploy permission (in a workspace, project.flows.publish grants it).',
        authScopes: { permission: TOGGLE_WORKFLOW_PERMISSION },
        grantScopes: ['mutationResult'],
        audit: auditAs('workflow.toggle'),
        args: { input: t.arg({ type: ToggleInput, required: true }) },
        resolve: async (_root, args, ctx, info) => {
          const id = requireId('input.id', args.input.id);
          await setWorkflowEnabled(ctx.db, id, args.input.enabled);
          return auditOutcome(info, await requireDefinition(ctx.db, kind, id), {
            resourceId: id,
            details: { enabled: args.input.enabled },
          });
        },
      }),
    );
  }

  if (permissions.execute) {
    const ExecuteInput = builder.inputType(`Execute${type}Input`, {
      fields: (t) => ({
        id: t.id({ required: true }),
        customerId: t.id({ required: true, description: 'The customer the run is for.' }),
        version: t.int({ description: 'Default: the latest version.' }),
        parameters: t.field({ type: 'JSON', description: 'A JSON object handed to the run.' }),
      }),
    });
    builder.mutationField(`execute${type}`, (t) =>
      t.field({
        type: ExecutionRef,
        nullable: true,
        description:
          'Queue a run for a customer (within its monthly limit). There is no engine here: a runner picks queued executions up.',
        authScopes: { permission: permissions.execute! },
        grantScopes: ['mutationResult'],
        audit: 'permission',
        args: { input: t.arg({ type: ExecuteInput, required: true }) },
        resolve: async (_root, args, ctx, info) => {
          const id = requireId('input.id', args.input.id);
          const customerId = requireId('input.customerId', args.input.customerId);
          const execution = await enqueueExecution(
            ctx.db,
            userIdOf(ctx),
            kind as ExecutableKind,
            id,
            customerId,
            args.input.parameters,
            args.input.version,
          );
          return auditOutcome(info, execution, {
            resourceId: id,
            customerId,
            details: { executionId: execution.id, version: execution.target_version },
          });
        },
      }),
    );
  }

  if (deployable) {
    const DeployInput = builder.inputType(`Deploy${type}Input`, {
      fields: (t) => ({ id: t.id({ required: true }), version: t.int({ description: 'Default: the latest version.' }) }),
    });
    for (const [environment, permission, suffix] of [
      ['test', permissions.deployTest!, 'ToTest'],
      ['production', permissions.deployProd!, 'ToProduction'],
    ] as const) {
      builder.mutationField(`deploy${type}${suffix}`, (t) =>
        t.field({
          type: DeploymentRef,
          nullable: true,
          description: `Make a version live in ${environment === 'test' ? 'the test environment' : 'production'}.`,
          authScopes: { permission },
          grantScopes: ['mutationResult'],
          audit: 'permission',
          args: { input: t.arg({ type: DeployInput, required: true }) },
          resolve: async (_root, args, ctx, info) => {
            const id = requireId('input.id', args.input.id);
            const deployment = await deployDefinition(
              ctx.db,
              kind as DeployableKind,
              userIdOf(ctx),
              id,
              environment,
              args.input.version,
            );
            return auditOutcome(info, deployment, { resourceId: id, details: { environment, version: deployment.version } });
          },
        }),
      );
    }
  }
  return ref;
}

export const ConnectorRef = defineKind({
  kind: 'connector',
  type: 'Connector',
  plural: 'connectors',
  description: 'An integration definition: how to reach an app and what it can do. Customers connect to it.',
  permissions: {
    read: 'connectors.read',
    create: 'connectors.create',
    update: 'connectors.update',
    delete: 'connectors.delete',
    deployTest: 'connectors.deploy_test',
    deployProd: 'connectors.deploy_prod',
  },
});

export const WorkflowRef = defineKind({
  kind: 'workflow',
  type: 'Workflow',
  plural: 'workflows',
  description: 'A multi-step automation, run for a customer.',
  permissions: {
    read: 'workflows.read',
    create: 'workflows.create',
    update: 'workflows.update',
    delete: 'workflows.delete',
    execute: 'workflows.execute',
    deployTest: 'workflows.deploy_test',
    deployProd: 'workflows.deploy_prod',
  },
});

export const AgentRef = defineKind({
  kind: 'agent',
  type: 'Agent',
  plural: 'agents',
  description: 'An AI agent, run for a customer.',
  permissions: {
    read: 'agents.read',
    create: 'agents.create',
    update: 'agents.update',
    delete: 'agents.delete',
    execute: 'agents.execute',
  },
});

export const ToolRef = defineKind({
  kind: 'tool',
  type: 'Tool',
  plural: 'tools',
  description: 'A callable tool, run for a customer (or by an agent).',
  permissions: {
    read: 'tools.read',
    create: 'tools.create',
    update: 'tools.update',
    delete: 'tools.delete',
    execute: 'tools.execute',
  },
});
