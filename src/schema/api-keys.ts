/**
 * Settings → API Keys: service principals (API keys TEST/LIVE, runner keys, registered OIDC
 * clients). Everything here needs `settings.manage`; the secret appears once, in the answer to
 * createApiKey / rotateApiKey, and in no list, log line or audit event.
 */
import {
  createServicePrincipal,
  listServicePrincipals,
  loadServicePrincipals,
  prefixOf,
  requireServicePrincipal,
  revokeServicePrincipal,
  rotateServicePrincipal,
  type ServicePrincipalRow,
} from '../domain/service-principals.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { CustomerRef } from './customers.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { RoleRef } from './roles.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';
import { WorkspaceRef } from './workspaces.js';
import { PERMISSION_KEYS } from '../authz/permissions.js';
import { permissionsForEnvironment } from '../auth/principal.js';

export const ServicePrincipalKindEnum = builder.enumType('ServicePrincipalKind', {
  values: {
    API_KEY: { value: 'api_key', description: 'A key (gwk_…) acting with its role.' },
    RUNNER: { value: 'runner', description: 'A runner key (gwr_…): claims executions and reports their outcome.' },
    OIDC_CLIENT: {
      value: 'oidc_client',
      description:
        'A client of the configured OIDC issuer (e.g. a Keycloak service account) whose client-credentials tokens act as this principal.',
    },
  } as const,
});

const KeyEnvironmentEnum = builder.enumType('KeyEnvironment', {
  values: {
    TEST: { value: 'test', description: 'Never holds a *.deploy_prod permission, whatever its role.' },
    LIVE: { value: 'live' },
  } as const,
});

const ApiKeyStatusEnum = builder.enumType('ApiKeyStatus', {
  values: { ACTIVE: { value: 'active' }, REVOKED: { value: 'revoked' }, EXPIRED: { value: 'expired' } } as const,
});

export const ApiKeyRef = builder.objectRef<ServicePrincipalRow>('ApiKey');

ApiKeyRef.implement({
  description: 'A service principal of the organization: an API key, a runner key or a registered OIDC client.',
  authScopes: readOrMutationResult({ permission: 'settings.manage' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    kind: t.field({ type: ServicePrincipalKindEnum, resolve: (k) => k.kind }),
    prefix: t.string({
      nullable: true,
      description: 'The key’s visible start (gwk_live_…), to recognise it; null for OIDC clients.',
      resolve: (k) => prefixOf(k),
    }),
    environment: t.field({ type: KeyEnvironmentEnum, nullable: true, resolve: (k) => k.environment }),
    oidcClientId: t.exposeString('oidc_client_id', { nullable: true }),
    role: t.field({
      type: RoleRef,
      nullable: true,
      description: 'Null for a runner without a role (it may then only claim and report executions).',
      resolve: (k, _args, ctx) => (k.role_id ? ctx.loaders.role.load(k.role_id) : null),
    }),
    permissions: t.stringList({
      description:
        'What the key holds: its role’s permissions (without *.deploy_prod for TEST keys; only connectors, connections, workflows, agents, tools and executions for workspace-scoped keys), in matrix order.',
      resolve: async (k, _args, ctx) => {
        const role = k.role_id ? await ctx.loaders.role.load(k.role_id) : null;
        const held = permissionsForEnvironment(role?.permissions ?? [], k.environment, k.workspace_id !== null);
        return PERMISSION_KEYS.filter((p) => held.has(p));
      },
    }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      description: 'Set: the key is confined to this customer, exactly like an End User.',
      resolve: (k, _args, ctx) => (k.customer_id ? ctx.loaders.customer.load(k.customer_id) : null),
    }),
    workspaceId: t.exposeID('workspace_id', {
      nullable: true,
      description:
        'Set: the key acts only in this workspace (as if it always sent X-Workspace-Id), with nothing organization-wide.',
    }),
    workspace: t.field({
      type: WorkspaceRef,
      nullable: true,
      description: 'The workspace the key is scoped to (see workspaceId).',
      resolve: (k, _args, ctx) => (k.workspace_id ? ctx.loaders.workspace.load(k.workspace_id) : null),
    }),
    status: t.field({ type: ApiKeyStatusEnum, resolve: (k) => k.status }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (k, _args, ctx) => (k.created_by ? ctx.loaders.user.load(k.created_by) : null),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (k) => k.created_at }),
    lastUsedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Recorded at most every few minutes, not on every request.',
      resolve: (k) => k.last_used_at,
    }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.expires_at }),
    rotatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.rotated_at }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.revoked_at }),
    revokedBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (k, _args, ctx) => (k.revoked_by ? ctx.loaders.user.load(k.revoked_by) : null),
    }),
  }),
});

const ApiKeySecretRef = builder.objectRef<{ apiKey: ServicePrincipalRow; secret: string | null }>('ApiKeyWithSecret').implement({
  description: 'The answer to creating or rotating a key: the only time its secret is shown.',
  authScopes: readOrMutationResult({ permission: 'settings.manage' }),
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (r) => r.apiKey }),
    secret: t.exposeString('secret', {
      nullable: true,
      description: 'Send it as `Authorization: Bearer <secret>`. Shown once; null for OIDC clients.',
    }),
  }),
});

const ApiKeyFilter = builder.inputType('ApiKeyFilter', {
  fields: (t) => ({
    kind: t.field({ type: ServicePrincipalKindEnum }),
    status: t.field({ type: ApiKeyStatusEnum }),
    environment: t.field({ type: KeyEnvironmentEnum }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.connection(
    {
      type: ApiKeyRef,
      nullable: true,
      description: 'Newest first.',
      authScopes: { permission: 'settings.manage' },
      args: { filter: t.arg({ type: ApiKeyFilter }) },
      resolve: (_root, args, ctx, info) =>
        listServicePrincipals(ctx.db, { ...args.filter }, args, selectsField(info, 'totalCount')),
    },
    connectionOptions('ApiKey'),
    edgeOptions('ApiKey'),
  ),
  apiKey: t.field({
    type: ApiKeyRef,
    nullable: true,
    authScopes: { permission: 'settings.manage' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireServicePrincipal(ctx.db, requireId('id', args.id)),
  }),
}));

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    kind: t.field({ type: ServicePrincipalKindEnum, description: 'Default API_KEY.' }),
    roleId: t.id({
      description: 'A system role (not Owner) or a custom role whose permissions you hold. Optional for runners only.',
    }),
    customerId: t.id({ description: 'Confine the key to one customer (required for the End User role).' }),
    workspaceId: t.id({
      description:
        'Confine the key to one workspace (not with customerId; not for runners): it acts only there and holds only its role’s connectors, connections, workflows, agents, tools and executions permissions.',
    }),
    environment: t.field({ type: KeyEnvironmentEnum, description: 'Required for keys; not for OIDC clients.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'Optional; must be in the future.' }),
    oidcClientId: t.string({ description: 'For OIDC_CLIENT: the client id its tokens carry (client_id / azp).' }),
  }),
});

const ApiKeyIdInput = builder.inputType('ApiKeyIdInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

async function reload(ctx: Parameters<typeof principalOf>[0], id: string): Promise<ServicePrincipalRow> {
  return (await loadServicePrincipals(ctx.db, [id]))[0]!;
}

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: ApiKeySecretRef,
    nullable: true,
    description: 'Create an API key, a runner key or register an OIDC client. The secret is in this answer only.',
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('api_key.create', 'api_key'),
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const input = args.input;
      const created = await createServicePrincipal(ctx.db, principalOf(ctx), userIdOf(ctx), ctx.services.oidcIssuer, {
        name: input.name,
        kind: input.kind ?? 'api_key',
        roleId: input.roleId ? requireId('input.roleId', input.roleId) : null,
        customerId: input.customerId ? requireId('input.customerId', input.customerId) : null,
        workspaceId: input.workspaceId ? requireId('input.workspaceId', input.workspaceId) : null,
        environment: input.environment ?? null,
        expiresAt: input.expiresAt ?? null,
        oidcClientId: input.oidcClientId ?? null,
      });
      const apiKey = await reload(ctx, created.id);
      return auditOutcome(
        info,
        { apiKey, secret: created.secret },
        {
          resourceId: created.id,
          customerId: apiKey.customer_id,
          details: {
            kind: apiKey.kind,
            name: apiKey.name,
            roleId: apiKey.role_id,
            environment: apiKey.environment,
            workspaceId: apiKey.workspace_id,
            prefix: prefixOf(apiKey),
          },
        },
      );
    },
  }),
  rotateApiKey: t.field({
    type: ApiKeySecretRef,
    nullable: true,
    description: 'A new secret for the key; the old one stops working on the next request, on every replica.',
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('api_key.rotate', 'api_key'),
    args: { input: t.arg({ type: ApiKeyIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      const secret = await rotateServicePrincipal(ctx.db, principalOf(ctx), id);
      const apiKey = await reload(ctx, id);
      return auditOutcome(
        info,
        { apiKey, secret },
        { resourceId: id, customerId: apiKey.customer_id, details: { prefix: prefixOf(apiKey) } },
      );
    },
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    nullable: true,
    description: 'The key (or OIDC client) stops working on the next request, on every replica. Kept for the audit trail.',
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('api_key.revoke', 'api_key'),
    args: { input: t.arg({ type: ApiKeyIdInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await revokeServicePrincipal(ctx.db, userIdOf(ctx), id);
      const apiKey = await reload(ctx, id);
      return auditOutcome(info, apiKey, { resourceId: id, customerId: apiKey.customer_id });
    },
  }),
}));
