/**
 * Per-document work of the rate limiter and the storable-input check is done once per (schema,
 * operation) and never changes the document: Yoga's parse and validation caches hand the same
 * DocumentNode to every request with the same text, and must keep getting it back unchanged.
 * (Counting itself — every call counted, aliases too — is test/graphql/limits.test.ts.)
 */
import { parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { findUnstorableInput } from '../../src/http/storable-input.js';
import { rootFieldCalls } from '../../src/ratelimit/rate-limit.js';
import { schema } from '../../src/schema/index.js';

const TEXT = `
  query A { viewer { user { id } } again: viewer { user { id } } ...Root }
  query B { viewer { organization { name } } }
  mutation C($n: String!) { createWorkflow(input: { name: $n, definition: { steps: [] } }) { id } }
  fragment Root on Query { workflows(first: 1) { edges { node { id } } } }`;

describe('per-document caches', () => {
  it('root-field calls: each occurrence, per operation, computed once, document untouched', () => {
    const document = parse(TEXT);
    const before = print(document);
    const a = rootFieldCalls(schema, document, 'A');
    expect(a.map((f) => f.name)).toEqual(['viewer', 'viewer', 'workflows']);
    expect(rootFieldCalls(schema, document, 'A')).toBe(a); // the cached list
    // Every fragment of the document is walked, used or not (counting errs on the safe side).
    expect(rootFieldCalls(schema, document, 'B').map((f) => f.name)).toEqual(['viewer', 'workflows']);
    expect(rootFieldCalls(schema, document, 'C').map((f) => f.name)).toEqual(['createWorkflow']);
    expect(rootFieldCalls(schema, document, 'nope')).toEqual([]);
    // A new parse of the same text is a new document: its own entry, the same answer.
    expect(rootFieldCalls(schema, parse(TEXT), 'A').map((f) => f.name)).toEqual(['viewer', 'viewer', 'workflows']);
    expect(print(document)).toBe(before);
  });

  it('storable input: sites found once, values checked on every call', () => {
    const document = parse(TEXT);
    const before = print(document);
    expect(findUnstorableInput(schema, document, 'C', { n: 'fine' })).toBeNull();
    expect(findUnstorableInput(schema, document, 'C', { n: 'bad\u0000' })).toMatchObject({ field: 'input.name' });
    expect(findUnstorableInput(schema, document, 'C', { n: 'fine again' })).toBeNull();
    expect(findUnstorableInput(schema, document, 'A', {})).toBeNull();
    expect(print(document)).toBe(before);
  });
});
