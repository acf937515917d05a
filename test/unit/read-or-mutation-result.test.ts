/**
 * Review of c8cb3e2: a type declared `readOrMutationResult(scope)` (a type-level scope FUNCTION)
 * authorizes exactly like the map `{ ...scope, $granted: 'mutationResult' }` it replaced, for every
 * caller kind and response shape — including one parent object met at a granted path and at an
 * ungranted one in the same request, primitive parents, and repeated list items.
 *
 * Differential: the same schema is built twice (map / function) and every operation's result
 * (data, error messages, extensions) and Denied audit events are compared.
 */
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { graphql, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { declaredScopes } from '../../src/authz/field-rules.js';
import { systemRole, type Permission, type ProjectPermission } from '../../src/authz/permissions.js';
import { effectivePermissions, readOrMutationResult, scopesFor, unauthorizedError } from '../../src/authz/scopes.js';
import type { Context } from '../../src/context.js';
import type { GatewaySchemaTypes } from '../../src/schema/builder.js';

interface Row {
  id: string;
}

function build(kind: 'map' | 'function'): GraphQLSchema {
  const builder = new SchemaBuilder<GatewaySchemaTypes>({
    plugins: [ScopeAuthPlugin],
    defaultFieldNullability: false,
    scopeAuth: { authScopes: scopesFor, unauthorizedError, treatErrorsAsUnauthorized: false },
  });
  const thingScopes =
    kind === 'map'
      ? ({ permission: 'executions.read', $granted: 'mutationResult' } as const)
      : readOrMutationResult({ permission: 'executions.read' });
  const projScopes =
    kind === 'map'
      ? ({ projectPermission: 'project.git.pull', $granted: 'mutationResult' } as const)
      : readOrMutationResult({ projectPermission: 'project.git.pull' });

  const shared: Row = { id: 'shared' };
  const Thing = builder.objectRef<Row>('Thing');
  Thing.implement({
    authScopes: thingScopes,
    fields: (t) => ({
      id: t.exposeString('id', { nullable: true }),
      // The same parent object, one level down (not granted: grants reach the result's own fields).
      self: t.field({ type: Thing, nullable: true, resolve: (p) => p }),
      other: t.field({ type: Thing, nullable: true, resolve: () => shared }),
    }),
  });
  // A type backed by a primitive (a string): parents compare by value in scope-auth's caches.
  const Prim = builder.objectRef<string>('Prim');
  Prim.implement({
    authScopes: projScopes,
    fields: (t) => ({ v: t.string({ nullable: true, resolve: (p) => p }) }),
  });
  builder.queryType({
    fields: (t) => ({
      thing: t.field({ type: Thing, nullable: true, authScopes: { public: true }, resolve: () => shared }),
      things: t.field({
        type: [Thing],
        nullable: { list: true, items: true },
        authScopes: { public: true },
        resolve: () => [shared, shared, { id: 'b' }],
      }),
      prims: t.field({
        type: [Prim],
        nullable: { list: true, items: true },
        authScopes: { public: true },
        resolve: () => ['x', 'x'],
      }),
    }),
  });
  builder.mutationType({
    fields: (t) => ({
      makeThing: t.field({
        type: Thing,
        nullable: true,
        authScopes: { public: true },
        grantScopes: ['mutationResult'],
        resolve: () => shared,
      }),
      makeThings: t.field({
        type: [Thing],
        nullable: { list: true, items: true },
        authScopes: { public: true },
        grantScopes: ['mutationResult'],
        resolve: () => [shared, shared],
      }),
      makePrims: t.field({
        type: [Prim],
        nullable: { list: true, items: true },
        authScopes: { public: true },
        grantScopes: ['mutationResult'],
        resolve: () => ['x', 'x'],
      }),
      noGrant: t.field({ type: Thing, nullable: true, authScopes: { public: true }, resolve: () => shared }),
    }),
  });
  return builder.toSchema();
}

type Audit = unknown[];

function context(kind: string): { ctx: Context; audits: Audit } {
  const audits: Audit = [];
  const member = (roleKey: string, permissions: Permission[]) => ({
    kind: 'member' as const,
    orgId: 'org',
    orgName: 'Org',
    membershipId: 'm',
    roleId: 'r',
    roleKey,
    roleName: roleKey,
    status: 'active' as const,
    customerId: null,
    permissions: new Set<Permission>(permissions),
    authzVersion: 1,
  });
  const base = {
    caller: { kind: 'user', userId: 'u', token: {} },
    principal: null as unknown,
    confinedToCustomer: null as string | null,
    workspace: null as unknown,
    audit: { defer: (...args: unknown[]) => audits.push(args) },
  };
  const workspace = (permissions: Permission[], projectPermissions: ProjectPermission[]) => ({
    workspaceId: 'w',
    name: 'W',
    isDefault: false,
    grants: [],
    fromOrganizationRole: new Set(),
    projectPermissions: new Set(projectPermissions),
    permissions: new Set(permissions),
    translated: new Set(),
  });
  switch (kind) {
    case 'anonymous':
      Object.assign(base, { caller: { kind: 'anonymous' } });
      break;
    case 'holder':
      base.principal = member('viewer', ['executions.read']);
      break;
    case 'non-holder':
      base.principal = member('custom', ['executions.execute' as Permission]);
      break;
    case 'customer-context-holder': // executions.read: filtered by the End User role's set
      base.principal = member('admin', ['executions.read', 'connections.read']);
      base.confinedToCustomer = 'c';
      break;
    case 'workspace-holder':
      base.principal = member('custom', []);
      base.workspace = workspace(['executions.read'], ['project.git.pull']);
      break;
    case 'workspace-non-holder':
      base.principal = member('custom', ['executions.read']);
      base.workspace = workspace([], []);
      break;
    case 'service':
      Object.assign(base, { caller: { kind: 'service', userId: 'u', orgId: 'org', servicePrincipalId: 's', publicId: 'p' } });
      base.principal = { ...member('viewer', ['executions.read']), kind: 'service', serviceKind: 'api_key' };
      break;
    case 'service-non-holder':
      Object.assign(base, { caller: { kind: 'service', userId: 'u', orgId: 'org', servicePrincipalId: 's', publicId: 'p' } });
      base.principal = { ...member('custom', []), kind: 'service', serviceKind: 'api_key' };
      break;
    case 'no-organization':
      break;
  }
  return { ctx: base as unknown as Context, audits };
}

const CALLERS = [
  'anonymous',
  'holder',
  'non-holder',
  'customer-context-holder',
  'workspace-holder',
  'workspace-non-holder',
  'service',
  'service-non-holder',
  'no-organization',
];

const OPERATIONS = [
  '{ thing { id self { id } other { id } } }',
  '{ things { id self { id } } }',
  '{ prims { v } }',
  // Granted first, then the same parent object at ungranted paths.
  'mutation { makeThing { id self { id self { id } } other { id } } }',
  'mutation { a: noGrant { id } b: makeThing { id } c: noGrant { id } }',
  'mutation { makeThings { id self { id } } }',
  'mutation { makePrims { v } }',
  'mutation { a: makeThing { id } b: makeThings { id other { id } } }',
];

describe('readOrMutationResult authorizes exactly like the map it declares', () => {
  const map = build('map');
  const fn = build('function');

  it('declares the same map', () => {
    const type = fn.getType('Thing') as Parameters<typeof declaredScopes>[0];
    expect(declaredScopes(type)).toEqual({ permission: 'executions.read', $granted: 'mutationResult' });
  });

  for (const caller of CALLERS) {
    for (const source of OPERATIONS) {
      it(`${caller}: ${source}`, async () => {
        const a = context(caller);
        const b = context(caller);
        const viaMap = await graphql({ schema: map, source, contextValue: a.ctx });
        const viaFunction = await graphql({ schema: fn, source, contextValue: b.ctx });
        const shape = (r: typeof viaMap) => ({
          data: r.data,
          errors: r.errors?.map((e) => ({ message: e.message, path: e.path, extensions: e.extensions })),
        });
        expect(shape(viaFunction)).toEqual(shape(viaMap));
        expect(b.audits).toEqual(a.audits);
      });
    }
  }

  it('the customer-context set is memoized per held set and equals a fresh filter', () => {
    const held = new Set<Permission>(['executions.read', 'connections.read', 'customers.read']);
    const endUser = new Set(systemRole('end_user').permissions);
    const first = effectivePermissions(held, true);
    expect([...first].sort()).toEqual([...held].filter((p) => endUser.has(p)).sort());
    expect(effectivePermissions(held, true)).toBe(first);
    expect(effectivePermissions(new Set(held), true)).not.toBe(first);
    expect(effectivePermissions(held, false)).toBe(held);
  });
});
