/**
 * Who may create an organization (ORG_CREATION): anyone signed in, people whose verified email
 * is on an allow-list (domains or exact addresses), or only people who already own one. The
 * production default is owners-only: a public sign-up page must not turn every identity the
 * issuer knows into an organization owner. The first Owner of a fresh installation comes from
 * the allow-list (README, "The first Owner").
 */
import type { OrgCreationPolicy } from '../config.js';
import type { PrincipalResolver } from '../auth/principal.js';

export interface Creator {
  userId: string;
  email: string | null;
  emailVerified: boolean;
}

/** Null when allowed; otherwise the reason, for the FORBIDDEN answer. */
export async function whyNotAllowedToCreate(
  policy: OrgCreationPolicy,
  creator: Creator,
  ownership: { activeOrganizations(userId: string): Promise<string[]>; principals: PrincipalResolver },
): Promise<string | null> {
  switch (policy.kind) {
    case 'anyone':
      return null;
    case 'domains': {
      const email = creator.emailVerified ? creator.email?.toLowerCase() : undefined;
      const domain = email?.split('@')[1];
      if (email && (policy.addresses.includes(email) || (domain && policy.domains.includes(domain)))) return null;
      // Owners may always add organizations; the allow-list is for newcomers.
      if (await ownsAnOrganization(creator.userId, ownership)) return null;
      return 'Creating organizations is limited to verified email addresses on the allow-list.';
    }
    case 'owners-only':
      if (await ownsAnOrganization(creator.userId, ownership)) return null;
      return 'Only owners of an existing organization may create organizations.';
  }
}

async function ownsAnOrganization(
  userId: string,
  ownership: { activeOrganizations(userId: string): Promise<string[]>; principals: PrincipalResolver },
): Promise<boolean> {
  for (const orgId of await ownership.activeOrganizations(userId)) {
    const principal = await ownership.principals.principal(userId, orgId);
    if (principal?.roleKey === 'owner' && principal.status === 'active') return true;
  }
  return false;
}
