import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationError, migrate, readMigrationFiles, verifyMigrated } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

async function asOwner<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('migration files', () => {
  it('are numbered in ascending order and each starts with a comment saying why', () => {
    const files = readMigrationFiles();
    expect(files.map((f) => f.id)).toEqual([...new Set(files.map((f) => f.id))].sort((a, b) => a - b));
    for (const file of files) expect(file.sql.trimStart().startsWith('--'), file.name).toBe(true);
  });

  it('refuse names that do not follow NNN_description.sql, and duplicate numbers', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
    fs.writeFileSync(path.join(dir, '001_ok.sql'), '-- ok');
    fs.writeFileSync(path.join(dir, '003_reserved_gap.sql'), '-- a reserved number may be missing');
    expect(readMigrationFiles(dir).map((f) => f.id)).toEqual([1, 3]);
    fs.writeFileSync(path.join(dir, '003_twin.sql'), '-- twin');
    expect(() => readMigrationFiles(dir)).toThrow(/must be unique/);
    fs.rmSync(path.join(dir, '003_twin.sql'));
    fs.writeFileSync(path.join(dir, 'Bad Name.sql'), '');
    expect(() => readMigrationFiles(dir)).toThrow(/must look like/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('applying', () => {
  it('is idempotent: a migrated database gets nothing new', async () => {
    expect(await migrate(db.ownerUrl)).toEqual({ applied: [] });
  });

  it('records every file with its checksum', async () => {
    const rows = await asOwner(
      async (c) => (await c.query('select id, name, checksum from app_migrations.applied order by id')).rows,
    );
    expect(rows).toEqual(readMigrationFiles().map((f) => ({ id: f.id, name: f.name, checksum: f.checksum })));
  });

  it('the gateway role can verify but not migrate', async () => {
    const pool = db.appPool(1);
    await expect(verifyMigrated(pool)).resolves.toBeUndefined();
    await expect(pool.query('create table app_public.sneaky (id int)')).rejects.toThrow(/permission denied/);
  });

  it('refuses a database where an applied file was changed', async () => {
    await asOwner((c) => c.query(`update app_migrations.applied set checksum = 'tampered' where id = 1`));
    try {
      await expect(migrate(db.ownerUrl)).rejects.toThrow(/was changed after it ran/);
      await expect(verifyMigrated(db.appPool(1))).rejects.toBeInstanceOf(MigrationError);
    } finally {
      const real = readMigrationFiles()[0]!.checksum;
      await asOwner((c) => c.query('update app_migrations.applied set checksum = $1 where id = 1', [real]));
    }
  });

  it('without owner credentials, the gateway refuses a database with pending migrations', async () => {
    const files = readMigrationFiles();
    await asOwner((c) => c.query(`delete from app_migrations.applied where id = $1`, [files.at(-1)!.id]));
    try {
      await expect(verifyMigrated(db.appPool(1))).rejects.toThrow(/missing migrations/);
    } finally {
      await asOwner((c) =>
        c.query('insert into app_migrations.applied (id, name, checksum) values ($1, $2, $3)', [
          files.at(-1)!.id,
          files.at(-1)!.name,
          files.at(-1)!.checksum,
        ]),
      );
    }
  });
});
