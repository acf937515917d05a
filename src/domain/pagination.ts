/**
 * Keyset (cursor) pagination. A cursor carries the sort key exactly as Postgres printed it plus
 * the row id, so the next page starts right after the last row seen even when rows are inserted
 * meanwhile, and ties on the sort key are broken by id: a stable order.
 */
import { SEARCH_INDEXES } from '../db/search-bootstrap.js';
import { badUserInput } from '../errors.js';

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Sort {
  /** A SQL expression over the row (e.g. `w.created_at`, `lower(w.name)`). */
  expression: string;
  /** The type the cursor's text is cast back to. */
  type: 'timestamptz' | 'text' | 'int';
  direction: 'asc' | 'desc';
  /** The tie-breaker: the row's id column, qualified like `expression` (e.g. `w.id`). */
  id: string;
}

export interface PageWindow {
  limit: number;
  backward: boolean;
  cursor: { key: string; id: string } | null;
  args: PageArgs;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export function encodeCursor(key: string, id: string): string {
  return Buffer.from(JSON.stringify([key, id])).toString('base64url');
}

/**
 * An edge whose cursor is encoded when read: most pages select `node` only, and encoding a
 * cursor per row (JSON + base64) showed in issue 10's profile.
 */
class Edge<T extends { cursor_key: string; id: string; cursor_id?: string }> {
  constructor(readonly node: T) {}
  get cursor(): string {
    // cursor_id: rows whose id is not a uuid (fixed rows held in code, see pagedParts).
    return encodeCursor(this.node.cursor_key, this.node.cursor_id ?? this.node.id);
  }
}

function decodeCursor(field: string, cursor: string): { key: string; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      typeof parsed[1] === 'string' &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(parsed[1])
    ) {
      return { key: parsed[0], id: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw badUserInput(field, 'is not a cursor returned by this list');
}

export function pageWindow(args: PageArgs): PageWindow {
  const { first, last, after, before } = args;
  if (first != null && last != null) throw badUserInput('first', 'cannot be combined with last');
  if (first != null && (first < 0 || first > MAX_PAGE_SIZE))
    throw badUserInput('first', `must be between 0 and ${MAX_PAGE_SIZE}`);
  if (last != null && (last < 0 || last > MAX_PAGE_SIZE)) throw badUserInput('last', `must be between 0 and ${MAX_PAGE_SIZE}`);
  if (after != null && before != null) throw badUserInput('after', 'cannot be combined with before');
  const backward = last != null || (before != null && first == null);
  if (backward && after != null) throw badUserInput('after', 'pages backwards with before, not after');
  if (!backward && before != null) throw badUserInput('before', 'pages backwards with last');
  const cursor = backward
    ? before != null
      ? decodeCursor('before', before)
      : null
    : after != null
      ? decodeCursor('after', after)
      : null;
  return { limit: (backward ? last : first) ?? DEFAULT_PAGE_SIZE, backward, cursor, args };
}

/**
 * SQL fragments for one page: the keyset condition (`$n` placeholders numbered from
 * `nextParam`), the ORDER BY, and the cursor key expression to select.
 */
/** A cursor's key must cast to the sort's type; a forged one is bad input, not an aborted transaction. */
function assertCursorKey(sort: Sort, window: PageWindow): void {
  const key = window.cursor?.key;
  if (key === undefined) return;
  const valid =
    sort.type === 'timestamptz'
      ? // Postgres prints timestamptz as 2026-11-24 00:40:33.057851+00 (the form our cursors carry).
        /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/.test(key)
      : sort.type === 'int'
        ? /^-?\d{1,18}$/.test(key)
        : true;
  if (!valid) throw badUserInput(window.backward ? 'before' : 'after', 'is not a cursor returned by this list');
}

export function keyset(sort: Sort, window: PageWindow, nextParam: number) {
  assertCursorKey(sort, window);
  const effective = window.backward ? (sort.direction === 'asc' ? 'desc' : 'asc') : sort.direction;
  const id = sort.id;
  const condition = window.cursor
    ? `(${sort.expression}, ${id}) ${effective === 'asc' ? '>' : '<'} ($${nextParam}::${sort.type}, $${nextParam + 1}::uuid)`
    : 'true';
  return {
    condition,
    params: window.cursor ? [window.cursor.key, window.cursor.id] : [],
    orderBy: `${sort.expression} ${effective}, ${id} ${effective}`,
    direction: effective,
    cursorKey: `(${sort.expression})::text`,
    limit: window.limit + 1,
  };
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: () => Promise<number>;
}

/**
 * Turns limit+1 fetched rows (each with `cursor_key` and `id`) into a Relay connection. When the
 * list query already computed the total (a `total_count` column), no second query is needed.
 */
export function toConnection<T extends { id: string; cursor_key: string; total_count?: number }>(
  rows: T[],
  window: PageWindow,
  totalCount: () => Promise<number>,
): Connection<T> {
  const counted = rows[0]?.total_count;
  if (counted !== undefined && counted !== null) totalCount = async () => Number(counted);
  const hasMore = rows.length > window.limit;
  const page = rows.slice(0, window.limit);
  if (window.backward) page.reverse();
  const edges = page.map((node) => new Edge(node));
  return {
    edges,
    pageInfo: {
      hasNextPage: window.backward ? window.args.before != null : hasMore,
      hasPreviousPage: window.backward ? hasMore : window.args.after != null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: memo(totalCount),
  };
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= fn());
}

/** An ILIKE pattern matching `text` anywhere (its LIKE wildcards literal); null for blank text. */
export function containsPattern(text: string | null | undefined): string | null {
  const trimmed = text?.trim();
  return trimmed ? `%${trimmed.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
}

/**
 * Substring search, and how a page of it is read (issue 10). The match is
 * `column OPERATOR(gateway_search.~~~*) '%term%'`: ILIKE, under a name `db:bootstrap` (a
 * superuser) can make leakproof and give a pg_trgm GIN index class (src/db/search-bootstrap.ts,
 * migration 021). Where it has not (`detectIndexedSearch` false), the gateway sends plain ILIKE.
 *
 * With the indexes, a search page is read in two bounded steps instead of one unbounded scan:
 *  1. a window: the list's own ordered index, at most SEARCH_WINDOW_PAGES pages' worth of rows
 *     from the cursor, matched as they come. A common term fills its page here (O(page)), and
 *     so does any list shorter than the window.
 *  2. only if the window ran out before the page filled (the term is rare here): the GIN index
 *     (org_id first) finds every match from the cursor on, which are then sorted and cut:
 *     O(matches). The matches are gathered in a MATERIALIZED CTE on purpose: given the order and
 *     a LIMIT, a planner unsure of the term's frequency (a generic plan) might pick the ordered
 *     scan again, which for a rare term reads the organization.
 * Why not leave the choice to the planner in one statement: statements are prepared, and a
 * generic plan cannot know the term (checked: it took the trigram index for a term matching
 * every row). Why not only a window (stop after N rows, return a short page with a cursor): it
 * would change what a page holds; this reads the same rows, in the same order, as before.
 * A term without three consecutive letters or digits has no trigram for the index: it reads as
 * before (until the page fills).
 */
export const SEARCH_WINDOW_PAGES = 5;
const SEARCH_OPERATOR = 'operator(gateway_search.~~~*)';
let indexedSearch = false;
/**
 * Without the indexes the gateway sends plain ILIKE (what the stand-in stands for), so an
 * unindexed database never depends on gateway_search: a dump restored where no superuser could
 * recreate the operator still searches (review F4).
 */
const searchOperator = () => (indexedSearch ? SEARCH_OPERATOR : 'operator(pg_catalog.~~*)');

/** Set at start from `detectIndexedSearch` (the gateway) or by a test. */
export function setIndexedSearch(on: boolean): void {
  indexedSearch = on;
}

/** The leakproof operator and the GIN indexes exist (`db:bootstrap` then migrations 021 and 022, or the reverse). */
export async function detectIndexedSearch(db: {
  query<R extends import('pg').QueryResultRow>(text: string): Promise<import('pg').QueryResult<R>>;
}): Promise<boolean> {
  // Every index SEARCH_INDEXES names (each searchable list's), not just one: a list without its
  // index would read its organization through the leakproof operator.
  const indexes = SEARCH_INDEXES.map(([name]) => `and to_regclass('app_public.${name}') is not null`).join(' ');
  const { rows } = await db.query<{ indexed: boolean }>(
    `select coalesce((select proleakproof from pg_catalog.pg_proc where oid = to_regprocedure('gateway_search.contains_ci(text,text)')), false)
       ${indexes} as indexed`,
  );
  return rows[0]?.indexed === true;
}

/** pg_trgm extracts trigrams from runs of letters and digits: a shorter term gives the index nothing. */
function hasTrigram(term: string): boolean {
  return /[\p{L}\p{N}]{3}/u.test(term);
}

/**
 * A WHERE clause built from optional filters, numbering its own placeholders.
 *   const where = new Conditions();
 *   where.add((p) => `e.status = ${p}`, filter.status);   // skipped when the value is null/undefined
 */
export class Conditions {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];
  /** The substring search among `parts`, and its term (see SEARCH_WINDOW_PAGES). */
  searchPart: string | undefined;
  searchTerm: string | undefined;
  /** The search as each source of a several-source list matches it (`search` with columns per source). */
  private searchBySource: string[] | undefined;

  add(sql: (placeholder: string) => string, value: unknown): this {
    if (value === null || value === undefined || value === '') return this;
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
    return this;
  }

  /**
   * Case-insensitive substring match on any of `columns` (LIKE wildcards in `text` are literal).
   * A list of several sources (pagedQuery) may name columns per source, in the order of its
   * sources: each source then matches on its own columns (one bitmap per indexed column, no
   * column that is NULL by construction in the OR, which would keep the index out).
   */
  search(columns: readonly string[] | readonly (readonly string[])[], text: string | null | undefined): this {
    const perSource = (typeof columns[0] === 'string' ? [columns] : columns) as readonly (readonly string[])[];
    const match = (cols: readonly string[], p: string) => `(${cols.map((c) => `${c} ${searchOperator()} ${p}`).join(' or ')})`;
    const before = this.parts.length;
    let placeholder = '';
    this.add((p) => match(perSource[0]!, (placeholder = p)), containsPattern(text));
    if (this.parts.length > before) {
      this.searchPart = this.parts.at(-1);
      this.searchTerm = text!.trim();
      this.searchBySource = perSource.map((cols) => match(cols, placeholder));
    }
    return this;
  }

  /** The search condition as source `source` of a several-source list matches it. */
  searchFor(source: number): string | undefined {
    return this.searchBySource?.[source] ?? this.searchPart;
  }

  /** The conditions other than the substring search. */
  withoutSearch(): string {
    const rest = this.parts.filter((p) => p !== this.searchPart);
    return rest.length ? rest.join(' and ') : 'true';
  }

  raw(sql: string): this {
    this.parts.push(sql);
    return this;
  }

  /** Every condition; with `source`, the search as that source of a several-source list matches it. */
  toString(source?: number): string {
    const parts =
      source === undefined ? this.parts : this.parts.map((p) => (p === this.searchPart ? this.searchFor(source)! : p));
    return parts.length ? parts.join(' and ') : 'true';
  }
}

/**
 * One page of a filtered, keyset-ordered list, with its total riding along (an uncorrelated
 * sub-select, evaluated once) when the client asked for it, else counted on demand.
 *
 * The page is cut first, on `from` alone (one table, or a UNION ALL of single tables), so an
 * index matching the order reads only the page's rows; `decorate` joins what the page shows
 * (names, e-mails…) onto those rows afterwards. A join before the cut would let the planner
 * read the whole organization and sort it (test/db/list-plans.test.ts checks every list).
 */
export async function pagedQuery<T extends { id: string }>(
  db: { query<R extends import('pg').QueryResultRow>(text: string, values?: unknown[]): Promise<import('pg').QueryResult<R>> },
  options: {
    columns: string;
    /**
     * One source, or several whose rows form one list (e.g. members and invitations): each is cut
     * to a page on its own index, then the cut pages are merged and cut again.
     */
    from: string | string[];
    where: Conditions;
    sort: Sort;
    page: PageArgs;
    withTotal: boolean;
    /** Columns and joins applied to the cut page, whose rows are called `page`. */
    decorate?: { columns: string; joins: string };
  },
): Promise<Connection<T & { cursor_key: string }>> {
  const window = pageWindow(options.page);
  const { params } = options.where;
  const k = keyset(options.sort, window, params.length + 1);
  const sources = Array.isArray(options.from) ? options.from : [options.from];
  /** Source i's conditions: a several-source list may search each source on its own columns (Conditions.search). */
  const whereOf = (i: number) => options.where.toString(i);
  const countSql = `select ${sources.map((from, i) => `(select count(*)::int from ${from} where ${whereOf(i)})`).join(' + ')} as count`;
  const total = options.withTotal ? `, (${countSql}) as total_count` : '';
  const cut = (from: string, where: string, extra: string) =>
    `select ${options.columns}, ${k.cursorKey} as cursor_key${extra}
     from ${from} where ${where} and ${k.condition} order by ${k.orderBy} limit ${k.limit}`;
  const sortValue = `, ${options.sort.expression} as sort_value`;
  /** The cut page with what it shows joined after the cut (a one-source list). */
  const decorated = (pageSql: string) =>
    options.decorate
      ? `select page.*, ${options.decorate.columns}${total} from (${pageSql}) page ${options.decorate.joins}
       order by page.sort_value ${k.direction}, page.id ${k.direction}`
      : pageSql;
  const byValue = `order by sort_value ${k.direction}, id ${k.direction}`;
  /** Cut pages of several sources, merged and cut again; with what the page shows, or the total. */
  const merge = (cuts: string[], ctes = '') => {
    const pageSql = `${ctes}select * from (${cuts.map((c) => `(${c})`).join(' union all ')}) merged ${byValue} limit ${k.limit}`;
    return options.decorate ? decorated(pageSql) : `select merged.*${total} from (${pageSql}) merged ${byValue}`;
  };
  const counted = async () => (await db.query<{ count: number }>(countSql, params)).rows[0]!.count;
  let pageSql: string;
  const search = options.where.searchPart;
  const searchSteps = search !== undefined && indexedSearch && hasTrigram(options.where.searchTerm!);
  const aliasOf = (from: string) => /\s([a-z_][a-z0-9_]*)\s*$/i.exec(from)![1]!;
  const windowRows = SEARCH_WINDOW_PAGES * k.limit;
  if (searchSteps) {
    // A search page (see SEARCH_WINDOW_PAGES), per source (members and invitations are two). Step 1
    // reads every source's window, in the list's order, and says, per source, whether its window
    // decided its share of the page (a page's worth of matches, or the source ended inside the
    // window); step 2, for a term rare somewhere, reads the GIN index for the sources whose window
    // did not, and the windows again for the others.
    const windowCte = (from: string, i: number) =>
      `scan${i} as (select ${aliasOf(from)}.* from ${from} where ${options.where.withoutSearch()} and ${k.condition}
         order by ${k.orderBy} limit ${windowRows})`;
    const windowCut = (from: string, i: number) =>
      `select ${options.columns}, ${k.cursorKey} as cursor_key${sortValue}
       from scan${i} ${aliasOf(from)} where ${options.where.searchFor(i)} order by ${k.orderBy} limit ${k.limit}`;
    const foundCte = (from: string, i: number) =>
      `found${i} as materialized (select ${aliasOf(from)}.* from ${from} where ${whereOf(i)} and ${k.condition})`;
    const foundCut = (from: string, i: number) =>
      `select ${options.columns}, ${k.cursorKey} as cursor_key${sortValue}
       from found${i} ${aliasOf(from)} order by ${k.orderBy} limit ${k.limit}`;
    type Row = T & { cursor_key: string; total_count?: number; stats?: number[] };
    const stats = sources.map((_, i) => `(select count(*)::int from scan${i}), (select count(*)::int from cut${i})`).join(', ');
    const firstSql = merge(
      sources.map((_, i) => `select cut${i}.*, json_build_array(${stats}) as stats from cut${i}`),
      `with ${sources.map(windowCte).join(', ')}, ${sources.map((from, i) => `cut${i} as (${windowCut(from, i)})`).join(', ')} `,
    );
    let rows = (await db.query<Row>(firstSql, [...params, ...k.params])).rows;
    // Per source: [rows scanned, matches] (any row carries them); no row at all: no window decided.
    const figures = rows[0]?.stats ?? null;
    const decided = sources.map((_, i) => (figures ? figures[2 * i + 1]! >= k.limit || figures[2 * i]! < windowRows : false));
    if (decided.some((d) => !d)) {
      const ctes = sources.map((from, i) => (decided[i] ? windowCte(from, i) : foundCte(from, i)));
      const cuts = sources.map((from, i) => (decided[i] ? windowCut(from, i) : foundCut(from, i)));
      rows = (await db.query<Row>(merge(cuts, `with ${ctes.join(', ')} `), [...params, ...k.params])).rows;
    }
    for (const row of rows) delete row.stats;
    return toConnection(rows, window, counted);
  }
  if (sources.length === 1) {
    pageSql = cut(sources[0]!, whereOf(0), options.decorate ? sortValue : total);
    const text = decorated(pageSql);
    const { rows } = await db.query<T & { cursor_key: string; total_count?: number }>(text, [...params, ...k.params]);
    return toConnection(rows, window, counted);
  }
  const text = merge(sources.map((from, i) => cut(from, whereOf(i), sortValue)));
  const { rows } = await db.query<T & { cursor_key: string; total_count?: number }>(text, [...params, ...k.params]);
  return toConnection(rows, window, counted);
}

// ---------------------------------------------------------------------------------------------
// Lists made of parts shown one after the other (system roles, then custom ones; the default
// workspace, then the others; people, then teams), each part in its own keyset order on its own
// index. A row's cursor names its part (`<part>:<key>`), so a page resumes in the right part and
// never reads the parts it has passed: the tuple (part, key, id) is the list's order.
// ---------------------------------------------------------------------------------------------

/** A part read from the database: its source, the condition that makes it this part, its order. */
export interface QueryPart {
  columns: string;
  /** One table (or a join whose page is still cut on one ordered index). */
  from: string;
  /** What the total counts in, when `from` joins lookups the count does not need (default `from`). */
  countFrom?: string;
  /** Without placeholders, e.g. `r.system_key is null`, `w.is_default`. */
  condition: string;
  sort: Sort;
}

/** A part held in code (the four system project roles): rows in list order. */
export interface FixedPart<T> {
  rows: readonly T[];
}

export type ListPart<T> = QueryPart | FixedPart<T>;

/** The cursor id of a fixed row (its key is its position in the part). */
const FIXED_ROW_CURSOR_ID = '00000000-0000-0000-0000-000000000000';

/**
 * One page of a list whose parts follow one another. Each part still needed is cut to what the
 * page lacks on its own index, in order (one statement per part, usually one or two); the parts
 * before the cursor's are not read at all. `where` (shared by every query part, numbering its own
 * placeholders) narrows every part alike. The total is counted only when asked for.
 */
export async function pagedParts<T extends { id: string }>(
  db: { query<R extends import('pg').QueryResultRow>(text: string, values?: unknown[]): Promise<import('pg').QueryResult<R>> },
  options: { parts: ListPart<T>[]; where: Conditions; page: PageArgs },
): Promise<Connection<T & { cursor_key: string }>> {
  const window = pageWindow(options.page);
  const { parts } = options;
  const field = window.backward ? 'before' : 'after';
  let cursorPart = window.backward ? parts.length - 1 : 0;
  let cursorKey: string | null = null;
  if (window.cursor) {
    const match = /^(\d{1,3}):(.*)$/s.exec(window.cursor.key);
    if (!match || Number(match[1]) >= parts.length) throw badUserInput(field, 'is not a cursor returned by this list');
    cursorPart = Number(match[1]);
    cursorKey = match[2]!;
  }
  const order = parts.map((_, i) => i).filter((i) => (window.backward ? i <= cursorPart : i >= cursorPart));
  if (window.backward) order.reverse();
  const want = window.limit + 1;
  const rows: (T & { cursor_key: string; cursor_id?: string })[] = [];
  const params = options.where.params;
  const where = options.where.toString();
  for (const i of order) {
    if (rows.length >= want) break;
    const part = parts[i]!;
    const resumes = window.cursor && i === cursorPart;
    if ('rows' in part) {
      let positions = part.rows.map((_, position) => position);
      if (resumes) {
        const from = /^\d{1,4}$/.test(cursorKey!) ? Number(cursorKey) : NaN;
        if (!(from < part.rows.length)) throw badUserInput(field, 'is not a cursor returned by this list');
        positions = positions.filter((p) => (window.backward ? p < from : p > from));
      }
      if (window.backward) positions.reverse();
      for (const position of positions.slice(0, want - rows.length)) {
        rows.push({ ...part.rows[position]!, cursor_key: `${i}:${position}`, cursor_id: FIXED_ROW_CURSOR_ID });
      }
      continue;
    }
    const partWindow: PageWindow = {
      ...window,
      limit: want - rows.length - 1,
      cursor: resumes ? { key: cursorKey!, id: window.cursor!.id } : null,
    };
    const k = keyset(part.sort, partWindow, params.length + 1);
    const { rows: cut } = await db.query<T & { cursor_key: string }>(
      `select ${part.columns}, ${k.cursorKey} as cursor_key from ${part.from}
       where ${where} and ${part.condition} and ${k.condition} order by ${k.orderBy} limit ${k.limit}`,
      [...params, ...k.params],
    );
    for (const row of cut) rows.push({ ...row, cursor_key: `${i}:${row.cursor_key}` });
  }
  const counts = parts.flatMap((part) =>
    'rows' in part ? [] : [`(select count(*)::int from ${part.countFrom ?? part.from} where ${where} and ${part.condition})`],
  );
  const fixed = parts.reduce((n, part) => n + ('rows' in part ? part.rows.length : 0), 0);
  return toConnection(rows, window, async () =>
    counts.length === 0
      ? fixed
      : fixed + (await db.query<{ count: number }>(`select ${counts.join(' + ')} as count`, params)).rows[0]!.count,
  );
}
