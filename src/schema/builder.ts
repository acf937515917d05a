/**
 * The schema builder, and nothing else: types live in their own modules (src/schema/*.ts) and
 * src/schema/index.ts assembles them. Scope-auth is listed first so its checks wrap every
 * resolver; the relay plugin only supplies connection types (ids are plain UUIDs and there is
 * no `node` field to bypass root-field checks).
 */
import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import AuditPlugin from './audit-plugin.js';
import type { Permission, ProjectPermission } from '../authz/permissions.js';
import { scopesFor, unauthorizedError } from '../authz/scopes.js';
import type { Context } from '../context.js';

export interface GatewaySchemaTypes {
  Context: Context;
  AuthScopes: {
    /** Answers without a token. Used sparingly and always on purpose. */
    public: boolean;
    /** Any verified credential: a person's token or a service principal's (API key, runner, OIDC client). */
    authenticated: boolean;
    /** A person's verified token (not a service principal): joining and creating organizations. */
    person: boolean;
    /** A runner key of the organization: claiming executions and reporting their outcome. */
    runner: boolean;
    /** An active member of the organization the request acts in. */
    member: boolean;
    /** The caller's effective permissions (role ∪ teams' roles) include this one. */
    permission: Permission;
    /** The Owner of the organization the request acts in (capabilities no permission grants). */
    organizationOwner: boolean;
    /** A project permission held in the workspace the request acts in (X-Workspace-Id). */
    projectPermission: ProjectPermission;
  };
  // Mutations grant `mutationResult` to the object they return: the result of your own change is
  // yours to see even without its type's read permission (`$granted` in that type's scopes).
  // Grants reach that object's own fields only; nested objects keep their rules.
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}

export type SchemaTypes = PothosSchemaTypes.ExtendDefaultTypes<GatewaySchemaTypes>;

export const builder = new SchemaBuilder<GatewaySchemaTypes>({
  // The audit plugin is last: its wrapper runs inside scope-auth's check (a scope denial is
  // written by unauthorizedError; everything that reaches the resolver, by the plugin).
  plugins: [ScopeAuthPlugin, RelayPlugin, AuditPlugin],
  // Non-null unless a field says otherwise; gated fields say so, so a denial nulls only them.
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: scopesFor,
    unauthorizedError,
    // A failing scope loader (e.g. the database) is an error, not a silent "no".
    treatErrorsAsUnauthorized: false,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    // Connection wrappers carry what their parent field and node type already authorized: their
    // rule is `public`, which always passes. Their fields skip evaluating it (skipTypeScopes), so
    // scope-auth puts no wrapper around each edge's `node` and `cursor` — the same answers, less
    // work per row (issue 10's list profile); the node's own type rule still runs on its fields.
    edgesFieldOptions: { nullable: false, skipTypeScopes: true },
    nodeFieldOptions: { nullable: false, skipTypeScopes: true },
    cursorFieldOptions: { skipTypeScopes: true },
    pageInfoFieldOptions: { skipTypeScopes: true },
    hasNextPageFieldOptions: { skipTypeScopes: true },
    hasPreviousPageFieldOptions: { skipTypeScopes: true },
    startCursorFieldOptions: { skipTypeScopes: true },
    endCursorFieldOptions: { skipTypeScopes: true },
    pageInfoTypeOptions: { authScopes: { public: true } },
    defaultConnectionTypeOptions: { authScopes: { public: true } },
    defaultEdgeTypeOptions: { authScopes: { public: true } },
  },
});
