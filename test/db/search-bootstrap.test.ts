/**
 * Indexed search's superuser step (src/db/search-bootstrap.ts) and migration 021, in both orders:
 * a database migrated where no superuser step ran gets a plain-ILIKE stand-in and no index (search
 * still works, unindexed); `db:bootstrap` run afterwards makes the operator leakproof, owned by
 * the superuser, and builds the indexes; run again it changes nothing.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, dropDatabase, withDatabase } from '../../src/db/bootstrap.js';
import { migrate } from '../../src/db/migrate.js';
import { detectIndexedSearch } from '../../src/domain/pagination.js';

const pgInfo = inject('postgres');
const name = `gateway_test_search_${randomBytes(4).toString('hex')}`;
const bootstrap = () =>
  bootstrapDatabase({
    superuserUrl: pgInfo.superuserUrl,
    database: name,
    ownerPassword: pgInfo.ownerPassword,
    appPassword: pgInfo.appPassword,
  });

async function as<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
const superuser = <T>(fn: (client: pg.Client) => Promise<T>) => as(withDatabase(pgInfo.superuserUrl, name), fn);
const app = <T>(fn: (client: pg.Client) => Promise<T>) =>
  as(withDatabase(pgInfo.superuserUrl, name, { user: APP_ROLE, password: pgInfo.appPassword }), fn);

async function operatorState() {
  return superuser(async (c) => {
    const { rows } = await c.query(
      `select l.lanname as language, p.proleakproof as leakproof, r.rolsuper as superuser_owned,
              (select count(*)::int from pg_class where relname in ('definitions_search', 'connections_search', 'customers_search',
                                                                     'memberships_search', 'invitations_search')) as indexes
       from pg_proc p join pg_language l on l.oid = p.prolang join pg_roles r on r.oid = p.proowner
       where p.oid = to_regprocedure('gateway_search.contains_ci(text,text)')`,
    );
    return rows[0];
  });
}

beforeAll(async () => {
  await bootstrap();
  // As on a server where no superuser step ran (or an older bootstrap): no gateway_search at all.
  await superuser((c) => c.query('drop schema gateway_search cascade'));
  await migrate(withDatabase(pgInfo.superuserUrl, name, { user: OWNER_ROLE, password: pgInfo.ownerPassword }));
}, 60_000);

afterAll(async () => {
  await dropDatabase(pgInfo.superuserUrl, name);
});

it('without the superuser step, migration 021 defines a plain ILIKE stand-in and no index; search works, unindexed', async () => {
  expect(await operatorState()).toEqual({ language: 'sql', leakproof: false, superuser_owned: false, indexes: 0 });
  await app(async (c) => {
    expect(await detectIndexedSearch(c)).toBe(false);
    // The gateway's SQL runs as is (nothing bound: no rows, no error).
    const { rows } = await c.query(
      `select count(*)::int as n from app_public.definitions d where d.name operator(gateway_search.~~~*) $1`,
      ['%x\\_y%'],
    );
    expect(rows).toEqual([{ n: 0 }]);
  });
});

it('db:bootstrap afterwards makes the operator leakproof (the superuser owns it) and builds the indexes; again, nothing changes', async () => {
  const first = await bootstrap();
  expect(first.search).toEqual({ indexed: true, indexesBuilt: 5 });
  expect(await operatorState()).toEqual({ language: 'plpgsql', leakproof: true, superuser_owned: true, indexes: 5 });
  await app(async (c) => expect(await detectIndexedSearch(c)).toBe(true));
  const again = await bootstrap();
  expect(again.search).toEqual({ indexed: true, indexesBuilt: 0 });
  // The app role cannot take the operator's leakproofness away or replace its body.
  await app(async (c) => {
    await expect(
      c.query(`create or replace function gateway_search.contains_ci(haystack text, pattern text) returns boolean
               language sql immutable as 'select true'`),
    ).rejects.toThrow(/permission denied|must be owner/);
  });
});

it('the leakproof operator is ILIKE on the patterns the gateway builds, and NULL (never an error) on any other', async () => {
  await app(async (c) => {
    const { rows } = await c.query(`select
        gateway_search.contains_ci('Acme Billing', '%BILL%') as plain,
        gateway_search.contains_ci('50% off', '%0\\% o%') as escaped_percent,
        gateway_search.contains_ci('50x off', '%0\\% o%') as percent_is_literal,
        gateway_search.contains_ci('a_b', '%a\\_b%') as escaped_underscore,
        gateway_search.contains_ci('axb', '%a\\_b%') as underscore_is_literal,
        gateway_search.contains_ci('back\\slash', '%k\\\\s%') as escaped_backslash,
        gateway_search.contains_ci('Acquisition of Initech', '%Acquisition of \\') as trailing_escape,
        gateway_search.contains_ci('anything', 'any%') as anchored,
        gateway_search.contains_ci('anything', '%a%y%') as inner_wildcard`);
    expect(rows[0]).toEqual({
      plain: true,
      escaped_percent: true,
      percent_is_literal: false,
      escaped_underscore: true,
      underscore_is_literal: false,
      escaped_backslash: true,
      trailing_escape: null,
      anchored: null,
      inner_wildcard: null,
    });
  });
});
