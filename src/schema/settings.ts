/**
 * Settings → Organization: name, timezone, email domain, auto-approve. Owner-only: transfer
 * ownership and delete the organization (capabilities, not permissions: `organizationOwner`).
 */
import {
  deleteOrganization,
  loadSettings,
  transferOwnership,
  updateSettings,
  type OrganizationSettingsRow,
} from '../domain/settings.js';
import { requireMember } from '../domain/people.js';
import { requireId } from '../domain/validation.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { auditAs, principalOf } from './caller.js';
import { OrganizationRef } from './organizations.js';
import { MemberRef } from './refs.js';
import { RoleRef } from './roles.js';

const OrganizationSettingsRef = builder.objectRef<OrganizationSettingsRow>('OrganizationSettings').implement({
  authScopes: { permission: 'settings.manage' },
  fields: (t) => ({
    timezone: t.exposeString('timezone', { description: 'IANA time zone; billing months follow it.' }),
    emailDomain: t.exposeString('email_domain', { nullable: true, description: 'People signing in with it may ask to join.' }),
    autoApproveDomainUsers: t.exposeBoolean('auto_approve_domain_users'),
    autoApproveRole: t.field({
      type: RoleRef,
      nullable: true,
      description: 'The role auto-approved people get (Viewer when unset).',
      resolve: (s, _args, ctx) => (s.auto_approve_role_id ? ctx.loaders.role.load(s.auto_approve_role_id) : null),
    }),
  }),
});

builder.objectField(OrganizationRef, 'settings', (t) =>
  t.field({
    type: OrganizationSettingsRef,
    nullable: true,
    authScopes: { permission: 'settings.manage' },
    resolve: (o, _args, ctx) => (ctx.principal?.orgId === o.id ? loadSettings(ctx.db) : null),
  }),
);

const UpdateOrganizationSettingsInput = builder.inputType('UpdateOrganizationSettingsInput', {
  fields: (t) => ({
    name: t.string(),
    timezone: t.string({ description: 'IANA time zone, e.g. Europe/Berlin.' }),
    emailDomain: t.string({ description: 'e.g. example.com; an empty string clears it.' }),
    autoApproveDomainUsers: t.boolean(),
    autoApproveRoleId: t.id({ description: 'A staff role (not Owner) that you hold yourself.' }),
  }),
});

const TransferOwnershipInput = builder.inputType('TransferOwnershipInput', {
  fields: (t) => ({ memberId: t.id({ required: true, description: 'An active staff member; you become an Admin.' }) }),
});

const DeleteOrganizationInput = builder.inputType('DeleteOrganizationInput', {
  fields: (t) => ({ confirmName: t.string({ required: true, description: 'The organization’s name, exactly.' }) }),
});

const TransferOwnershipPayload = builder
  .objectRef<{ previousOwnerId: string; newOwnerId: string }>('TransferOwnershipPayload')
  .implement({
    authScopes: { member: true },
    fields: (t) => ({
      previousOwner: t.field({ type: MemberRef, resolve: (p, _args, ctx) => requireMember(ctx.db, p.previousOwnerId) }),
      newOwner: t.field({ type: MemberRef, resolve: (p, _args, ctx) => requireMember(ctx.db, p.newOwnerId) }),
    }),
  });

const DeleteOrganizationPayload = builder.objectRef<{ id: string }>('DeleteOrganizationPayload').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({ deletedOrganizationId: t.exposeID('id') }),
});

builder.mutationFields((t) => ({
  updateOrganizationSettings: t.field({
    type: OrganizationRef,
    nullable: true,
    authScopes: { permission: 'settings.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('organization.update_settings', 'organization'),
    args: { input: t.arg({ type: UpdateOrganizationSettingsInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      await updateSettings(ctx.db, principalOf(ctx), {
        ...args.input,
        autoApproveRoleId: args.input.autoApproveRoleId
          ? requireId('input.autoApproveRoleId', args.input.autoApproveRoleId)
          : null,
      });
      const settings = await loadSettings(ctx.db);
      return auditOutcome(info, settings, { resourceId: settings.id, details: { changed: Object.keys(args.input) } });
    },
  }),
  transferOwnership: t.field({
    type: TransferOwnershipPayload,
    nullable: true,
    description: 'Owner only. There is exactly one Owner at every moment; you become an Admin.',
    authScopes: { organizationOwner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('organization.transfer_ownership', 'organization'),
    args: { input: t.arg({ type: TransferOwnershipInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const principal = principalOf(ctx);
      if (principal.kind !== 'member') throw new Error('unreachable: organizationOwner is a person');
      const newOwnerId = requireId('input.memberId', args.input.memberId);
      await transferOwnership(ctx.db, principal, newOwnerId);
      return auditOutcome(
        info,
        { previousOwnerId: principal.membershipId, newOwnerId },
        { resourceId: principal.orgId, details: { from: principal.membershipId, to: newOwnerId } },
      );
    },
  }),
  deleteOrganization: t.field({
    type: DeleteOrganizationPayload,
    nullable: true,
    description: 'Owner only. Deletes the organization and all its data; its audit trail is kept (see README).',
    authScopes: { organizationOwner: true },
    grantScopes: ['mutationResult'],
    audit: auditAs('organization.delete', 'organization'),
    args: { input: t.arg({ type: DeleteOrganizationInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await deleteOrganization(ctx.db, args.input.confirmName);
      return auditOutcome(info, { id }, { resourceId: id });
    },
  }),
}));
