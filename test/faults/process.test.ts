/**
 * The process as an operator runs it (issue 7, points 6 and 7): `npm start` as a child process
 * on a data directory of its own (embedded PostgreSQL, development issuer, ephemeral ports).
 *  - A second `npm start` on the same data directory refuses, naming the running process, and
 *    disturbs nothing; `npm run migrate` and `npm run token` work beside it and stop nothing;
 *    the development issuer's key stays the same.
 *  - SIGTERM to npm's pid (what a process manager sends): the in-flight request finishes and
 *    commits, answered with `Connection: close`; nothing new is accepted, not even on a
 *    kept-alive connection; the gateway and its embedded PostgreSQL are gone within 10 s.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dataDir: string;
const children: ChildProcess[] = [];

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

function env(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: '0',
    DEV_ISSUER_PORT: '0',
    LOG_LEVEL: 'info',
    NODE_ENV: 'development',
    TOKEN_REFRESH_INTERVAL: '0ms',
    DATABASE_LOCK_TIMEOUT: '5s', // the in-flight request waits on a lock across SIGTERM
  };
}

/** `npm start`; resolves when it says it is ready, or when it exits (then `url` is ''). */
function npmStart(): Promise<Started> {
  const child = spawn('npm', ['start'], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not get ready:\n${output}`)), 90_000);
    const poll = setInterval(() => {
      const ready = /"graphiql":"(http:\/\/[^"]+)\/graphql"/.exec(output);
      if (ready || child.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ child, url: ready?.[1] ?? '', output: () => output });
      }
    }, 50);
  });
}

function npmRun(...args: string[]) {
  return spawnSync('npm', ['run', '-s', ...args], { cwd: ROOT, env: env(), encoding: 'utf8', timeout: 60_000 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const gatewayPid = () => (JSON.parse(fs.readFileSync(path.join(dataDir, 'gateway.lock'), 'utf8')) as { pid: number }).pid;
const postmasterPid = () => Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
const keyDigest = () =>
  createHash('sha256')
    .update(fs.readFileSync(path.join(dataDir, 'dev-issuer.json.key.json')))
    .digest('hex');

async function superuser(): Promise<pg.Client> {
  const { superuserPassword } = JSON.parse(fs.readFileSync(path.join(dataDir, 'postgres.credentials.json'), 'utf8')) as {
    superuserPassword: string;
  };
  const port = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[3]);
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: superuserPassword, database: 'gateway' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function post(url: string, body: unknown, token: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}/graphql`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += String(chunk)));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-process-'));
  fs.chmodSync(dataDir, 0o755); // the embedded server's OS user must reach it
});
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.pid) child.kill('SIGKILL');
  for (const pid of [safe(gatewayPid), safe(postmasterPid)]) if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function safe(fn: () => number): number | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

describe('npm start', () => {
  let first: Started;
  let token: string;

  beforeAll(async () => {
    first = await npmStart();
    expect(first.url, first.output()).not.toBe('');
  }, 120_000);

  it('one checkout, one cluster: a second start refuses naming the first; migrate and token work beside it', async () => {
    const postgres = postmasterPid();
    const key = keyDigest();
    const second = await npmStart();
    await new Promise((resolve) => (second.child.exitCode !== null ? resolve(null) : second.child.once('exit', resolve)));
    expect(second.child.exitCode).not.toBe(0);
    expect(second.output()).toContain(`in use by process ${gatewayPid()}`);

    const migrate = npmRun('migrate');
    expect(migrate.status, migrate.stdout + migrate.stderr).toBe(0);
    expect(migrate.stdout).toContain('using the embedded PostgreSQL of the running gateway');

    const minted = npmRun('token', '--', 'developer');
    expect(minted.status, minted.stderr).toBe(0);
    token = minted.stdout.trim();

    // The first gateway noticed nothing: same cluster, same key, serving.
    expect(alive(postgres)).toBe(true);
    expect(postmasterPid()).toBe(postgres);
    expect(keyDigest()).toBe(key);
    const ready = await fetch(`${first.url}/ready`);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'up' });
    const viewer = await post(first.url, { query: '{ viewer { user { name } } }' }, token);
    expect(viewer.status).toBe(200);
    expect(JSON.parse(viewer.body)).toEqual({ data: { viewer: { user: { name: 'Dana Developer' } } } });
  }, 120_000);

  it('SIGTERM: in-flight work commits, nothing new is accepted, gateway and PostgreSQL gone within 10 s', async () => {
    const node = gatewayPid();
    const postgres = postmasterPid();
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await post(first.url, { query: '{ viewer { user { id } } }' }, token, keepAlive)).status).toBe(200);

    // An in-flight mutation: held on a table lock until after SIGTERM.
    const locker = await superuser();
    await locker.query('begin; lock table app_public.definitions in access exclusive mode');
    const name = `in flight ${Date.now()}`;
    const inFlight = post(first.url, { query: `mutation { createWorkflow(input: { name: "${name}" }) { id } }` }, token);
    await new Promise((r) => setTimeout(r, 300));

    const signalledAt = Date.now();
    first.child.kill('SIGTERM'); // npm's pid, as a process manager would
    await new Promise((r) => setTimeout(r, 1_200)); // the gateway has noticed by now
    const late = await post(first.url, { query: '{ viewer { user { id } } }' }, token, keepAlive).catch((error: Error) => error);
    await locker.query('rollback');
    await locker.end();

    const answer = await inFlight;
    expect(answer.status, answer.body).toBe(200);
    expect(answer.headers.connection).toBe('close');
    const id = (JSON.parse(answer.body) as { data: { createWorkflow: { id: string } } }).data.createWorkflow.id;
    expect(id).toBeTruthy();
    // Nothing new after SIGTERM: refused outright, or a 503 that closes the connection.
    if (!(late instanceof Error)) {
      expect(late.status).toBe(503);
      expect(late.headers.connection).toBe('close');
    }

    while ((alive(node) || alive(postgres)) && Date.now() - signalledAt < 10_000) await new Promise((r) => setTimeout(r, 50));
    const gone = Date.now() - signalledAt;
    console.log(`npm start stopped by SIGTERM: gateway and PostgreSQL gone after ${gone} ms`);
    expect(alive(node)).toBe(false);
    expect(alive(postgres)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'gateway.lock'))).toBe(false);

    // The in-flight change was committed: start again and find it.
    const again = await npmStart();
    expect(again.url, again.output()).not.toBe('');
    const check = await superuser();
    const { rows } = await check.query('select id from app_public.definitions where name = $1', [name]);
    await check.end();
    expect(rows.map((r) => String(r.id))).toEqual([id]);
    // SIGINT to npm (Ctrl-C) stops it too.
    const node2 = gatewayPid();
    const postgres2 = postmasterPid();
    again.child.kill('SIGINT');
    const interruptedAt = Date.now();
    while ((alive(node2) || alive(postgres2)) && Date.now() - interruptedAt < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(alive(node2)).toBe(false);
    expect(alive(postgres2)).toBe(false);
  }, 120_000);
});
