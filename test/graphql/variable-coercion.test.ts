/**
 * Variables, defaults and errors answer as the GraphQL spec (and graphql-js) define them. These
 * cases came from a differential review of graphql-jit (docs/reviews/graphql-jit-2026-11-26.md):
 * each one failed while graphql-jit executed operations, which is why it is not used. They stay
 * as the contract any executor, cache or compiler put in front of the schema must keep.
 */
import { GraphQLObjectType, type GraphQLFieldResolver } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';
import { errorCodes, expectData, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';

let t: TestGateway;
let a: SeededOrg;
beforeAll(async () => {
  t = await startTestGateway();
  a = await t.world.organization('Compiled', { workflows: 3 });
});
afterAll(() => t?.stop());

const owner = async () => ({ token: await t.world.token(a.members.owner), orgId: a.id });
const eventsOf = async (requestId: string | null) =>
  (await t.world.audit(a, { requestId: requestId! })).filter((e) => e.action !== 'auth.login');

describe('variables are coerced as graphql-js coerces them', () => {
  it('F1: an input-object variable gets the input fields’ default values (DefinitionOrder.direction = DESC)', async () => {
    const response = await t.client.request<{ workflows: { edges: { node: { name: string } }[] } }>(
      'query F1($o: DefinitionOrder) { workflows(first: 3, orderBy: $o) { edges { node { name } } } }',
      { o: { field: 'NAME' } },
      await owner(),
    );
    expect(response.body.errors).toBeUndefined();
    expect(expectData(response).workflows.edges.map((e) => e.node.name)).toEqual([
      'Compiled workflow 3',
      'Compiled workflow 2',
      'Compiled workflow 1',
    ]);
  });

  it('F2: a variable left out inside an input-object literal is absent, not null (audit details name what changed)', async () => {
    const response = await t.client.request(
      'mutation F2($n: String, $tz: String) { updateOrganizationSettings(input: { name: $n, timezone: $tz }) { name } }',
      { n: 'Compiled renamed' },
      await owner(),
    );
    expectData(response);
    const events = await eventsOf(response.headers.get('x-request-id'));
    expect(events.map((e) => [e.action, e.outcome, e.details])).toEqual([
      ['organization.update_settings', 'success', { changed: ['name'] }],
    ]);
  });

  it('F3: a variable that does not coerce is HTTP 400 naming the variable and the path inside it', async () => {
    const response = await t.client.request(
      'query F3($f: WorkflowFilter) { workflows(first: 1, filter: $f) { totalCount } }',
      { f: { search: 5 } },
      await owner(),
    );
    expect(response.status).toBe(400);
    expect(response.body.data).toBeUndefined();
    expect(response.body.errors).toHaveLength(1);
    expect(response.body.errors![0]!.message).toBe(
      'Variable "$f" got invalid value 5 at "f.search"; String cannot represent a non string value: 5',
    );
  });

  it('F4: null in a non-null input position (nullable variable with a default) never reaches the resolver', async () => {
    const response = await t.client.request(
      `mutation F4($id: ID = "${a.workflows[0]}") { updateWorkflow(input: { id: $id, name: "F4 renamed" }) { id } }`,
      { id: null },
      await owner(),
    );
    expect(response.body.data).toEqual({ updateWorkflow: null });
    expect(response.body.errors!.map((e) => e.message)).toEqual([
      'Argument "input" has invalid value {id: $id, name: "F4 renamed"}.',
    ]);
    // The resolver never ran: no Failure event (graphql-jit runs it with id: null and audits a failure).
    expect(await eventsOf(response.headers.get('x-request-id'))).toEqual([]);
  });

  it('F5: a non-null variable with a default value takes the default when left out', async () => {
    const response = await t.client.request<{ workflows: { totalCount: number } }>(
      'query F5($n: Int! = 2) { workflows(first: $n) { totalCount edges { cursor } } }',
      {},
      await owner(),
    );
    expect(response.body.errors).toBeUndefined();
    expect(expectData(response).workflows.totalCount).toBe(3);
  });
});

describe('input objects', () => {
  it('F7: a list is not an input object: the mutation does not run (nor audit a Success)', async () => {
    const response = await t.client.request(
      'mutation F7($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) { name } }',
      { input: [] },
      await owner(),
    );
    expect(response.status).toBe(400);
    expect(response.body.errors!.map((e) => e.message)).toEqual([
      'Variable "$input" got invalid value []; Expected type "UpdateOrganizationSettingsInput" to be an object.',
    ]);
    expect(await eventsOf(response.headers.get('x-request-id'))).toEqual([]);
  });
});

describe('unexpected errors are masked and logged (maskedErrors)', () => {
  /** Replaces Workflow.description's resolver for one test (before the document is first compiled). */
  async function withDescription(resolve: GraphQLFieldResolver<unknown, unknown>, run: () => Promise<void>) {
    const field = (schema.getType('Workflow') as GraphQLObjectType).getFields().description!;
    const original = field.resolve;
    field.resolve = resolve;
    try {
      await run();
    } finally {
      field.resolve = original;
    }
  }

  it('F6: a value a leaf cannot serialize is INTERNAL_SERVER_ERROR with no message detail, and logged', async () => {
    await withDescription(
      () => ({ credentials: 'sk_live_do_not_leak' }),
      async () => {
        const response = await t.client.request(
          'query F6 { workflows(first: 1) { edges { node { id description } } } }',
          {},
          await owner(),
        );
        expect(JSON.stringify(response.body)).not.toContain('sk_live_do_not_leak');
        expect(errorCodes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
        expect(response.body.errors![0]!.message).toBe('Unexpected error.');
        expect(
          t.logs.some((line) => line.includes('unexpected error in resolver') && line.includes('String cannot represent')),
        ).toBe(true);
      },
    );
  });

  it('F6: null from a non-null field is INTERNAL_SERVER_ERROR (masked), not a schema detail without a code', async () => {
    await withDescription(
      () => null,
      async () => {
        const response = await t.client.request(
          'query F6b { workflows(first: 1) { edges { node { id description } } } }',
          {},
          await owner(),
        );
        expect(response.body.data).toEqual({ workflows: null });
        expect(errorCodes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
        expect(response.body.errors![0]!.message).toBe('Unexpected error.');
      },
    );
  });
});
