/**
 * Walking a Relay connection end to end: forwards with first/after, backwards with last/before,
 * checking pageInfo on every page. Tests compare both walks with the plain list they replace.
 */
import { expect } from 'vitest';

export interface PageArgs {
  first?: number;
  after?: string | null;
  last?: number;
  before?: string | null;
}

export interface ConnectionData {
  totalCount?: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** A query for `field` with the paging variables (plus `extra`, e.g. `$status: JoinRequestStatus!` / `status: $status`). */
export function connectionQuery(field: string, extra: { declare?: string; pass?: string } = {}): string {
  return `query($first: Int, $after: String, $last: Int, $before: String${extra.declare ? `, ${extra.declare}` : ''}) {
    ${field}(first: $first, after: $after, last: $last, before: $before${extra.pass ? `, ${extra.pass}` : ''}) {
      totalCount
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }`;
}

/** Every id of the list, walked forwards and backwards `size` at a time, and how many pages each took. */
export async function walk(fetchPage: (args: PageArgs) => Promise<ConnectionData>, size: number) {
  const forward: string[] = [];
  let after: string | null = null;
  let forwardPages = 0;
  let totalCount: number | undefined;
  for (;;) {
    const page = await fetchPage({ first: size, after });
    forwardPages++;
    totalCount ??= page.totalCount;
    expect(page.edges.length).toBeLessThanOrEqual(size);
    expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
    forward.push(...page.edges.map((e) => e.node.id));
    expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
    if (!page.pageInfo.hasNextPage) break;
    expect(page.edges).toHaveLength(size);
    after = page.pageInfo.endCursor;
    if (forwardPages > 500) throw new Error('no end in sight');
  }
  const backward: string[] = [];
  let before: string | null = null;
  let backwardPages = 0;
  for (;;) {
    const page = await fetchPage({ last: size, before });
    backwardPages++;
    expect(page.edges.length).toBeLessThanOrEqual(size);
    expect(page.pageInfo.hasNextPage).toBe(before !== null);
    backward.unshift(...page.edges.map((e) => e.node.id));
    expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
    if (!page.pageInfo.hasPreviousPage) break;
    expect(page.edges).toHaveLength(size);
    before = page.pageInfo.startCursor;
    if (backwardPages > 500) throw new Error('no start in sight');
  }
  return { forward, backward, forwardPages, backwardPages, totalCount };
}

/** The list walked both ways is `expected`, over more than one page, and totalCount says its length. */
export async function expectWalk(fetchPage: (args: PageArgs) => Promise<ConnectionData>, size: number, expected: string[]) {
  const walked = await walk(fetchPage, size);
  expect(expected.length).toBeGreaterThan(size);
  expect(walked.forwardPages).toBeGreaterThan(1);
  expect(walked.backwardPages).toBeGreaterThan(1);
  expect(walked.forward).toEqual(expected);
  expect(walked.backward).toEqual(expected);
  expect(walked.totalCount).toBe(expected.length);
  return walked;
}
