import { createOrganization, loadOrganization, type OrganizationRow } from '../domain/organizations.js';
import { orgCreationPolicy } from '../config.js';
import { whyNotAllowedToCreate } from '../domain/organization-creation.js';
import { forbidden, notFound } from '../errors.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';

export const OrganizationRef = builder.objectRef<OrganizationRow>('Organization').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    createdAt: t.field({
      type: 'DateTime',
      resolve: async (o, _args, ctx) => {
        if (o.created_at) return o.created_at;
        const row = await loadOrganization(ctx.db, o.id);
        if (!row?.created_at) throw notFound('Organization', o.id);
        return row.created_at;
      },
    }),
  }),
});

const CreateOrganizationInput = builder.inputType('CreateOrganizationInput', {
  fields: (t) => ({ name: t.string({ required: true, description: '1–120 characters.' }) }),
});

builder.mutationField('createOrganization', (t) =>
  t.field({
    description:
      'Create an organization; you become its Owner. Act in it by sending its id in the X-Organization-Id header. ' +
      'Who may is a deployment setting (ORG_CREATION): anyone signed in, verified emails on an allow-list, or existing Owners.',
    type: OrganizationRef,
    nullable: true,
    authScopes: { person: true },
    grantScopes: ['mutationResult'],
    audit: { action: 'organization.create', resourceType: 'organization' },
    args: { input: t.arg({ type: CreateOrganizationInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      if (ctx.caller.kind !== 'user') throw new Error('unreachable: scope requires a person');
      const userId = ctx.caller.userId;
      const { token } = ctx.caller;
      const principals = ctx.services.principals;
      const refusal = await whyNotAllowedToCreate(
        orgCreationPolicy(ctx.services.config),
        { userId, email: token.email, emailVerified: token.emailVerified },
        { activeOrganizations: (id) => principals.activeOrganizations(id), principals },
      );
      if (refusal) throw forbidden(refusal, { setting: 'ORG_CREATION' });
      let created: OrganizationRow | null = null;
      // The Success event is written inside the new organization, so its Owner sees it.
      const orgId = await createOrganization(ctx.db, userId, args.input.name, async (id) => {
        created = await loadOrganization(ctx.db, id);
        await ctx.audit.success(ctx.db, { action: 'organization.create', resourceType: 'organization', resourceId: id });
      });
      if (!created) throw notFound('Organization', orgId);
      return auditOutcome(info, created, { resourceId: orgId, successRecorded: true });
    },
  }),
);
