/**
 * A bootstrapped database with no migration applied, for tests of one migration on existing data:
 * apply the migrations before it, write rows as the owner would have, apply it, look.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { OWNER_ROLE, bootstrapDatabase, dropDatabase, withDatabase } from '../../src/db/bootstrap.js';
import { readMigrationFiles } from '../../src/db/migrate.js';

export interface UnmigratedDatabase {
  /** Connected as the owner (gateway_owner), the role migrations run as. */
  owner: pg.Client;
  /** Connected as the superuser: reads every row (no RLS) and the catalogue. */
  superuser: pg.Client;
  /** Applies, in order and each in its own transaction, the migrations whose number passes `which`. */
  apply(which: (id: number) => boolean): Promise<void>;
  drop(): Promise<void>;
}

export async function createUnmigratedDatabase(prefix: string): Promise<UnmigratedDatabase> {
  const pgInfo = inject('postgres');
  const name = `gateway_test_${prefix}_${randomBytes(4).toString('hex')}`;
  await bootstrapDatabase({
    superuserUrl: pgInfo.superuserUrl,
    database: name,
    ownerPassword: pgInfo.ownerPassword,
    appPassword: pgInfo.appPassword,
  });
  const owner = new pg.Client({
    connectionString: withDatabase(pgInfo.superuserUrl, name, { user: OWNER_ROLE, password: pgInfo.ownerPassword }),
  });
  const superuser = new pg.Client({ connectionString: withDatabase(pgInfo.superuserUrl, name) });
  await owner.connect();
  await superuser.connect();
  return {
    owner,
    superuser,
    async apply(which) {
      for (const file of readMigrationFiles().filter((f) => which(f.id))) {
        await owner.query('begin');
        await owner.query(file.sql);
        await owner.query('commit');
      }
    },
    async drop() {
      await owner.end();
      await superuser.end();
      await dropDatabase(pgInfo.superuserUrl, name);
    },
  };
}
