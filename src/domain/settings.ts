/**
 * Organization settings, and the Owner-only capabilities: transferring ownership (exactly one
 * Owner at every moment, enforced at commit by a constraint trigger) and deleting the
 * organization (its audit trail stays; see README for retention).
 */
import type { MemberPrincipal, Principal } from '../auth/principal.js';
import type { RequestDatabase } from '../db/request-database.js';
import { badUserInput, conflict, notFound } from '../errors.js';
import { requireMember } from './people.js';
import { assertHolds, requireRole } from './roles.js';
import { requireText } from './validation.js';

export interface OrganizationSettingsRow {
  id: string;
  name: string;
  created_at: Date;
  timezone: string;
  email_domain: string | null;
  auto_approve_domain_users: boolean;
  auto_approve_role_id: string | null;
}

export async function loadSettings(db: RequestDatabase): Promise<OrganizationSettingsRow> {
  const { rows } = await db.query<OrganizationSettingsRow>(
    `select id, name, created_at, timezone, email_domain, auto_approve_domain_users, auto_approve_role_id
     from organizations where id = app_public.current_org_id()`,
  );
  if (!rows[0]) throw notFound('Organization');
  return rows[0];
}

const TIMEZONES = new Set(Intl.supportedValuesOf('timeZone').concat('UTC'));
const DOMAIN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export interface SettingsInput {
  name?: string | null;
  timezone?: string | null;
  /** An empty string clears it. */
  emailDomain?: string | null;
  autoApproveDomainUsers?: boolean | null;
  autoApproveRoleId?: string | null;
}

export async function updateSettings(db: RequestDatabase, caller: Principal, input: SettingsInput): Promise<void> {
  const current = await loadSettings(db);
  const name = input.name == null ? current.name : requireText('input.name', input.name, 120);
  const timezone = input.timezone ?? current.timezone;
  if (!TIMEZONES.has(timezone)) throw badUserInput('input.timezone', 'must be an IANA time zone such as Europe/Berlin');
  let emailDomain = current.email_domain;
  if (input.emailDomain != null) {
    emailDomain = input.emailDomain.trim().toLowerCase().replace(/^@/, '') || null;
    if (emailDomain && !DOMAIN.test(emailDomain)) throw badUserInput('input.emailDomain', 'must be a domain such as example.com');
  }
  const autoApprove = input.autoApproveDomainUsers ?? current.auto_approve_domain_users;
  if (autoApprove && !emailDomain) throw badUserInput('input.autoApproveDomainUsers', 'needs an email domain');
  let autoApproveRoleId = current.auto_approve_role_id;
  if (input.autoApproveRoleId != null) {
    const role = await requireRole(db, input.autoApproveRoleId);
    if (role.system_key === 'owner' || role.customer_confined) {
      throw badUserInput('input.autoApproveRoleId', 'must be a staff role other than Owner');
    }
    autoApproveRoleId = role.id;
  }
  // Auto-approval assigns a role to whoever signs in from the domain: whoever turns it on, points
  // it at a domain or picks the role must hold that role's permissions — the role in effect
  // (Viewer when none is set), not only one named in this request.
  const touchesAutoApproval =
    input.autoApproveRoleId != null || input.autoApproveDomainUsers != null || input.emailDomain != null;
  if (autoApprove && touchesAutoApproval) {
    const effective = autoApproveRoleId
      ? await requireRole(db, autoApproveRoleId)
      : await requireRole(db, (await db.query<{ id: string }>(`select id from roles where system_key = 'viewer'`)).rows[0]!.id);
    assertHolds(caller, effective.permissions, 'auto-approve people into this role');
  }
  const { rowCount } = await db.query(
    `update organizations set name = $1, timezone = $2, email_domain = $3, auto_approve_domain_users = $4, auto_approve_role_id = $5
     where id = app_public.current_org_id()`,
    [name, timezone, emailDomain, autoApprove, autoApproveRoleId],
  );
  if (!rowCount) throw notFound('Organization');
}

/** The Owner hands over to an active staff member and becomes an Admin, in one transaction. */
export async function transferOwnership(db: RequestDatabase, caller: MemberPrincipal, memberId: string): Promise<void> {
  const target = await requireMember(db, memberId);
  if (target.id === caller.membershipId) throw conflict('You are already the Owner.');
  if (target.status !== 'active') throw conflict('Ownership can only go to an active member.');
  if (target.customer_id) throw conflict('Ownership cannot go to an End User.');
  await db.query(
    `update memberships m set role_id = r.id
     from roles r where r.org_id = m.org_id and r.system_key = case when m.id = $1 then 'owner' else 'admin' end
       and m.id in ($1, $2)`,
    [target.id, caller.membershipId],
  );
}

/** Deletes everything the organization owns. Audit events have no foreign key: they stay. */
export async function deleteOrganization(db: RequestDatabase, confirmName: string): Promise<string> {
  const current = await loadSettings(db);
  if (confirmName !== current.name) throw badUserInput('input.confirmName', "must be the organization's name, exactly");
  const { rowCount } = await db.query('delete from organizations where id = app_public.current_org_id()');
  if (!rowCount) throw notFound('Organization');
  return current.id;
}
