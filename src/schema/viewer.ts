/** `viewer`: who you are, where you act, with which role and permissions. */
import { PERMISSION_KEYS, PROJECT_PERMISSION_KEYS, translateProjectPermissions } from '../authz/permissions.js';
import type { ProjectRoleGrant, WorkspaceAccess } from '../authz/workspace-access.js';
import { requireProjectRole } from '../domain/project-roles.js';
import { ProjectRoleRef } from './project-roles.js';
import { heldPermissions } from '../authz/scopes.js';
import type { OrganizationRow } from '../domain/organizations.js';
import { roleOfPrincipal } from '../domain/roles.js';
import { permissionSources } from '../domain/teams.js';
import type { Context } from '../context.js';
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
          : { id: v.userId, email: null, name: ctx.principal?.kind === 'service' ? ctx.principal.name : null },
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
      description:
        'Your effective permissions there (your role and your teams’ roles; in a customer’s context, only the customer-scoped ones), in matrix order.',
      resolve: (_v, _args, ctx) => {
        const held = heldPermissions(ctx);
        return PERMISSION_KEYS.filter((p) => held.has(p));
      },
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
    resolve: (_root, _args, ctx) => (ctx.caller.kind === 'anonymous' ? null : { userId: ctx.caller.userId }),
  }),
);

interface ReceivedInvitation {
  invitation_id: string;
  org_id: string;
  org_name: string;
  role_name: string;
  expires_at: Date;
  invited_by_name: string | null;
}

const ReceivedInvitationRef = builder.objectRef<ReceivedInvitation>('ReceivedInvitation').implement({
  description: 'A pending invitation to your verified email address.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    id: t.exposeID('invitation_id', { description: 'Pass it to acceptInvitation.' }),
    organizationId: t.exposeID('org_id'),
    organizationName: t.exposeString('org_name'),
    roleName: t.exposeString('role_name'),
    invitedBy: t.exposeString('invited_by_name', { nullable: true }),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.expires_at }),
  }),
});

const JoinableOrganizationRef = builder
  .objectRef<{ org_id: string; org_name: string; auto_approve: boolean }>('JoinableOrganization')
  .implement({
    description: 'An organization whose email domain is your verified email’s.',
    authScopes: { authenticated: true },
    fields: (t) => ({
      id: t.exposeID('org_id'),
      name: t.exposeString('org_name'),
      autoApprove: t.exposeBoolean('auto_approve', { description: 'Asking to join makes you a member at once.' }),
    }),
  });

const GrantKindEnum = builder.enumType('PermissionGrantKind', {
  description:
    'ROLE: your organization role; TEAM: a team’s role; PROJECT_ROLE: a project role in the workspace in use (yours or a team’s).',
  values: ['ROLE', 'TEAM', 'PROJECT_ROLE'] as const,
});

interface GrantSource {
  kind: 'ROLE' | 'TEAM' | 'PROJECT_ROLE';
  id: string;
  name: string;
}
const PermissionGrantSourceRef = builder.objectRef<GrantSource>('PermissionGrantSource').implement({
  authScopes: { authenticated: true },
  fields: (t) => ({
    kind: t.field({ type: GrantKindEnum, resolve: (g) => g.kind }),
    id: t.exposeID('id', { description: 'The role or team id.' }),
    name: t.exposeString('name'),
  }),
});

const PermissionSourceRef = builder.objectRef<{ permission: string; sources: GrantSource[] }>('PermissionSource').implement({
  description: 'One of your effective permissions and what grants it: your role, your teams’ roles.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    permission: t.exposeString('permission'),
    sources: t.field({ type: [PermissionGrantSourceRef], resolve: (p) => p.sources }),
  }),
});

function verifiedEmail(ctx: Context): string | null {
  return ctx.caller.kind === 'user' && ctx.caller.token.emailVerified ? ctx.caller.token.email : null;
}

builder.objectFields(ViewerRef, (t) => ({
  invitations: t.field({
    type: [ReceivedInvitationRef],
    description: 'Pending invitations to your verified email address, in any organization.',
    resolve: async (_v, _args, ctx) => {
      const email = verifiedEmail(ctx);
      if (!email) return [];
      return (await ctx.db.query<ReceivedInvitation>('select * from app_private.invitations_for($1)', [email])).rows;
    },
  }),
  joinableOrganizations: t.field({
    type: [JoinableOrganizationRef],
    description: 'Organizations you may ask to join by your verified email’s domain (requestToJoin).',
    resolve: async (_v, _args, ctx) => {
      const email = verifiedEmail(ctx);
      if (!email) return [];
      const { rows } = await ctx.db.query<{ org_id: string; org_name: string; auto_approve: boolean }>(
        `select d.* from app_private.organizations_for_domain($1) d
         where not exists (select 1 from memberships m where m.org_id = d.org_id and m.user_id = app_public.current_user_id())`,
        [email],
      );
      return rows;
    },
  }),
  permissionSources: t.field({
    type: [PermissionSourceRef],
    description: 'Where each of your effective permissions comes from, in matrix order.',
    resolve: async (_v, _args, ctx) => {
      const principal = ctx.principal;
      if (!principal) return [];
      const byPermission = new Map<string, GrantSource[]>();
      const add = (permission: string, source: GrantSource) =>
        byPermission.set(permission, [...(byPermission.get(permission) ?? []), source]);
      if (principal.kind === 'service' || principal.customerId || ctx.confinedToCustomer) {
        // Customer-confined requests cannot read org-internal roles and teams; End Users and
        // service principals have no teams, so everything comes from their role.
        for (const permission of principal.permissions)
          add(permission, { kind: 'ROLE', id: principal.roleId, name: principal.roleName });
      } else {
        const rows = await permissionSources(ctx.db, principal.membershipId);
        const names = new Map<string, string>();
        const teamIds = [...new Set(rows.map((r) => r.team_id).filter((id): id is string => id !== null))];
        if (teamIds.length) {
          for (const team of (
            await ctx.db.query<{ id: string; name: string }>('select id, name from teams where id = any($1::uuid[])', [teamIds])
          ).rows) {
            names.set(team.id, team.name);
          }
        }
        for (const row of rows) {
          add(
            row.permission_key,
            row.source === 'role'
              ? { kind: 'ROLE', id: row.role_id, name: principal.roleName }
              : { kind: 'TEAM', id: row.team_id!, name: names.get(row.team_id!) ?? 'team' },
          );
        }
      }
      // In a workspace, permissions its project roles translate to name those roles as sources.
      for (const grant of ctx.workspace?.grants ?? []) {
        for (const permission of translateProjectPermissions(grant.permissions)) {
          add(permission, { kind: 'PROJECT_ROLE', id: grant.roleId ?? grant.systemKey!, name: projectGrantName(grant) });
        }
      }
      return PERMISSION_KEYS.filter((p) => byPermission.has(p)).map((permission) => ({
        permission,
        sources: byPermission.get(permission)!,
      }));
    },
  }),
}));

function projectGrantName(grant: ProjectRoleGrant): string {
  return grant.teamName ? `${grant.roleName} (team ${grant.teamName})` : grant.roleName;
}

const ViewerProjectRoleRef = builder.objectRef<ProjectRoleGrant>('ViewerProjectRole').implement({
  description: 'A project role you hold in the workspace in use: directly, or through a team.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    role: t.field({
      type: ProjectRoleRef,
      resolve: (g, _args, ctx) => requireProjectRole(ctx.db, g.roleId ?? g.systemKey!),
    }),
    teamId: t.exposeID('teamId', { nullable: true, description: 'Null: held directly.' }),
    teamName: t.exposeString('teamName', { nullable: true }),
  }),
});

const ProjectSourceKind = builder.enumType('ProjectPermissionSourceKind', {
  description:
    'ORGANIZATION_ROLE: your organization role amounts to it (Owner and Admin: all); PROJECT_ROLE: a project role here.',
  values: ['ORGANIZATION_ROLE', 'PROJECT_ROLE'] as const,
});

const ProjectPermissionSourceRef = builder
  .objectRef<{ permission: string; sources: { kind: 'ORGANIZATION_ROLE' | 'PROJECT_ROLE'; id: string; name: string }[] }>(
    'ProjectPermissionSource',
  )
  .implement({
    authScopes: { authenticated: true },
    fields: (t) => ({
      permission: t.exposeString('permission'),
      sources: t.field({
        type: [
          builder
            .objectRef<{ kind: 'ORGANIZATION_ROLE' | 'PROJECT_ROLE'; id: string; name: string }>('ProjectPermissionGrantSource')
            .implement({
              authScopes: { authenticated: true },
              fields: (f) => ({
                kind: f.field({ type: ProjectSourceKind, resolve: (s) => s.kind }),
                id: f.exposeID('id', { description: 'The organization role’s id, or the project role’s id or key.' }),
                name: f.exposeString('name'),
              }),
            }),
        ],
        resolve: (p) => p.sources,
      }),
    }),
  });

const ViewerWorkspaceRef = builder.objectRef<WorkspaceAccess>('ViewerWorkspace').implement({
  description: 'The workspace this request acts in (X-Workspace-Id) and what you may do there.',
  authScopes: { authenticated: true },
  fields: (t) => ({
    id: t.exposeID('workspaceId'),
    name: t.exposeString('name'),
    isDefault: t.exposeBoolean('isDefault'),
    projectRoles: t.field({
      type: [ViewerProjectRoleRef],
      description: 'Your project roles here: yours first, then your teams’. Owner and Admin need none.',
      resolve: (w) => w.grants,
    }),
    projectPermissions: t.stringList({
      description: 'Every project permission you hold here, in matrix order.',
      resolve: (w) => PROJECT_PERMISSION_KEYS.filter((p) => w.projectPermissions.has(p)),
    }),
    projectPermissionSources: t.field({
      type: [ProjectPermissionSourceRef],
      description: 'Where each project permission comes from.',
      resolve: (w, _args, ctx) =>
        PROJECT_PERMISSION_KEYS.filter((p) => w.projectPermissions.has(p)).map((permission) => ({
          permission,
          sources: [
            ...(w.fromOrganizationRole.has(permission)
              ? [{ kind: 'ORGANIZATION_ROLE' as const, id: ctx.principal!.roleId, name: ctx.principal!.roleName }]
              : []),
            ...w.grants
              .filter((g) => g.permissions.includes(permission))
              .map((g) => ({ kind: 'PROJECT_ROLE' as const, id: g.roleId ?? g.systemKey!, name: projectGrantName(g) })),
          ],
        })),
    }),
    translatedPermissions: t.stringList({
      description: 'Organization permissions you hold here only because of a project role, in matrix order.',
      resolve: (w) => PERMISSION_KEYS.filter((p) => w.translated.has(p)),
    }),
  }),
});

builder.objectField(ViewerRef, 'workspace', (t) =>
  t.field({
    type: ViewerWorkspaceRef,
    nullable: true,
    description: 'The workspace in use (X-Workspace-Id), with your project roles and permissions there; null without one.',
    resolve: (_v, _args, ctx) => ctx.workspace,
  }),
);
