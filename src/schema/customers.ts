import type { CustomerRow } from '../domain/customers.js';
import { builder } from './builder.js';

export const CustomerRegion = builder.enumType('CustomerRegion', { values: ['US', 'EU', 'APAC'] as const });
export const CustomerStatus = builder.enumType('CustomerStatus', {
  values: { ACTIVE: { value: 'active' }, SUSPENDED: { value: 'suspended' } } as const,
});

export const CustomerRef = builder.objectRef<CustomerRow>('Customer').implement({
  description: "One of the organization's customers (a tenant). End Users see only their own.",
  authScopes: { permission: 'customers.read' },
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
