import {
  createCustomer,
  listCustomers,
  requireCustomer,
  setCustomerLimits,
  setCustomerStatus,
  updateCustomer,
  type CustomerRow,
  type CustomerUsage,
} from '../domain/customers.js';
import { inviteMember, requireInvitation } from '../domain/people.js';
import { requireId } from '../domain/validation.js';
import { notFound } from '../errors.js';
import { auditOutcome } from './audit-plugin.js';
import { builder } from './builder.js';
import { readOrMutationResult } from '../authz/scopes.js';
import { auditAs, principalOf, userIdOf } from './caller.js';
import { connectionOptions, edgeOptions } from './paging.js';
import { InvitationRef } from './refs.js';
import { selectsField } from './selection.js';

export const CustomerRegion = builder.enumType('CustomerRegion', { values: ['US', 'EU', 'APAC'] as const });
export const CustomerStatus = builder.enumType('CustomerStatus', {
  values: { ACTIVE: { value: 'active' }, SUSPENDED: { value: 'suspended' } } as const,
});

export const CustomerRef = builder.objectRef<CustomerRow>('Customer').implement({
  description: "One of the organization's customers (a tenant). End Users see only their own.",
  authScopes: readOrMutationResult({ permission: 'customers.read' }),
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    region: t.field({ type: CustomerRegion, resolve: (c) => c.region }),
    plan: t.exposeString('plan'),
    status: t.field({ type: CustomerStatus, resolve: (c) => c.status }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.created_at }),
  }),
});

const CustomerLimitsRef = builder.objectRef<CustomerRow>('CustomerLimits').implement({
  description: 'Per-customer billing limits; null means no limit. Resources enforce them (CONFLICT when reached).',
  authScopes: { permission: 'customers.read' },
  fields: (t) => ({
    maxConnections: t.exposeInt('max_connections', { nullable: true }),
    maxExecutionsPerMonth: t.exposeInt('max_executions_per_month', { nullable: true }),
  }),
});

const CustomerUsageRef = builder.objectRef<CustomerUsage>('CustomerUsage').implement({
  authScopes: { permission: 'customers.read' },
  fields: (t) => ({
    executionsThisMonth: t.exposeInt('executions_this_month', { description: 'In the organization’s time zone.' }),
  }),
});

builder.objectFields(CustomerRef, (t) => ({
  limits: t.field({ type: CustomerLimitsRef, resolve: (c) => c }),
  usage: t.field({
    type: CustomerUsageRef,
    resolve: async (c, _args, ctx) => (await ctx.loaders.customerUsage.load(c.id)) ?? { executions_this_month: 0 },
  }),
  updatedAt: t.field({ type: 'DateTime', resolve: (c) => c.updated_at }),
}));

const CustomerFilter = builder.inputType('CustomerFilter', {
  fields: (t) => ({
    status: t.field({ type: CustomerStatus }),
    region: t.field({ type: CustomerRegion }),
    search: t.string({ description: 'Case-insensitive match on name or slug.' }),
  }),
});

builder.queryFields((t) => ({
  customers: t.connection(
    {
      type: CustomerRef,
      nullable: true,
      description: 'By name. End Users see only their own customer.',
      authScopes: { permission: 'customers.read' },
      args: { filter: t.arg({ type: CustomerFilter }) },
      resolve: (_root, args, ctx, info) =>
        listCustomers(
          ctx.db,
          { status: args.filter?.status, region: args.filter?.region, search: args.filter?.search },
          args,
          selectsField(info, 'totalCount'),
        ),
    },
    connectionOptions('Customer'),
    edgeOptions('Customer'),
  ),
  customer: t.field({
    type: CustomerRef,
    nullable: true,
    authScopes: { permission: 'customers.read' },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => requireCustomer(ctx.db, requireId('id', args.id)),
  }),
}));

const CreateCustomerInput = builder.inputType('CreateCustomerInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    slug: t.string({ description: 'Unique in your organization; default derived from the name.' }),
    region: t.field({ type: CustomerRegion, description: 'Default US.' }),
    plan: t.string({ description: 'Default "starter".' }),
  }),
});

const UpdateCustomerInput = builder.inputType('UpdateCustomerInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    slug: t.string(),
    region: t.field({ type: CustomerRegion }),
    plan: t.string(),
  }),
});

const CustomerIdInput = builder.inputType('CustomerIdInput', { fields: (t) => ({ id: t.id({ required: true }) }) });

const SetCustomerLimitsInput = builder.inputType('SetCustomerLimitsInput', {
  fields: (t) => ({
    customerId: t.id({ required: true }),
    maxConnections: t.int({ description: 'Null: no limit.' }),
    maxExecutionsPerMonth: t.int({ description: 'Null: no limit.' }),
  }),
});

const InviteCustomerAdminInput = builder.inputType('InviteCustomerAdminInput', {
  fields: (t) => ({ customerId: t.id({ required: true }), email: t.string({ required: true }) }),
});

function statusMutation(name: string, action: string, status: CustomerRow['status']) {
  builder.mutationField(name, (t) =>
    t.field({
      type: CustomerRef,
      nullable: true,
      authScopes: { permission: 'customers.manage' },
      grantScopes: ['mutationResult'],
      audit: auditAs(action),
      args: { input: t.arg({ type: CustomerIdInput, required: true }) },
      resolve: async (_root, args, ctx, info) => {
        const id = requireId('input.id', args.input.id);
        await setCustomerStatus(ctx.db, id, status);
        return auditOutcome(info, await requireCustomer(ctx.db, id), { resourceId: id, customerId: id });
      },
    }),
  );
}
statusMutation('activateCustomer', 'customer.activate', 'active');
statusMutation('suspendCustomer', 'customer.suspend', 'suspended');

builder.mutationFields((t) => ({
  createCustomer: t.field({
    type: CustomerRef,
    nullable: true,
    authScopes: { permission: 'customers.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('customer.create'),
    args: { input: t.arg({ type: CreateCustomerInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = await createCustomer(ctx.db, args.input);
      const customer = await requireCustomer(ctx.db, id);
      return auditOutcome(info, customer, {
        resourceId: id,
        customerId: id,
        details: { name: customer.name, slug: customer.slug },
      });
    },
  }),
  updateCustomer: t.field({
    type: CustomerRef,
    nullable: true,
    authScopes: { permission: 'customers.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('customer.update'),
    args: { input: t.arg({ type: UpdateCustomerInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.id', args.input.id);
      await updateCustomer(ctx.db, id, args.input);
      return auditOutcome(info, await requireCustomer(ctx.db, id), { resourceId: id, customerId: id });
    },
  }),
  setCustomerLimits: t.field({
    type: CustomerRef,
    nullable: true,
    description: 'Billing: per-customer limits the resources enforce.',
    authScopes: { permission: 'billing.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('billing.set_limits', 'customer'),
    args: { input: t.arg({ type: SetCustomerLimitsInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const id = requireId('input.customerId', args.input.customerId);
      const limits = { maxConnections: args.input.maxConnections, maxExecutionsPerMonth: args.input.maxExecutionsPerMonth };
      await setCustomerLimits(ctx.db, id, limits);
      return auditOutcome(info, await requireCustomer(ctx.db, id), { resourceId: id, customerId: id, details: limits });
    },
  }),
  inviteCustomerAdmin: t.field({
    type: InvitationRef,
    nullable: true,
    description: 'Invite the customer’s administrator as an End User of that customer.',
    authScopes: { permission: 'customers.manage' },
    grantScopes: ['mutationResult'],
    audit: auditAs('customer.invite_admin', 'invitation'),
    args: { input: t.arg({ type: InviteCustomerAdminInput, required: true }) },
    resolve: async (_root, args, ctx, info) => {
      const customerId = requireId('input.customerId', args.input.customerId);
      await requireCustomer(ctx.db, customerId);
      const { rows } = await ctx.db.query<{ id: string }>(`select id from roles where system_key = 'end_user'`);
      if (!rows[0]) throw notFound('Role', 'end_user');
      const id = await inviteMember(ctx.db, principalOf(ctx), userIdOf(ctx), {
        email: args.input.email,
        roleId: rows[0].id,
        customerId,
      });
      const invitation = await requireInvitation(ctx.db, id);
      return auditOutcome(info, invitation, { resourceId: id, customerId, details: { email: invitation.email } });
    },
  }),
}));
