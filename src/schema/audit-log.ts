/** Settings → Audit Log: every permission-gated action, newest first. */
import { auditFacets, listAuditEvents, type AuditEventRow } from '../domain/audit-log.js';
import { requireId } from '../domain/validation.js';
import { builder } from './builder.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { selectsField } from './selection.js';
import { UserRef } from './users.js';
import { ServicePrincipalKindEnum } from './api-keys.js';
import type { ServicePrincipalRow } from '../domain/service-principals.js';

const AuditOutcomeEnum = builder.enumType('AuditOutcome', {
  values: { SUCCESS: { value: 'success' }, FAILURE: { value: 'failure' }, DENIED: { value: 'denied' } } as const,
});
const ActorTypeEnum = builder.enumType('AuditActorType', {
  values: {
    USER: { value: 'user' },
    SYSTEM: { value: 'system' },
    SERVICE: { value: 'service', description: 'A service principal: an API key, a runner or an OIDC client.' },
  } as const,
});

const AuditServicePrincipalRef = builder
  .objectRef<{ id: string; row: ServicePrincipalRow | null }>('AuditServicePrincipal')
  .implement({
    description: 'The key (or runner, or OIDC client) that acted, and who created it.',
    authScopes: { permission: 'audit_log.read' },
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.string({ nullable: true, resolve: (p) => p.row?.name ?? null }),
      kind: t.field({ type: ServicePrincipalKindEnum, nullable: true, resolve: (p) => p.row?.kind ?? null }),
      createdBy: t.field({
        type: UserRef,
        nullable: true,
        description: 'The person who created the key.',
        resolve: (p, _args, ctx) => (p.row?.created_by ? ctx.loaders.user.load(p.row.created_by) : null),
      }),
    }),
  });

const AuditActorRef = builder.objectRef<AuditEventRow>('AuditActor').implement({
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({
    type: t.field({ type: ActorTypeEnum, resolve: (e) => e.actor_type }),
    name: t.string({
      description: 'As it was when the event happened ("system" for the system).',
      resolve: (e) => e.actor_name ?? 'system',
    }),
    servicePrincipal: t.field({
      type: AuditServicePrincipalRef,
      nullable: true,
      description: 'Set when a service principal acted (then `user` is its own identity, named after it).',
      resolve: async (e, _args, ctx) =>
        e.actor_principal_id
          ? { id: e.actor_principal_id, row: await ctx.loaders.servicePrincipal.load(e.actor_principal_id) }
          : null,
    }),
    user: t.field({
      type: UserRef,
      nullable: true,
      description: 'Null for the system, or a user no longer in the organization.',
      resolve: (e, _args, ctx) => (e.actor_user_id ? ctx.loaders.user.load(e.actor_user_id) : null),
    }),
  }),
});

const AuditEventRef = builder.objectRef<AuditEventRow>('AuditEvent').implement({
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({
    id: t.exposeID('id'),
    occurredAt: t.field({ type: 'DateTime', resolve: (e) => e.occurred_at }),
    actor: t.field({ type: AuditActorRef, resolve: (e) => e }),
    action: t.exposeString('action', { description: 'Dot notation: workflow.deploy_prod, role.create, auth.login…' }),
    resourceType: t.exposeString('resource_type'),
    resourceId: t.exposeString('resource_id', { nullable: true }),
    outcome: t.field({ type: AuditOutcomeEnum, resolve: (e) => e.outcome }),
    customerId: t.exposeID('customer_id', { nullable: true }),
    requestId: t.exposeString('request_id', { nullable: true }),
    clientIp: t.exposeString('client_ip', { nullable: true }),
    userAgent: t.exposeString('user_agent', { nullable: true }),
    details: t.field({ type: 'JSON', resolve: (e) => e.details }),
  }),
});

const AuditLogFilter = builder.inputType('AuditLogFilter', {
  fields: (t) => ({
    userId: t.id({ description: 'Events by this user.' }),
    system: t.boolean({ description: 'Only events by the system.' }),
    servicePrincipalId: t.id({ description: 'Events by this API key, runner or OIDC client.' }),
    action: t.string(),
    resourceType: t.string(),
    outcome: t.field({ type: AuditOutcomeEnum }),
    from: t.field({ type: 'DateTime', description: 'Inclusive.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive.' }),
  }),
});

const AuditLogFacetsRef = builder.objectRef<{ actions: string[]; resourceTypes: string[] }>('AuditLogFacets').implement({
  description: 'What the filters can choose from.',
  authScopes: { permission: 'audit_log.read' },
  fields: (t) => ({ actions: t.exposeStringList('actions'), resourceTypes: t.exposeStringList('resourceTypes') }),
});

builder.queryFields((t) => ({
  auditLog: t.connection(
    {
      type: AuditEventRef,
      nullable: true,
      description: 'Newest first.',
      authScopes: { permission: 'audit_log.read' },
      args: { filter: t.arg({ type: AuditLogFilter }) },
      resolve: (_root, args, ctx, info) =>
        listAuditEvents(
          ctx.db,
          {
            ...args.filter,
            userId: args.filter?.userId ? requireId('filter.userId', args.filter.userId) : null,
            servicePrincipalId: args.filter?.servicePrincipalId
              ? requireId('filter.servicePrincipalId', args.filter.servicePrincipalId)
              : null,
          },
          args,
          selectsField(info, 'totalCount'),
        ),
    },
    connectionOptions('AuditEvent'),
    edgeOptions('AuditEvent'),
  ),
  auditLogFacets: t.field({
    type: AuditLogFacetsRef,
    nullable: true,
    authScopes: { permission: 'audit_log.read' },
    resolve: (_root, _args, ctx) => auditFacets(ctx.db),
  }),
}));
