/** `viewer`: who you are, where you act, with which role and permissions. */
import { PERMISSION_KEYS } from '../authz/permissions.js';
import type { OrganizationRow } from '../domain/organizations.js';
import { roleOfPrincipal } from '../domain/roles.js';
import { builder } from './builder.js';
import { CustomerRef } from './customers.js';
import { OrganizationRef } from './organizations.js';
import { RoleRef } from './roles.js';
import { UserRef } from './users.js';

interface MembershipSummary {
  status: 'active' | 'inactive';
  created_at: Date;
  organization: OrganizationRow;
}

const MembershipStatus = builder.enumType('MembershipStatus', {
  values: { ACTIVE: { value: 'active' }, INACTIVE: { value: 'inactive' } } as const,
});

const OrganizationMembershipRef = builder.objectRef<MembershipSummary>('OrganizationMembership').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({
    organization: t.field({ type: OrganizationRef, resolve: (m) => m.organization }),
    status: t.field({ type: MembershipStatus, resolve: (m) => m.status }),
    joinedAt: t.field({ type: 'DateTime', resolve: (m) => m.created_at }),
  }),
});

const ViewerRef = builder.objectRef<{ userId: string }>('Viewer').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({
    // Both answer from the verified request itself (the user row mirrors the token's claims,
    // refreshed whenever they change), so a plain `viewer` query needs no database round trip.
    user: t.field({
      type: UserRef,
      resolve: (v, _args, ctx) =>
        ctx.caller.kind === 'user'
          ? { id: v.userId, email: ctx.caller.token.email, name: ctx.caller.token.name }
          : { id: v.userId, email: null, name: null },
    }),
    organization: t.field({
      type: OrganizationRef,
      nullable: true,
      description: 'The organization this request acts in (X-Organization-Id, or your only one).',
      resolve: (_v, _args, ctx) => (ctx.principal ? { id: ctx.principal.orgId, name: ctx.principal.orgName } : null),
    }),
    role: t.field({
      type: RoleRef,
      nullable: true,
      description: 'Your role in that organization.',
      resolve: (_v, _args, ctx) => (ctx.principal ? roleOfPrincipal(ctx.db, ctx.principal) : null),
    }),
    permissions: t.stringList({
      description: 'Your effective permissions there (your role and your teams’ roles), in matrix order.',
      resolve: (_v, _args, ctx) => PERMISSION_KEYS.filter((p) => ctx.principal?.permissions.has(p)),
    }),
    customer: t.field({
      type: CustomerRef,
      nullable: true,
      description: 'The customer this request is confined to (End Users, or staff sending X-Customer-Id).',
      resolve: (_v, _args, ctx) => (ctx.confinedToCustomer ? ctx.loaders.customer.load(ctx.confinedToCustomer) : null),
    }),
    organizations: t.field({
      type: [OrganizationMembershipRef],
      description: 'Every organization you belong to.',
      resolve: async (_v, _args, ctx) => {
        const { rows } = await ctx.db.query<MembershipSummary & { org_id: string; org_name: string; org_created_at: Date }>(
          `select m.status, m.created_at, o.id as org_id, o.name as org_name, o.created_at as org_created_at
           from memberships m join organizations o on o.id = m.org_id
           where m.user_id = app_public.current_user_id()
           order by lower(o.name), o.id`,
        );
        return rows.map((r) => ({
          status: r.status,
          created_at: r.created_at,
          organization: { id: r.org_id, name: r.org_name, created_at: r.org_created_at },
        }));
      },
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    nullable: true,
    description: 'The caller; null without a token.',
    authScopes: { public: true },
    resolve: (_root, _args, ctx) => (ctx.caller.kind === 'user' ? { userId: ctx.caller.userId } : null),
  }),
);
