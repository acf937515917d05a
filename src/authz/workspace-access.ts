/**
 * What a caller may do inside one workspace (DESIGN §3b): their organization permissions ∪ the
 * translation of the project permissions they hold there. Project permissions come from their
 * project role in that workspace, their teams' project roles there, and their organization role
 * (Owner and Admin hold all twelve everywhere; others hold those their organization permissions
 * already amount to). One function, for people and for service principals (a workspace-scoped
 * key has access in its own workspace only): give it the organization role and permissions and,
 * when the principal is a member, its membership id.
 */
import type pg from 'pg';
import {
  isProjectPermission,
  projectPermissionsOfOrganizationRole,
  translateProjectPermissions,
  type Permission,
  type ProjectPermission,
} from './permissions.js';

import type { Principal } from '../auth/principal.js';

type Queryable = { query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> };

/** One project role held in the workspace, directly or through a team. */
export interface ProjectRoleGrant {
  /** Null: held directly; else the team that holds it. */
  teamId: string | null;
  teamName: string | null;
  /** A system project role's key (admin, editor…) or null for a custom one. */
  systemKey: string | null;
  /** The custom project role's id, or null for a system one. */
  roleId: string | null;
  roleName: string;
  permissions: ProjectPermission[];
}

export interface WorkspaceAccess {
  workspaceId: string;
  name: string;
  isDefault: boolean;
  grants: ProjectRoleGrant[];
  /** Project permissions from the organization role alone (Owner/Admin: all twelve). */
  fromOrganizationRole: ReadonlySet<ProjectPermission>;
  /** Every project permission held in this workspace. */
  projectPermissions: ReadonlySet<ProjectPermission>;
  /** Effective organization permissions in this workspace: organization ∪ translated. */
  permissions: ReadonlySet<Permission>;
  /** Organization permissions granted only by the translation (not by the organization role). */
  translated: ReadonlySet<Permission>;
}

export interface WorkspaceSubject {
  roleKey: string | null;
  permissions: ReadonlySet<Permission>;
  membershipId: string | null;
  /** A workspace-scoped service principal: it has access in this workspace only. */
  onlyWorkspaceId?: string | null;
}

/**
 * The subject a principal is in a workspace. A service principal (API key, runner, OIDC client)
 * is nobody's member: it holds there what its organization role amounts to, and no project
 * member or team grant can reach it.
 */
export function workspaceSubjectOf(principal: Principal): WorkspaceSubject {
  return {
    roleKey: principal.roleKey,
    permissions: principal.permissions,
    membershipId: principal.kind === 'member' ? principal.membershipId : null,
    onlyWorkspaceId: principal.kind === 'service' ? principal.workspaceId : null,
  };
}

interface GrantRow {
  team_id: string | null;
  team_name: string | null;
  system_role_key: string | null;
  project_role_id: string | null;
  role_name: string;
  permissions: string[];
}

/**
 * Resolves the access of `subject` in `workspaceId`, through `db` (bound to the organization as
 * staff, with no workspace or this one). Null when the workspace is not one of the bound
 * organization's: callers answer that exactly like a missing organization.
 */
export async function resolveWorkspaceAccess(
  db: Queryable,
  subject: WorkspaceSubject,
  workspaceId: string,
): Promise<WorkspaceAccess | null> {
  // Any other workspace is, to a workspace-scoped principal, one that does not exist.
  if (subject.onlyWorkspaceId && subject.onlyWorkspaceId.toLowerCase() !== workspaceId.toLowerCase()) return null;
  const { rows } = await db.query<{ id: string; name: string; is_default: boolean; grants: GrantRow[] }>(
    `select w.id, w.name, w.is_default,
       coalesce((
         select json_agg(g order by g.team_name nulls first) from (
           select t.id as team_id, t.name as team_name, pm.system_role_key, pm.project_role_id,
             coalesce(spr.name, pr.name) as role_name,
             array(
               select sp.permission_key from system_project_role_permissions sp where sp.role_key = pm.system_role_key
               union
               select rp.permission_key from project_role_permissions rp
               where rp.org_id = pm.org_id and rp.role_id = pm.project_role_id
             ) as permissions
           from project_members pm
           left join teams t on t.org_id = pm.org_id and t.id = pm.team_id
           left join system_project_roles spr on spr.key = pm.system_role_key
           left join project_roles pr on pr.org_id = pm.org_id and pr.id = pm.project_role_id
           where pm.org_id = w.org_id and pm.workspace_id = w.id and $2::uuid is not null
             and (pm.membership_id = $2::uuid or pm.team_id in (
               select tm.team_id from team_members tm where tm.org_id = w.org_id and tm.membership_id = $2::uuid))
         ) g
       ), '[]'::json) as grants
     from workspaces w where w.id = $1`,
    [workspaceId, subject.membershipId],
  );
  const row = rows[0];
  if (!row) return null;
  const grants: ProjectRoleGrant[] = row.grants.map((g) => ({
    teamId: g.team_id,
    teamName: g.team_name,
    systemKey: g.system_role_key,
    roleId: g.project_role_id,
    roleName: g.role_name,
    permissions: g.permissions.filter(isProjectPermission),
  }));
  const fromOrganizationRole = projectPermissionsOfOrganizationRole(subject.roleKey, subject.permissions);
  const projectPermissions = new Set<ProjectPermission>(fromOrganizationRole);
  for (const grant of grants) for (const p of grant.permissions) projectPermissions.add(p);
  const translated = new Set([...translateProjectPermissions(projectPermissions)].filter((p) => !subject.permissions.has(p)));
  return {
    workspaceId: row.id,
    name: row.name,
    isDefault: row.is_default,
    grants,
    fromOrganizationRole,
    projectPermissions,
    permissions: new Set([...subject.permissions, ...translated]),
    translated,
  };
}

/**
 * The project permissions a caller holds for granting purposes (custom project roles, project
 * members): in a workspace, what they hold there; outside one, what their organization role
 * amounts to (Owner and Admin: all twelve).
 */
export function heldProjectPermissions(
  subject: Pick<WorkspaceSubject, 'roleKey' | 'permissions'>,
  workspace: WorkspaceAccess | null,
): ReadonlySet<ProjectPermission> {
  return workspace?.projectPermissions ?? projectPermissionsOfOrganizationRole(subject.roleKey, subject.permissions);
}

/**
 * What a subject with no project role holds in any workspace it may act in: the project
 * permissions its organization role amounts to, and its organization permissions ∪ their
 * translation. For a workspace-scoped service principal this is its whole access there (nobody's
 * project member), known before its workspace is looked up, so its request is bound with it from
 * the first statement (the write policies of project members and git settings read
 * app.project_permissions; the key holds no people.manage or settings.manage to fall back on).
 */
export function accessWithoutProjectRoles(subject: Pick<WorkspaceSubject, 'roleKey' | 'permissions'>): {
  projectPermissions: ReadonlySet<ProjectPermission>;
  permissions: ReadonlySet<Permission>;
} {
  const projectPermissions = projectPermissionsOfOrganizationRole(subject.roleKey, subject.permissions);
  return {
    projectPermissions,
    permissions: new Set([...subject.permissions, ...translateProjectPermissions(projectPermissions)]),
  };
}
