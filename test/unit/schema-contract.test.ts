/**
 * The schema is a contract: every field carries an authorization rule, and the committed
 * schema.graphql is exactly what the code builds.
 */
import fs from 'node:fs';
import { isObjectType, Kind, parse, print, type GraphQLField, type GraphQLObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { declaredScopes } from '../../src/authz/field-rules.js';
import { isPermission, isProjectPermission } from '../../src/authz/permissions.js';
import { schema } from '../../src/schema/index.js';
import { printedSchema, SCHEMA_FILE } from '../../scripts/print-schema.js';

type Scopes = Record<string, unknown> | ((...args: unknown[]) => unknown) | undefined;

// As declared: a rule evaluated per object reads as the map it declares (readOrMutationResult).
function scopesOf(thing: GraphQLField<unknown, unknown> | GraphQLObjectType): Scopes {
  return declaredScopes(thing);
}

const KNOWN_SCOPES = new Set([
  'public',
  'authenticated',
  'person',
  'member',
  'permission',
  'organizationOwner',
  'runner',
  'projectPermission',
  '$granted',
]);

function describeRule(scopes: Scopes): string | null {
  if (!scopes) return null;
  if (typeof scopes === 'function') return 'dynamic';
  const keys = Object.keys(scopes);
  for (const key of keys) {
    if (!KNOWN_SCOPES.has(key)) throw new Error(`unknown scope ${key}`);
    if (key === 'permission' && !isPermission(String(scopes[key]))) throw new Error(`unknown permission ${String(scopes[key])}`);
    if (key === 'projectPermission' && !isProjectPermission(String(scopes[key])))
      throw new Error(`unknown project permission ${String(scopes[key])}`);
  }
  return keys
    .filter((k) => k !== '$granted')
    .map((k) => (k === 'permission' || k === 'projectPermission' ? String(scopes[k]) : k))
    .join('|');
}

const objectTypes = Object.values(schema.getTypeMap()).filter(
  (t): t is GraphQLObjectType => isObjectType(t) && !t.name.startsWith('__'),
);

describe('authorization rules', () => {
  it('every root field (query and mutation) has its own rule', () => {
    const missing: string[] = [];
    for (const root of [schema.getQueryType(), schema.getMutationType()]) {
      for (const field of Object.values(root!.getFields())) {
        if (!describeRule(scopesOf(field))) missing.push(`${root!.name}.${field.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every field of every other type has a rule, its own or its type’s', () => {
    const missing: string[] = [];
    for (const type of objectTypes.filter((t) => t !== schema.getQueryType() && t !== schema.getMutationType())) {
      const typeRule = describeRule(scopesOf(type));
      for (const field of Object.values(type.getFields())) {
        if (!typeRule && !describeRule(scopesOf(field))) missing.push(`${type.name}.${field.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('a field skips its type’s rule only where that rule is public (connection wrappers), and then has none of its own', () => {
    const skipping: string[] = [];
    for (const type of objectTypes) {
      for (const field of Object.values(type.getFields())) {
        const options = field.extensions?.pothosOptions as { skipTypeScopes?: boolean } | undefined;
        if (!options?.skipTypeScopes) continue;
        skipping.push(`${type.name}.${field.name}`);
        expect(describeRule(scopesOf(type)), `${type.name}.${field.name} skips a rule that is not public`).toBe('public');
      }
    }
    // The relay wrappers' fields do (edges, node, cursor, pageInfo and its four).
    expect(skipping).toContain('WorkflowConnection.edges');
    expect(skipping).toContain('WorkflowEdge.node');
    expect(skipping).toContain('PageInfo.hasNextPage');
  });

  it('public is used only where meant', () => {
    const publicRoots = Object.values(schema.getQueryType()!.getFields())
      .filter((f) => describeRule(scopesOf(f)) === 'public')
      .map((f) => f.name);
    expect(publicRoots.sort()).toEqual(['permissionCatalogue', 'projectPermissionCatalogue', 'viewer']);
    const publicMutations = Object.values(schema.getMutationType()!.getFields()).filter(
      (f) => describeRule(scopesOf(f)) === 'public',
    );
    expect(publicMutations).toEqual([]);
  });

  it('every mutation grants its caller the object it returns (mutationResult)', () => {
    const missing = Object.values(schema.getMutationType()!.getFields())
      .filter(
        (f) =>
          !((f.extensions?.pothosOptions as { grantScopes?: unknown }).grantScopes as string[] | undefined)?.includes(
            'mutationResult',
          ),
      )
      .map((f) => f.name);
    expect(missing).toEqual([]);
  });

  // Which mutations the audit plugin covers: test/unit/audit-coverage.test.ts (the plugin-coverage walker).
});

describe('the rules are part of the schema contract (generated from the declared scopes)', () => {
  const sdl = parse(printedSchema());
  const printed = new Map<string, { directives: string[]; description: string }>();
  for (const definition of sdl.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION) continue;
    for (const field of definition.fields ?? []) {
      printed.set(`${definition.name.value}.${field.name.value}`, {
        directives: (field.directives ?? []).map((d) => print(d)),
        description: field.description?.value ?? '',
      });
    }
  }

  it('every field with a rule of its own carries it as @auth in schema.graphql; permission fields name it in their description', () => {
    const wrong: string[] = [];
    let gated = 0;
    for (const type of objectTypes) {
      for (const field of Object.values(type.getFields())) {
        const rule = describeRule(scopesOf(field));
        if (!rule) continue;
        const where = `${type.name}.${field.name}`;
        const seen = printed.get(where)!;
        if (isPermission(rule)) {
          gated++;
          if (!seen.directives.includes(`@auth(rule: "permission", permission: "${rule}")`))
            wrong.push(`${where}: no @auth for ${rule}`);
          if (!seen.description.includes(`Requires the \`${rule}\` permission.`))
            wrong.push(`${where}: description does not name ${rule}`);
          if (!field.description?.includes(rule)) wrong.push(`${where}: live schema description does not name ${rule}`);
        } else if (!seen.directives.some((d) => d.startsWith('@auth(rule: '))) {
          wrong.push(`${where}: no @auth for ${rule}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(gated).toBeGreaterThan(80);
  });

  it('every root field’s description states its rule (GraphiQL’s docs show it)', () => {
    for (const root of [schema.getQueryType()!, schema.getMutationType()!]) {
      for (const field of Object.values(root.getFields())) {
        expect(field.description ?? '', `${root.name}.${field.name}`).toMatch(/Requires|Public|Only the organization/);
      }
    }
  });
});

describe('schema.graphql', () => {
  it('matches the code (regenerate with `npm run schema`, then `npm run codegen`)', () => {
    const committed = fs.readFileSync(SCHEMA_FILE, 'utf8');
    expect(committed, 'schema.graphql is out of date: run `npm run schema` and commit it').toBe(printedSchema());
  });
});
