/**
 * Input PostgreSQL refuses (NUL, lone surrogates) answers BAD_USER_INPUT naming the field, on
 * every input path. The cases are GENERATED from the schema: every String, ID and JSON position
 * of every root field's arguments (through input objects and lists) gets a minimal valid-shaped
 * call with a bad value in that one place, so a new field is covered without a line here.
 */
import { randomUUID } from 'node:crypto';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isCompositeType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
} from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUnstorableValue } from '../../src/http/storable-input.js';
import { schema } from '../../src/schema/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Step = { kind: 'field'; name: string } | { kind: 'item' };
interface Position {
  /** Root type and field, e.g. Mutation.createWorkflow */
  root: 'Query' | 'Mutation';
  field: GraphQLField<unknown, unknown>;
  arg: string;
  steps: Step[];
  scalar: 'String' | 'ID' | 'JSON';
}

const TEXT_SCALARS = new Set(['String', 'ID', 'JSON']);

/** Every String/ID/JSON position reachable from a type (input objects are walked once per path). */
function positionsIn(type: GraphQLInputType, steps: Step[], seen: Set<string>): { steps: Step[]; scalar: Position['scalar'] }[] {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return positionsIn(inner.ofType, [...steps, { kind: 'item' }], seen);
  if (isScalarType(inner)) return TEXT_SCALARS.has(inner.name) ? [{ steps, scalar: inner.name as Position['scalar'] }] : [];
  if (isInputObjectType(inner)) {
    if (seen.has(inner.name)) return [];
    const next = new Set(seen).add(inner.name);
    return Object.values(inner.getFields()).flatMap((f) =>
      positionsIn(f.type, [...steps, { kind: 'field', name: f.name }], next),
    );
  }
  return [];
}

const positions: Position[] = (['Query', 'Mutation'] as const).flatMap((root) =>
  Object.values((root === 'Query' ? schema.getQueryType() : schema.getMutationType())!.getFields()).flatMap((field) =>
    field.args.flatMap((arg) => positionsIn(arg.type, [], new Set()).map((p) => ({ root, field, arg: arg.name, ...p }))),
  ),
);

/** The smallest value of a type that coerces (required parts only). */
function minimal(type: GraphQLInputType): unknown {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return [];
  if (isEnumType(inner)) return inner.getValues()[0]!.name;
  if (isInputObjectType(inner)) {
    return Object.fromEntries(
      Object.values(inner.getFields())
        .filter((f) => isNonNullType(f.type) && f.defaultValue === undefined)
        .map((f) => [f.name, minimal(f.type)]),
    );
  }
  switch (getNamedType(inner).name) {
    case 'String':
      return 'x';
    case 'ID':
      return randomUUID();
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return true;
    case 'DateTime':
      return '2026-01-01T00:00:00Z';
    case 'JSON':
      return {};
    default:
      throw new Error(`no minimal value for ${String(inner)}`);
  }
}

/** A minimal value of `type` with `bad` placed along `steps`. */
function withBadValue(type: GraphQLInputType, steps: Step[], bad: unknown): unknown {
  if (steps.length === 0) return bad;
  const inner = isNonNullType(type) ? type.ofType : type;
  const [step, ...rest] = steps;
  if (step!.kind === 'item') {
    if (!isListType(inner)) throw new Error('list step on a non-list');
    return [withBadValue(inner.ofType, rest, bad)];
  }
  if (!isInputObjectType(inner)) throw new Error('field step on a non-object');
  const base = minimal(inner) as Record<string, unknown>;
  return { ...base, [step!.name]: withBadValue(inner.getFields()[step!.name]!.type, rest, bad) };
}

function fieldPath(position: Position, suffix: string[]): string {
  return [position.arg, ...position.steps.map((s) => (s.kind === 'item' ? '0' : s.name)), ...suffix].join('.');
}

/** Bad values per scalar, with the path suffix the answer must name. */
function badValues(scalar: Position['scalar']): { label: string; value: unknown; suffix: string[] }[] {
  if (scalar === 'JSON') {
    return [
      { label: 'NUL in a JSON string', value: { steps: [{ name: 'a\u0000b' }] }, suffix: ['steps', '0', 'name'] },
      { label: 'lone surrogate in a JSON string', value: { note: 'a\ud800b' }, suffix: ['note'] },
      { label: 'NUL in a JSON key', value: { 'k\u0000': 1 }, suffix: [] },
    ];
  }
  return [
    { label: 'NUL', value: 'a\u0000b', suffix: [] },
    { label: 'lone surrogate', value: 'a\udc00b', suffix: [] },
  ];
}

function documentFor(position: Position): string {
  const { field } = position;
  const variables = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
  const selection = isCompositeType(getNamedType(field.type)) ? ' { __typename }' : '';
  return `${position.root === 'Query' ? 'query' : 'mutation'} Probe(${variables}) { ${field.name}(${args})${selection} }`;
}

function variablesFor(position: Position, bad: unknown): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  for (const arg of position.field.args) {
    if (arg.name === position.arg) variables[arg.name] = withBadValue(arg.type, position.steps, bad);
    // A required argument with a default (joinRequestsConnection's status) is still a required
    // variable in the probe's document: give it a value too.
    else if (isNonNullType(arg.type)) variables[arg.name] = minimal(arg.type);
  }
  return variables;
}

describe('the generated cases cover the schema', () => {
  it('finds the string and JSON inputs the issue named (definitions, search filters, parameters, the audit-log filter)', () => {
    const names = positions.map((p) => `${p.root}.${p.field.name}:${fieldPath(p, [])}`);
    expect(positions.length).toBeGreaterThan(100);
    for (const expected of [
      'Mutation.createWorkflow:input.definition',
      'Mutation.executeWorkflow:input.parameters',
      'Query.auditLog:filter.action',
      'Query.customers:filter.search',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it('the walker reports the first bad place with its path', () => {
    expect(findUnstorableValue({ a: [{ b: 'ok' }, { c: 'x\u0000' }] }, 'input')).toEqual({
      field: 'input.a.1.c',
      message: 'must not contain the NUL character (\\u0000)',
    });
    expect(findUnstorableValue({ ok: ['fine', 'ünïcödé 😀'] }, 'input')).toBeNull();
  });
});

describe('every String, ID and JSON argument position refuses what PostgreSQL cannot store', () => {
  let t: TestGateway;
  let token: string;
  let orgId: string;
  beforeAll(async () => {
    t = await startTestGateway();
    const org = await t.world.organization('Storable');
    orgId = org.id;
    token = await t.world.token(org.members.owner);
  });
  afterAll(() => t?.stop());

  /** Rows of every table the probed mutations could write (read as the superuser: forced RLS hides them from everyone else). */
  async function rowCounts(): Promise<Record<string, number>> {
    const owner = new pg.Client({ connectionString: t.db.superuserUrl });
    await owner.connect();
    try {
      const { rows } = await owner.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = 'app_public' and table_type = 'BASE TABLE' order by 1`,
      );
      const counts: Record<string, number> = {};
      for (const { table_name } of rows) {
        counts[table_name] = (await owner.query(`select count(*)::int as n from app_public.${table_name}`)).rows[0].n;
      }
      return counts;
    } finally {
      await owner.end();
    }
  }

  it(`${positions.length} positions × bad values answer BAD_USER_INPUT naming the field, and write nothing`, async () => {
    const before = await rowCounts();
    expect(before.organizations).toBeGreaterThanOrEqual(1); // the counts see rows at all
    const failures: string[] = [];
    for (const position of positions) {
      for (const bad of badValues(position.scalar)) {
        const expected = fieldPath(position, bad.suffix);
        // As the Owner (every permission), so nothing but the input check stands in the way.
        const response = await t.client.request(documentFor(position), variablesFor(position, bad.value), { token, orgId });
        const error = response.body.errors?.find((e) => e.extensions?.code === 'BAD_USER_INPUT');
        if (!error || error.extensions?.field !== expected || response.body.errors!.length !== 1) {
          failures.push(
            `${position.root}.${position.field.name} ${expected} (${bad.label}): ${JSON.stringify(response.body.errors ?? response.body.data)}`,
          );
        }
      }
    }
    expect(failures).toEqual([]);
    expect(await rowCounts()).toEqual(before);
  }, 240_000);

  it('literal values in the document are checked like variables', async () => {
    const response = await t.client.request(
      'mutation { createWorkflow(input: { name: "ok", definition: { steps: ["a\\u0000"] } }) { id } }',
      {},
      { token, orgId },
    );
    expect(response.body.errors).toMatchObject([{ extensions: { code: 'BAD_USER_INPUT', field: 'input.definition.steps.0' } }]);
  });
});
