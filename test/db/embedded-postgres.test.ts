/**
 * The fresh-machine path of the embedded PostgreSQL: as root, with no OS user to run the server
 * and binaries under a directory that user cannot enter. (Other tests run on a cluster the
 * global setup started, which on a developer machine finds `postgres` already there.)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('embedded PostgreSQL as root', () => {
  it('creates a missing OS user, runs the server as it, and keeps data across a restart', async () => {
    const osUser = `gwpg${process.pid}`;
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'embedded-'));
    fs.chmodSync(root, 0o755);
    const dataDir = path.join(root, 'data');
    expect(spawnSync('id', ['-u', osUser]).status).not.toBe(0);
    try {
      let server = await startEmbeddedPostgres({ dataDir, durable: false, osUser });
      expect(spawnSync('id', ['-u', osUser]).status).toBe(0);
      const client = new pg.Client({ connectionString: server.superuserUrl() });
      await client.connect();
      await client.query('create table kept (v int); insert into kept values (42)');
      await client.end();
      await server.stop();

      server = await startEmbeddedPostgres({ dataDir, durable: false, osUser });
      const again = new pg.Client({ connectionString: server.superuserUrl() });
      await again.connect();
      expect((await again.query('select v from kept')).rows).toEqual([{ v: 42 }]);
      const owner = spawnSync('stat', ['-c', '%U', dataDir], { encoding: 'utf8' }).stdout.trim();
      expect(owner).toBe(osUser);
      await again.end();
      await server.stop();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      spawnSync('userdel', [osUser]);
      spawnSync('groupdel', [osUser]);
    }
  });

  it('says which setting to change when the data directory is out of the server user’s reach', async () => {
    const hidden = fs.mkdtempSync(path.join(os.tmpdir(), 'hidden-')); // 0700: others cannot enter
    try {
      await expect(startEmbeddedPostgres({ dataDir: path.join(hidden, 'data'), durable: false })).rejects.toThrow(
        /EMBEDDED_POSTGRES_DIR/,
      );
    } finally {
      fs.rmSync(hidden, { recursive: true, force: true });
    }
  });
});
