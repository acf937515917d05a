/**
 * The plugin-coverage walker (issue 11, point 3): every mutation whose rule requires a permission
 * or an Owner capability is audited by the resolver plugin (src/schema/audit-plugin.ts), which
 * needs nothing but its `audit` declaration. The walker is shown to fail on synthetic schemas
 * built with the same plugins.
 */
import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { describe, expect, it } from 'vitest';
import { declaredScopes } from '../../src/authz/field-rules.js';
import type { Permission } from '../../src/authz/permissions.js';
import { scopesFor } from '../../src/authz/scopes.js';
import type { Context } from '../../src/context.js';
import AuditPlugin, { auditCoverageProblems, requiresPermissionOrOwner } from '../../src/schema/audit-plugin.js';
import { schema } from '../../src/schema/index.js';

/**
 * Mutations that file their events themselves. Short on purpose: each is a person acting
 * towards an organization they are not (yet) a member of, so the events belong in that
 * organization and only some outcomes concern it (src/schema/people.ts).
 */
const AUDITED_BY_RESOLVER = {
  acceptInvitation: 'files success, refusal and wrong-email events in the inviting organization',
  requestToJoin: 'files the join or the request in the organization asked',
};

interface TestTypes {
  Context: Context;
  AuthScopes: { public: boolean; permission: Permission; organizationOwner: boolean; person: boolean };
}

function makeBuilder() {
  return new SchemaBuilder<TestTypes>({ plugins: [ScopeAuthPlugin, AuditPlugin], scopeAuth: { authScopes: scopesFor } });
}

/** A schema built like the gateway's (scope-auth, then the audit plugin) with the given fields. */
function syntheticSchema(define: (builder: ReturnType<typeof makeBuilder>) => void) {
  const builder = makeBuilder();
  builder.queryType({ fields: (t) => ({ ping: t.string({ authScopes: { public: true }, resolve: () => 'pong' }) }) });
  define(builder);
  return builder.toSchema();
}

describe('the audit plugin covers every gated mutation', () => {
  it('the gateway’s schema has no uncovered gated mutation and no stray declaration', () => {
    expect(auditCoverageProblems(schema, AUDITED_BY_RESOLVER)).toEqual([]);
  });

  it('sees the gated mutations it must cover (Owner-only, permission, project permission)', () => {
    const gated = Object.values(schema.getMutationType()!.getFields())
      .filter((f) => requiresPermissionOrOwner(declaredScopes(f)))
      .map((f) => f.name);
    expect(gated.length).toBeGreaterThan(70);
    expect(gated).toEqual(expect.arrayContaining(['transferOwnership', 'deleteOrganization', 'createWorkflow', 'pushToGit']));
    expect(gated).not.toContain('claimExecution'); // runner-gated: audited, but by declaration, not by rule
  });

  it('names the action after the permission with audit: "permission" (as a Denied event for it does)', () => {
    const fields = schema.getMutationType()!.getFields();
    expect(fields.createWorkflow!.extensions.audit).toEqual({ action: 'workflow.create', resourceType: 'workflow' });
    expect(fields.deployConnectorToProduction!.extensions.audit).toEqual({
      action: 'connector.deploy_prod',
      resourceType: 'connector',
    });
    expect(fields.createApiKey!.extensions.audit).toEqual({ action: 'api_key.create', resourceType: 'api_key' });
  });

  it('flags a permission-gated or Owner-only mutation without an audit declaration', () => {
    const synthetic = syntheticSchema((builder) => {
      builder.mutationType({
        fields: (t) => ({
          covered: t.boolean({ authScopes: { permission: 'workflows.create' }, audit: 'permission', resolve: () => true }),
          uncovered: t.boolean({ authScopes: { permission: 'workflows.delete' }, resolve: () => true }),
          ownerOnly: t.boolean({ authScopes: { organizationOwner: true }, resolve: () => true }),
          nested: t.boolean({ authScopes: { $any: { person: true, permission: 'roles.manage' } }, resolve: () => true }),
          personal: t.boolean({ authScopes: { person: true }, resolve: () => true }),
        }),
      });
    });
    expect(auditCoverageProblems(synthetic)).toEqual([
      'Mutation.nested: requires a permission or the Owner but declares no `audit`',
      'Mutation.ownerOnly: requires a permission or the Owner but declares no `audit`',
      'Mutation.personal: declares no `audit` and is not listed as auditing itself',
      'Mutation.uncovered: requires a permission or the Owner but declares no `audit`',
    ]);
    expect(auditCoverageProblems(synthetic, { personal: 'test' })).toHaveLength(3);
  });

  it('flags a stale self-audited entry and an audit declaration on a read that nothing can deny', () => {
    const synthetic = syntheticSchema((builder) => {
      builder.queryField('gatedRead', (t) =>
        t.boolean({
          authScopes: { permission: 'audit_log.read' },
          audit: { action: 'x.read', resourceType: 'x' },
          resolve: () => true,
        }),
      );
      builder.queryField('publicRead', (t) =>
        t.boolean({ authScopes: { public: true }, audit: { action: 'x.list', resourceType: 'x' }, resolve: () => true }),
      );
      builder.mutationType({
        fields: (t) => ({
          both: t.boolean({ authScopes: { person: true }, audit: { action: 'x.do', resourceType: 'x' }, resolve: () => true }),
        }),
      });
    });
    expect(auditCoverageProblems(synthetic, { both: 'test', gone: 'test' })).toEqual([
      'Mutation.both: listed as auditing itself, yet declares `audit`',
      'Mutation.gone: listed as auditing itself, but there is no such mutation',
      'Query.publicRead: declares `audit` on a read whose rule requires no permission (nothing to deny)',
    ]);
  });

  it('refuses to build a declaration the plugin could not honour', () => {
    expect(() =>
      syntheticSchema((builder) =>
        builder.mutationType({
          fields: (t) => ({
            f: t.boolean({ authScopes: { organizationOwner: true }, audit: 'permission', resolve: () => true }),
          }),
        }),
      ),
    ).toThrow(/needs an authScopes permission/);
    expect(() =>
      syntheticSchema((builder) =>
        builder.mutationType({
          fields: (t) => ({
            f: t.boolean({
              authScopes: { permission: 'roles.manage' },
              extensions: { audit: { action: 'role.x', resourceType: 'role' } },
              resolve: () => true,
            }),
          }),
        }),
      ),
    ).toThrow(/declare the audit action with the `audit` field option/);
  });
});
