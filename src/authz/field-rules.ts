/**
 * A field's authorization rule as declared once, in its Pothos `authScopes`, read back for the
 * places that need it outside scope-auth's own check: the rate limiter (permissions are decided
 * before the rate limit), the schema's `@auth` directive and descriptions (the rule is part of
 * the schema contract) and the rule walker test.
 */
import type { GraphQLField, GraphQLObjectType } from 'graphql';
import type { Context } from '../context.js';
import { scopesFor } from './scopes.js';

export type ScopeMap = Record<string, unknown>;
export type DeclaredScopes = ScopeMap | ((...args: unknown[]) => unknown) | undefined;

export function declaredScopes(thing: GraphQLField<unknown, unknown> | GraphQLObjectType): DeclaredScopes {
  const scopes = (thing.extensions?.pothosOptions as { authScopes?: DeclaredScopes } | undefined)?.authScopes;
  // A rule evaluated per object but declared as a map (readOrMutationResult in scopes.ts) reads as that map.
  if (typeof scopes === 'function' && 'declaredScopes' in scopes) return scopes.declaredScopes as ScopeMap;
  return scopes;
}

/** The permission a field requires, when its rule is one (or the project permission, in a workspace). */
export function requiredPermission(scopes: DeclaredScopes): string | null {
  if (!scopes || typeof scopes === 'function') return null;
  if (typeof scopes.permission === 'string') return scopes.permission;
  return typeof scopes.projectPermission === 'string' ? scopes.projectPermission : null;
}

/**
 * The rule in words, as `@auth(rule: …)` prints it: `permission`, `public`, `authenticated`,
 * `member`, `organizationOwner` (several: any of them, joined with `|`), or `dynamic` for a
 * rule computed per call. `$granted` (a mutation's result) is not a rule of its own.
 */
export function ruleName(scopes: DeclaredScopes): string | null {
  if (!scopes) return null;
  if (typeof scopes === 'function') return 'dynamic';
  const names = Object.keys(scopes).filter((k) => k !== '$granted');
  return names.length ? names.join('|') : null;
}

/**
 * Whether the caller passes a declared scope map, evaluated with the same scope loaders
 * scope-auth uses (src/authz/scopes.ts): any listed scope suffices, `$all`/`$any` nest. A rule
 * computed per call cannot be known before it runs: treated as allowed (it is still limited).
 */
export function passes(scopes: DeclaredScopes, ctx: Context): boolean {
  if (!scopes || typeof scopes === 'function') return true;
  const loaders = scopesFor(ctx) as Record<string, unknown>;
  const check = (map: ScopeMap, all: boolean): boolean => {
    const results = Object.entries(map)
      .filter(([key]) => key !== '$granted')
      .map(([key, parameter]) => {
        if (key === '$all') return check(parameter as ScopeMap, true);
        if (key === '$any') return check(parameter as ScopeMap, false);
        const loader = loaders[key];
        if (typeof loader === 'function') return Boolean((loader as (p: unknown) => unknown)(parameter));
        return loader === true && parameter !== false;
      });
    return all ? results.every(Boolean) : results.some(Boolean);
  };
  return check(scopes, false);
}

/** What a rule means, in the words GraphiQL's docs show under each field. */
export function ruleSentence(scopes: DeclaredScopes): string | null {
  const permission = requiredPermission(scopes);
  if (permission?.startsWith('project.')) {
    return `Requires the \`${permission}\` project permission in the workspace in use (X-Workspace-Id).`;
  }
  if (permission) return `Requires the \`${permission}\` permission.`;
  const sentences: Record<string, string> = {
    public: 'Public: answers without a token.',
    authenticated: 'Requires a signed-in caller (any valid token or API key).',
    person: "Requires a person's token (not an API key or other service principal).",
    runner: 'Requires a runner key of the organization.',
    member: 'Requires active membership in the organization the request acts in.',
    organizationOwner: "Only the organization's Owner.",
    dynamic: 'Decided per call.',
  };
  const rule = ruleName(scopes);
  if (!rule) return null;
  return rule
    .split('|')
    .map((name) => sentences[name] ?? `Requires ${name}.`)
    .join(' Or: ');
}
