/**
 * Connections: a customer's authenticated app accounts, and the connector catalogue End Users
 * pick from. Credentials are write-only: an input field, never an output field.
 */
import {
  connectorListings,
  createConnection,
  deleteConnection,
  listConnections,
  refreshConnectionToken,
  requireConnection,
  setConnectionScope,
  testConnection,
  updateConnection,
  TokenRefreshError,
  type ConnectionRow,
  type ConnectorListingRow,
} from '../domain/connections.js';
import { enqueueConnectionAction } from '../domain/executions.js';
import { requireId, requireJsonObject, requireText } from '../domain/validation.js';
import { conflict, notFound } from '../errors.js';
import type { Context } from '../context.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { CustomerRef } from './customers.js';
import { AuthKindEnum } from './definitions.js';
import { ExecutionRef } from './executions.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';

const ConnectorListingRef = builder.objectRef<ConnectorListingRow>('ConnectorListing').implement({
  description: 'What a customer needs to know of a connector to connect to it: never its definition.',
  authScopes: { member: true },
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    logoUrl: t.exposeString('logo_url', { nullable: true }),
    authKind: t.field({ type: AuthKindEnum, resolve: (c) => c.auth_kind as 'oauth2' | 'api_key' | 'basic' | 'none' }),
  }),
});

const ConnectionScopeEnum = builder.enumType('ConnectionScope', {
  values: {
    PERSONAL: { value: 'user', description: 'One person of the customer: its owner.' },
    SHARED: { value: 'shared', description: 'Everyone of the customer.' },
  } as const,
});
const ConnectionStatusEnum = builder.enumType('ConnectionStatus', {
  values: { ACTIVE: { value: 'active' }, ERROR: { value: 'error' }, DISCONNECTED: { value: 'disconnected' } } as const,
});
const SyncStatusEnum = builder.enumType('SyncStatus', {
  values: {
    NEVER: { value: 'never' },
    SYNCING: { value: 'syncing' },
    SUCCEEDED: { value: 'succeeded' },
    FAILED: { value: 'failed' },
  } as const,
});

export const ConnectionRef = builder.objectRef<ConnectionRow>('Connection').implement({
  description: 'A customer’s authenticated account in an app. Its credentials are write-only.',
  authScopes: readOrMutationResult({ permission: 'connections.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    customer: t.field({ type: CustomerRef, nullable: true, resolve: (c, _a, ctx) => ctx.loaders.customer.load(c.customer_id) }),
    connector: t.field({
      type: ConnectorListingRef,
      nullable: true,
      resolve: async (c, _a, ctx) => (await connectorListings(ctx.db, [c.connector_id], false))[0] ?? null,
    }),
    scope: t.field({ type: ConnectionScopeEnum, resolve: (c) => c.scope }),
    owner: t.field({
      type: UserRef,
      nullable: true,
      description: 'Who a personal connection belongs to.',
      resolve: (c, _a, ctx) => (c.owner_user_id ? ctx.loaders.user.load(c.owner_user_id) : null),
    }),
    status: t.field({ type: ConnectionStatusEnum, resolve: (c) => c.status }),
    syncStatus: t.field({ type: SyncStatusEnum, resolve: (c) => c.sync_status }),
    lastSyncedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.last_synced_at }),
    lastError: t.exposeString('last_error', { nullable: true }),
    hasCredentials: t.exposeBoolean('has_credentials'),
    tokenExpiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.token_expires_at }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.created_at }),
    updatedAt: t.field({ type: 'DateTime', resolve: (c) => c.updated_at }),
  }),
});

builder.objectField(ExecutionRef, 'connection', (t) =>
  t.field({
    type: ConnectionRef,
    nullable: true,
    description: 'For connection actions: the connection.',
    authScopes: { permission: 'connections.read' },
    resolve: (e, _a, ctx) => (e.connection_id ? ctx.loaders.connection.load(e.connection_id) : null),
  }),
);

const ConnectionFilter = builder.inputType('ConnectionFilter', {
  fields: (t) => ({
    customerId: t.id(),
    connectorId: t.id(),
    status: t.field({ type: ConnectionStatusEnum }),
    syncStatus: t.field({ type: SyncStatusEnum }),
    scope: t.field({ type: ConnectionScopeEnum }),
    search: t.string({ description: 'Case-insensitive match on the name.' }),
  }),
});

builder.queryFields((t) => ({
  connectorCatalogue: t.field({
    type: [ConnectorListingRef],
    nullable: true,
    description: 'Connectors live in production, to offer "connect an app" (no connectors.read needed).',
    authScopes: { permission: 'connections.create' },
    resolve: (_root, _args, ctx) => connectorListings(ctx.db, null, true),
  }),
  connections: t.connection(
    {
      type: ConnectionRef,
      nullable: true,
      description: 'Newest first. End Users see their customer’s shared connections and their own.',
      authScopes: { permission: 'connections.read' },
      args: { filter: t.arg({ type: ConnectionFilter }) },
      resolve: (_root, args, ctx, info) =>
        listConnections(
          ctx.db,
          {
            customerId: args.filter?.customerId ? requireId('filter.customerId', args.filter.customerId) : null,
            connectorId: args.filter?.connectorId ? requireId('filter.connectorId', args.filter.connectorId) : null,
            status: args.filter?.status,
            syncStatus: args.filter?.syncStatus,
            scope: args.filter?.scope,
            search: args.filter?.search,
          },
          args,
          selectsField(info, 'totalCount'),
        ),
    },
    connectionOptions('Connection'),
    edgeOptions('Connection'),
  ),
  connection: t.field({
    type: ConnectionRef,
    nullable: true,
    authScopes: { permission: 'connections.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireConnection(ctx.db, requireId('id', args.id)),
  }),
}));

const CreateConnectionInput = builder.inputType('CreateConnectionInput', {
  fields: (t) => ({
    connectorId: t.id({ required: true, description: 'One of connectorCatalogue.' }),
    customerId: t.id({ description: 'Required for staff; End Users connect for their own customer.' }),
    name: t.string({ required: true }),
    shared: t.boolean({ defaultValue: false, description: 'Share with the whole customer (default: personal).' }),
    credentials: t.field({
      type: 'JSON',
      required: true,
      description:
        'Write-only, encrypted at rest, never returned. OAuth2: {accessToken, refreshToken, expiresAt}; API key: {apiKey}; basic: {username, password}.',
    }),
  }),
});
const UpdateConnectionInput = builder.inputType('UpdateConnectionInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    credentials: t.field({ type: 'JSON', description: 'Replaces the stored credentials (write-only).' }),
  }),
});
const ConnectionIdInput = builder.inputType('ConnectionIdInput', { fields: (t) => ({ id: t.id({ required: true }) }) });
const RunConnectionActionInput = builder.inputType('RunConnectionActionInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    action: t.string({ required: true, description: 'The connector action to run, e.g. "contacts.list".' }),
    parameters: t.field({ type: 'JSON' }),
  }),
});

const DeleteConnectionPayload = builder.objectRef<{ id: string }>('DeleteConnectionPayload').implement({
  authScopes: { permission: 'connections.delete' },
  fields: (t) => ({ deletedConnectionId: t.exposeID('id') }),
});

const ConnectionTestRef = builder
  .objectRef<{ ok: boolean; message: string; connection: ConnectionRow }>('ConnectionTestResult')
  .implement({
    authScopes: { permission: 'connections.execute' },
    fields: (t) => ({
      ok: t.exposeBoolean('ok'),
      message: t.exposeString('message'),
      connection: t.field({ type: ConnectionRef, resolve: (r) => r.connection }),
    }),
  });

/** End Users (and staff scoped to a customer) connect for their customer; other staff name one. */
function customerFor(ctx: Context, requested: string | null | undefined): string {
  const confined = ctx.confinedToCustomer;
  if (confined) {
    if (requested && requested !== confined) throw notFound('Customer', requested);
    return confined;
  }
  if (!requested) throw conflict('Name the customer this connection is for.', { field: 'input.customerId' });
  return requireId('input.customerId', requested);
}

function connectionMutation(
  name: string,
  options: {
    permission: 'connections.update' | 'connections.share' | 'connections.execute';
    action: string;
    description: string;
  },
  run: (ctx: Context, connection: ConnectionRow) => Promise<Record<string, unknown> | void>,
) {
  builder.mutationField(name, (t) =>
    t.field({
      type: ConnectionRef,
      nullable: true,
      description: options.description,
      authScopes: { permission: options.permission },
      grantScopes: ['mutationResult'],
      audit: auditAs(options.action, 'connection'),
      args: { input: t.arg({ type: ConnectionIdInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const connection = await requireConnection(ctx.db, requireId('input.id', args.input.id));
        const details = (await run(ctx, connection)) ?? undefined;
        return auditOutcome(info, await requireConnection(ctx.db, connection.id), {
          resourceId: connection.id,
          customerId: connection.customer_id,
          details,
        });
      },
    }),
  );
}

connectionMutation(
  'shareConnection',
  { permission: 'connections.share', action: 'connection.share', description: 'Personal → shared with the whole customer.' },
  (ctx, c) => setConnectionScope(ctx.db, c, 'shared', userIdOf(ctx), ctx.confinedToCustomer !== null),
);
connectionMutation(
  'unshareConnection',
  { permission: 'connections.share', action: 'connection.unshare', description: 'Shared → personal to its owner again.' },
  (ctx, c) => setConnectionScope(ctx.db, c, 'user', userIdOf(ctx), ctx.confinedToCustomer !== null),
);
connectionMutation(
  'refreshConnectionToken',
  {
    permission: 'connections.update',
    action: 'credential.token_refresh',
    description: 'Exchange the refresh token for a new access token now.',
  },
  async (ctx, c) => {
    try {
      const expiresAt = await refreshConnectionToken(ctx.db, ctx.services.cipher, ctx.services.refresher, c);
      return { expiresAt: expiresAt?.toISOString() ?? null };
    } catch (error) {
      if (error instanceof TokenRefreshError) throw conflict(error.message);
      throw error;
    }
  },
);

builder.mutationFields((t) => ({
  createConnection: t.field({
    type: ConnectionRef,
    nullable: true,
    description: 'Connect a customer to an app (within its connections limit).',
    authScopes: { permission: 'connections.create' },
    grantScopes: ['mutationResult'],
    audit: 'permission',
    args: { input: t.arg({ type: CreateConnectionInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const customerId = customerFor(ctx, args.input.customerId);
      const id = await createConnection(ctx.db, ctx.services.cipher, userIdOf(ctx), principalOf(ctx).orgId, {
        customerId,
        connectorId: requireId('input.connectorId', args.input.connectorId),
        name: args.input.name,
        scope: args.input.shared ? 'shared' : 'user',
        credentials: args.input.credentials,
      });
      const connection = await requireConnection(ctx.db, id);
      // Never the credentials: only what a reader of the trail needs.
      return auditOutcome(info, connection, {
        resourceId: id,
        customerId,
        details: { connectorId: connection.connector_id, scope: connection.scope },
      });
    },
  }),
  updateConnection: t.field({
    type: ConnectionRef,
    nullable: true,
    authScopes: { permission: 'connections.update' },
    grantScopes: ['mutationResult'],
    audit: 'permission',
    args: { input: t.arg({ type: UpdateConnectionInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const connection = await requireConnection(ctx.db, requireId('input.id', args.input.id));
      await updateConnection(ctx.db, ctx.services.cipher, connection, {
        name: args.input.name,
        credentials: args.input.credentials,
      });
      return auditOutcome(info, await requireConnection(ctx.db, connection.id), {
        resourceId: connection.id,
        customerId: connection.customer_id,
        details: { credentialsReplaced: args.input.credentials != null },
      });
    },
  }),
  deleteConnection: t.field({
    type: DeleteConnectionPayload,
    nullable: true,
    authScopes: { permission: 'connections.delete' },
    grantScopes: ['mutationResult'],
    audit: 'permission',
    args: { input: t.arg({ type: ConnectionIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const connection = await requireConnection(ctx.db, requireId('input.id', args.input.id));
      await deleteConnection(ctx.db, connection.id);
      return auditOutcome(info, { id: connection.id }, { resourceId: connection.id, customerId: connection.customer_id });
    },
  }),
  testConnection: t.field({
    type: ConnectionTestRef,
    nullable: true,
    description: 'Check the stored credentials are readable, complete and current; updates the status.',
    authScopes: { permission: 'connections.execute' },
    grantScopes: ['mutationResult'],
    audit: auditAs('connection.test', 'connection'),
    args: { input: t.arg({ type: ConnectionIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const connection = await requireConnection(ctx.db, requireId('input.id', args.input.id));
      const result = await testConnection(ctx.db, ctx.services.cipher, connection);
      return auditOutcome(
        info,
        { ...result, connection: await requireConnection(ctx.db, connection.id) },
        { resourceId: connection.id, customerId: connection.customer_id, details: { ok: result.ok } },
      );
    },
  }),
  runConnectionAction: t.field({
    type: ExecutionRef,
    nullable: true,
    description: 'Queue an action on the connection (counts toward the customer’s monthly executions).',
    authScopes: { permission: 'connections.execute' },
    grantScopes: ['mutationResult'],
    audit: auditAs('connection.run_action', 'connection'),
    args: { input: t.arg({ type: RunConnectionActionInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const connection = await requireConnection(ctx.db, requireId('input.id', args.input.id));
      if (connection.status === 'disconnected') throw conflict('This connection is disconnected.');
      const action = requireText('input.action', args.input.action, 120);
      const parameters = args.input.parameters == null ? {} : requireJsonObject('input.parameters', args.input.parameters);
      const execution = await enqueueConnectionAction(ctx.db, userIdOf(ctx), connection, action, parameters);
      return auditOutcome(info, execution, {
        resourceId: connection.id,
        customerId: connection.customer_id,
        details: { action, executionId: execution.id },
      });
    },
  }),
}));
