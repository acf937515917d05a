/**
 * `npm run bench`: the gateway against the practical limit, side by side, in one run.
 *
 * One throwaway PostgreSQL (embedded) with 8 organizations of 4,000 workflows and one of
 * 100,000; one development issuer (JWKS over HTTP) both servers verify against; the gateway
 * (NODE_ENV=production, the production bundle `npm run build` makes, built here into
 * .bench-build/) and the limit server (scripts/bench-limit-server.ts: node:http + pg, the
 * same JWT verification and settings statement, the minimal SQL, one round trip), each a child
 * process so its CPU and memory are its own. Workloads run in interleaved rounds (gateway and
 * limit alternate, their order flipping every round); every figure is the median over rounds:
 * req/s, p50/p99, PostgreSQL CPU per request (utime+stime of the cluster's processes, from
 * /proc), Node CPU per request (the server process's utime+stime), peak RSS, and the ratio
 * gateway ÷ limit. A final pass at 64 connections reports peak RSS under load. The `viewer`
 * workload runs twice, with the Owner's JWT and with an API key (issue 13: a key costs no more
 * per request than a JWT), and the two are compared within the same run.
 * Figures, not assertions: this machine is shared and noisy.
 *
 *   BENCH_ROUNDS=3 BENCH_DURATION=5 BENCH_CONNECTIONS=16 BENCH_PORT=5400 npm run bench
 *   (BENCH_PORT pins the gateway to it, the limit to +1 and the issuer to +2.)
 *   BENCH_AUDIT_SEAL_INTERVAL=0ms npm run bench   (audit sealing off; default 5s as in production)
 *   BENCH_ONLY=workflows BENCH_CPU_PROFILE=/tmp/prof npm run bench   (one workload; the gateway
 *   writes a V8 CPU profile there; summarize it with `npx tsx scripts/profile-summary.ts DIR`)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { generateApiKey, type NewKey } from '../src/auth/api-keys.js';
import { DEV_AUDIENCE, startDevIssuer } from '../src/auth/dev-issuer.js';
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from '../src/db/bootstrap.js';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { migrate } from '../src/db/migrate.js';
import { bundle, ENTRY_POINTS } from './build.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const loadConnections = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 64);
const poolMax = process.env.DATABASE_POOL_MAX ?? '10';
const sealInterval = process.env.BENCH_AUDIT_SEAL_INTERVAL ?? '5s';
const pinned = process.env.BENCH_PORT ? Number(process.env.BENCH_PORT) : null;
const CLOCK_TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);

const ORGS_4K = 8;
const WORKFLOWS_SMALL = Number(process.env.BENCH_WORKFLOWS ?? 4_000);
const WORKFLOWS_BIG = Number(process.env.BENCH_WORKFLOWS_BIG ?? 100_000);
const orgId = (n: number) => `0be70000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const BIG_ORG = orgId(99);
const CREATE_ORG = orgId(2);
/** An Admin-role API key of the first organization: the `viewer` workload again, authenticated by it. */
const BENCH_KEY: NewKey = generateApiKey('api_key', 'live');
const BENCH_KEY_ID = '0be7c0de-0000-4000-8000-000000000001';

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** utime + stime of a process, in ms (0 once it is gone). */
function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** The whole cluster's CPU: the postmaster, its backends and helpers (live ones plus what exited children left in cutime/cstime). */
function postgresCpuMs(postmaster: number): number {
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!pid) continue;
    if (pid === postmaster || parentOf(pid) === postmaster) total += cpuMs(pid);
  }
  try {
    const stat = fs.readFileSync(`/proc/${postmaster}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[13]) + Number(fields[14])) * CLOCK_TICK_MS;
  } catch {
    // gone
  }
  return total;
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

// ---------------------------------------------------------------------------------------------
// Build: what ships (scripts/build.ts's bundle), or a file-per-module transpile when profiling
// ---------------------------------------------------------------------------------------------
/**
 * The gateway runs as the production bundle `npm run build` makes, built afresh into
 * .bench-build/ (so a stale dist/ never stands in for the code under test); the limit server is
 * bundled the same way. With BENCH_CPU_PROFILE (or BENCH_BUILD=files) both are transpiled file
 * by file instead, so a profile's frames keep their package paths (scripts/profile-summary.ts
 * groups by them).
 */
async function compiledEntryPoints(): Promise<{ gateway: string; limit: string; kind: string }> {
  const out = path.join(ROOT, '.bench-build');
  const build = process.env.BENCH_BUILD ?? (process.env.BENCH_CPU_PROFILE ? 'files' : 'bundle');
  if (build === 'bundle') {
    await bundle(ENTRY_POINTS, path.join(out, 'gateway'));
    await bundle(['scripts/bench-limit-server.ts'], path.join(out, 'limit'), 'scripts');
    return { gateway: path.join(out, 'gateway/main.js'), limit: path.join(out, 'limit/bench-limit-server.js'), kind: 'bundle' };
  }
  fs.rmSync(out, { recursive: true, force: true });
  const files = (dir: string): string[] =>
    fs
      .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const sources = [...files('src'), 'scripts/bench-limit-server.ts'];
  const built = spawnSync(
    path.join(ROOT, 'node_modules/.bin/esbuild'),
    [...sources, `--outdir=${out}`, '--outbase=.', '--platform=node', '--format=esm', '--target=node20', '--log-level=warning'],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (built.status !== 0) throw new Error('could not compile the gateway for the benchmark');
  return {
    gateway: path.join(out, 'src/main.js'),
    limit: path.join(out, 'scripts/bench-limit-server.js'),
    kind: 'transpiled per file',
  };
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------
async function seed(superuserUrl: string, issuer: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const orgs = [
      ...Array.from({ length: ORGS_4K }, (_, i) => ({ id: orgId(i + 1), n: WORKFLOWS_SMALL })),
      { id: BIG_ORG, n: WORKFLOWS_BIG },
    ];
    // Bulk load as the superuser, triggers off (setup only): consistent by construction.
    await client.query(`set session_replication_role = replica; set search_path = app_public`);
    for (const [i, org] of orgs.entries()) {
      await client.query(
        `insert into organizations (id, name) values ($1, $2);
         insert into roles (org_id, system_key, name, description) select $1, key, name, description from system_roles;
         insert into workspaces (org_id, name, is_default) values ($1, 'Default', true);
         insert into users (issuer, subject, email, email_verified, name)
           select $3, 'bench-' || $4 || '-' || k, 'bench' || $4 || '-' || k || '@bench.test', true, 'Bench Member ' || k
           from generate_series(0, 19) k;
         insert into memberships (org_id, user_id, role_id, sort_key)
           select $1, u.id, r.id, lower(u.name) from users u, roles r
           where u.subject like 'bench-' || $4 || '-%' and r.org_id = $1
             and r.system_key = case when u.subject = 'bench-' || $4 || '-0' then 'owner' else 'developer' end;
         insert into definitions (org_id, kind, name, created_at, updated_at, created_by, updated_by, workspace_id)
           select $1, 'workflow', 'workflow ' || g, now() - g * interval '1 second', now() - g * interval '1 second', u.id, u.id,
             (select w.id from workspaces w where w.org_id = $1 and w.is_default)
           from generate_series(1, $5::int) g
           join users u on u.subject = 'bench-' || $4 || '-' || (g % 20);
         insert into definition_versions (org_id, definition_id, version, definition)
           select org_id, id, 1, '{"steps":[{"run":"step"}]}' from definitions where org_id = $1;`.replace(
          /\$(\d)/g,
          (_, n: string) =>
            client.escapeLiteral(String([org.id, `Bench org ${i + 1}`, issuer, String(i + 1), String(org.n)][Number(n) - 1])),
        ),
      );
    }
    // The API key (DESIGN §3c): its identity, and the key with an Admin role (39 permissions,
    // like the Owner's token of the JWT `viewer` workload). Only its secret's hash is stored.
    await client.query(
      `with identity as (
         insert into users (issuer, subject, name, email_verified)
         values ('urn:gateway:service-principal', $2, 'Bench key', false) returning id)
       insert into service_principals (org_id, id, kind, name, user_id, role_id, environment, public_id, secret_hash)
       select $1, $2::uuid, 'api_key', 'Bench key', identity.id, r.id, 'live', $3, $4
       from identity, roles r where r.org_id = $1 and r.system_key = 'admin'`,
      [orgId(1), BENCH_KEY_ID, BENCH_KEY.publicId, BENCH_KEY.secretHash],
    );
    await client.query('reset session_replication_role; analyze');
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------
interface Server {
  name: 'gateway' | 'limit';
  child: ChildProcess;
  base: string;
}

async function waitFor(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(url)
      .then((r) => r.status < 500)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The allocator settings the production image runs with (the Dockerfile's runtime ENV), for both
 * servers: declared once, there. An explicit value in the environment wins.
 */
function imageMallocEnv(): Record<string, string> {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const threshold = /MALLOC_TRIM_THRESHOLD_=(\d+)/.exec(dockerfile)?.[1];
  if (!threshold) throw new Error('the Dockerfile no longer sets MALLOC_TRIM_THRESHOLD_: update scripts/bench.ts');
  return { MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? threshold };
}
const MALLOC_ENV = imageMallocEnv();

function start(script: string, env: Record<string, string>, cpuProfileDir?: string, flags: string[] = []): ChildProcess {
  const args = [...flags, ...(cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : []), script];
  return spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...MALLOC_ENV, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------
interface Workload {
  name: string;
  org: string;
  /** The bearer credential: the organization Owner's JWT (default), or the organization's API key. */
  credential?: 'jwt' | 'api key';
  limitPath: string;
  body: (server: Server) => string;
}

let created = 0;
const ALL_WORKLOADS: Workload[] = [
  {
    name: '`viewer`',
    org: orgId(1),
    limitPath: '/viewer',
    body: () => JSON.stringify({ query: '{ viewer { user { id name } organization { name } role { name } permissions } }' }),
  },
  {
    // Issue 13: verifying a key must cost no more per request than verifying a JWT.
    name: '`viewer` (API key)',
    org: orgId(1),
    credential: 'api key',
    limitPath: '/viewer',
    body: () => JSON.stringify({ query: '{ viewer { user { id name } organization { name } role { name } permissions } }' }),
  },
  {
    name: `first 50 workflows + creator name (${WORKFLOWS_SMALL.toLocaleString('en')})`,
    org: orgId(1),
    limitPath: '/workflows',
    body: () => JSON.stringify({ query: '{ workflows(first: 50) { edges { node { id name createdBy { name } } } } }' }),
  },
  {
    name: `first 50 workflows + creator name (${WORKFLOWS_BIG.toLocaleString('en')})`,
    org: BIG_ORG,
    limitPath: '/workflows',
    body: () => JSON.stringify({ query: '{ workflows(first: 50) { edges { node { id name createdBy { name } } } } }' }),
  },
  {
    name: '`createWorkflow` + audit event',
    org: CREATE_ORG,
    limitPath: '/createWorkflow',
    body: (server) =>
      JSON.stringify({
        query: 'mutation($n: String!) { createWorkflow(input: { name: $n, definition: { steps: [] } }) { id name version } }',
        variables: { n: `bench ${server.name} ${process.pid} ${created++}` },
      }),
  },
];
/** BENCH_ONLY=viewer (a substring of a workload's name) runs just that one (e.g. to profile it). */
const WORKLOADS = ALL_WORKLOADS.filter((w) => !process.env.BENCH_ONLY || w.name.includes(process.env.BENCH_ONLY));

interface Measure {
  rps: number;
  p50: number;
  p99: number;
  pgCpu: number;
  nodeCpu: number;
  rss: number;
  errors: number;
}

async function drive(
  server: Server,
  workload: Workload,
  token: string,
  postmaster: number,
  seconds: number,
  conns: number,
): Promise<Measure> {
  const url = server.name === 'gateway' ? `${server.base}/graphql` : `${server.base}${workload.limitPath}`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-organization-id': workload.org };
  const requests = [{ setupRequest: (r: autocannon.Request) => ({ ...r, body: workload.body(server) }) }];
  await autocannon({ url, method: 'POST', headers, connections: 4, duration: 1, requests }); // warm-up
  const pid = server.child.pid!;
  let peak = rssKiB(pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 100);
  const pgBefore = postgresCpuMs(postmaster);
  const nodeBefore = cpuMs(pid);
  const result = await autocannon({ url, method: 'POST', headers, connections: conns, duration: seconds, requests });
  const pgCpu = postgresCpuMs(postmaster) - pgBefore;
  const nodeCpu = cpuMs(pid) - nodeBefore;
  clearInterval(sampler);
  const done = Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    pgCpu: pgCpu / done,
    nodeCpu: nodeCpu / done,
    rss: peak / 1024,
    errors: result.errors + result.non2xx,
  };
}

async function main() {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-'));
  fs.chmodSync(work, 0o755);
  const children: ChildProcess[] = [];
  let stopPostgres: (() => Promise<void>) | undefined;
  let stopIssuer: (() => Promise<void>) | undefined;
  const cleanup = async () => {
    for (const child of children) await stopChild(child);
    await stopIssuer?.();
    await stopPostgres?.();
    fs.rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const entry = await compiledEntryPoints();
    const embedded = await startEmbeddedPostgres({ dataDir: path.join(work, 'pg'), durable: false });
    stopPostgres = () => embedded.stop();
    const superuser = embedded.superuserUrl();
    const passwords = { owner: randomBytes(12).toString('hex'), app: randomBytes(12).toString('hex') };
    await bootstrapDatabase({
      superuserUrl: superuser,
      database: 'bench',
      ownerPassword: passwords.owner,
      appPassword: passwords.app,
    });
    const ownerUrl = withDatabase(superuser, 'bench', { user: OWNER_ROLE, password: passwords.owner });
    const appUrl = withDatabase(superuser, 'bench', { user: APP_ROLE, password: passwords.app });
    await migrate(ownerUrl);
    const postmaster = Number(fs.readFileSync(path.join(work, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);

    const issuerPort = pinned ? pinned + 2 : 0;
    const issuer = await startDevIssuer({ port: issuerPort });
    stopIssuer = () => issuer.stop();
    const seeding = Date.now();
    await seed(withDatabase(superuser, 'bench'), issuer.issuer);
    const seeded = (Date.now() - seeding) / 1000;

    const gatewayPort = pinned ?? (await freePort());
    const limitPort = pinned ? pinned + 1 : await freePort();
    const profileDir = process.env.BENCH_CPU_PROFILE;
    const gatewayChild = start(
      entry.gateway,
      {
        DATABASE_URL: appUrl,
        DATABASE_OWNER_URL: ownerUrl,
        DATABASE_POOL_MAX: poolMax,
        OIDC_ISSUER: issuer.issuer,
        OIDC_AUDIENCE: DEV_AUDIENCE,
        PORT: String(gatewayPort),
        DATA_DIR: path.join(work, 'data'),
        CREDENTIALS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        // Audit sealing as in production (5s); BENCH_AUDIT_SEAL_INTERVAL=0ms runs without it, 1s seals hard.
        AUDIT_SIGNING_KEY: randomBytes(32).toString('base64'),
        AUDIT_SEAL_INTERVAL: sealInterval,
        SEED_DEMO: 'false',
        GRAPHIQL: 'false',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_USER_MAX: '100000000',
        RATE_LIMIT_ORG_MAX: '100000000',
        RATE_LIMIT_IP_MAX: '100000000',
      },
      profileDir,
      // BENCH_NODE_FLAGS: Node/V8 flags for the gateway only (e.g. --max-semi-space-size=32), to try tunings.
      process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean),
    );
    children.push(gatewayChild);
    const limitChild = start(entry.limit, {
      DATABASE_URL: appUrl,
      DATABASE_POOL_MAX: poolMax,
      OIDC_ISSUER: issuer.issuer,
      OIDC_AUDIENCE: DEV_AUDIENCE,
      PORT: String(limitPort),
    });
    children.push(limitChild);
    const servers: Server[] = [
      { name: 'gateway', child: gatewayChild, base: `http://127.0.0.1:${gatewayPort}` },
      { name: 'limit', child: limitChild, base: `http://127.0.0.1:${limitPort}` },
    ];
    await waitFor(`${servers[0]!.base}/health`, gatewayChild, 'the gateway');
    await waitFor(`${servers[1]!.base}/`, limitChild, 'the limit server');
    // Resident memory before any load: what the code and the schema hold, apart from requests.
    const idleRss = { gateway: rssKiB(gatewayChild.pid!) / 1024, limit: rssKiB(limitChild.pid!) / 1024 };

    // One member per organization (its Owner): the same token for both servers; or the API key.
    const tokens = new Map<string, string>();
    for (const workload of WORKLOADS) {
      const n = workload.org === BIG_ORG ? ORGS_4K + 1 : Number(workload.org.slice(-12));
      if (workload.credential === 'api key') {
        tokens.set(workload.name, BENCH_KEY.key);
        continue;
      }
      tokens.set(
        workload.name,
        await issuer.mint({
          sub: `bench-${n}-0`,
          email: `bench${n}-0@bench.test`,
          name: 'Bench Member 0',
          emailVerified: true,
          expiresIn: 7200,
        }),
      );
    }
    // Both answer each workload, and say the same thing (ids aside).
    for (const workload of WORKLOADS) {
      for (const server of servers) {
        const url = server.name === 'gateway' ? `${server.base}/graphql` : `${server.base}${workload.limitPath}`;
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${tokens.get(workload.name)}`,
            'x-organization-id': workload.org,
          },
          body: workload.body(server),
        });
        const text = await response.text();
        if (response.status !== 200 || text.includes('"errors"'))
          throw new Error(`${server.name} ${workload.name}: ${response.status} ${text.slice(0, 300)}`);
      }
    }

    const results = new Map<string, { gateway: Measure[]; limit: Measure[] }>();
    for (let round = 0; round < rounds; round++) {
      for (const workload of WORKLOADS) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        const entry = results.get(workload.name) ?? { gateway: [], limit: [] };
        for (const server of order) {
          entry[server.name].push(await drive(server, workload, tokens.get(workload.name)!, postmaster, duration, connections));
        }
        results.set(workload.name, entry);
      }
      process.stderr.write(`round ${round + 1}/${rounds} done\n`);
    }
    const underLoad = new Map<string, { gateway: Measure; limit: Measure }>();
    for (const workload of WORKLOADS) {
      const gateway = await drive(
        servers[0]!,
        workload,
        tokens.get(workload.name)!,
        postmaster,
        Math.max(3, duration - 1),
        loadConnections,
      );
      const limit = await drive(
        servers[1]!,
        workload,
        tokens.get(workload.name)!,
        postmaster,
        Math.max(3, duration - 1),
        loadConnections,
      );
      underLoad.set(workload.name, { gateway, limit });
    }

    const load = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    console.log(
      `\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${os.cpus().length} × ${cpu} · Node ${process.version} · ` +
        `gateway ${path.relative(ROOT, entry.gateway)} (${entry.kind}, NODE_ENV=production) · pool ${poolMax} · ${connections} connections · ` +
        `${rounds} interleaved rounds × ${duration} s, medians · audit sealing every ${sealInterval} · MALLOC_TRIM_THRESHOLD_=${MALLOC_ENV.MALLOC_TRIM_THRESHOLD_} (the image's) · load average ${load} · seeded in ${seeded.toFixed(0)} s\n`,
    );
    console.log(
      '| workload | gateway req/s | limit req/s | ratio | gateway p50 / p99 ms | limit p50 / p99 ms | PostgreSQL CPU/req ms (gw vs limit) | Node CPU/req ms (gw vs limit) | errors |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    const med = (list: Measure[], key: keyof Measure) => median(list.map((m) => m[key]));
    for (const workload of WORKLOADS) {
      const { gateway, limit } = results.get(workload.name)!;
      const g = (k: keyof Measure) => med(gateway, k);
      const l = (k: keyof Measure) => med(limit, k);
      console.log(
        `| ${workload.name} | ${g('rps').toFixed(0)} | ${l('rps').toFixed(0)} | **${(g('rps') / l('rps')).toFixed(2)}** | ` +
          `${g('p50').toFixed(0)} / ${g('p99').toFixed(0)} | ${l('p50').toFixed(0)} / ${l('p99').toFixed(0)} | ` +
          `${g('pgCpu').toFixed(2)} vs ${l('pgCpu').toFixed(2)} | ${g('nodeCpu').toFixed(2)} vs ${l('nodeCpu').toFixed(2)} | ` +
          `${gateway.reduce((s, m) => s + m.errors, 0)} / ${limit.reduce((s, m) => s + m.errors, 0)} |`,
      );
    }
    const jwtViewer = results.get(ALL_WORKLOADS[0]!.name);
    const keyViewer = results.get(ALL_WORKLOADS[1]!.name);
    if (jwtViewer && keyViewer) {
      const ratio = (side: 'gateway' | 'limit', k: keyof Measure) => med(keyViewer[side], k) / med(jwtViewer[side], k);
      console.log(
        `\n\`viewer\`, API key ÷ JWT, same run: gateway req/s ${ratio('gateway', 'rps').toFixed(2)}, Node CPU/req ` +
          `${ratio('gateway', 'nodeCpu').toFixed(2)}, p50 ${ratio('gateway', 'p50').toFixed(2)}; limit req/s ` +
          `${ratio('limit', 'rps').toFixed(2)}, Node CPU/req ${ratio('limit', 'nodeCpu').toFixed(2)} (≥ 1 req/s and ≤ 1 CPU: the key costs no more)`,
      );
    }
    const small = results.get(ALL_WORKLOADS[2]!.name)?.gateway;
    const big = results.get(ALL_WORKLOADS[3]!.name)?.gateway;
    if (small && big)
      console.log(
        `\nGateway p99, ${WORKFLOWS_BIG.toLocaleString('en')}-workflow organization ÷ ${WORKFLOWS_SMALL.toLocaleString('en')}-workflow one: ` +
          `${(med(big, 'p99') / med(small, 'p99')).toFixed(2)} (${med(big, 'p99').toFixed(0)} ms vs ${med(small, 'p99').toFixed(0)} ms)`,
      );
    console.log(
      `\nPeak RSS, MiB (idle after start: gateway ${idleRss.gateway.toFixed(0)}, limit ${idleRss.limit.toFixed(0)}; ` +
        `${connections} connections, max over rounds | ${loadConnections} connections):`,
    );
    console.log(
      `| workload | gateway | limit | gateway @${loadConnections} | limit @${loadConnections} | req/s @${loadConnections} (gw / limit) |`,
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const workload of WORKLOADS) {
      const { gateway, limit } = results.get(workload.name)!;
      const loadRun = underLoad.get(workload.name)!;
      console.log(
        `| ${workload.name} | ${Math.max(...gateway.map((m) => m.rss)).toFixed(0)} | ${Math.max(...limit.map((m) => m.rss)).toFixed(0)} | ` +
          `${loadRun.gateway.rss.toFixed(0)} | ${loadRun.limit.rss.toFixed(0)} | ${loadRun.gateway.rps.toFixed(0)} / ${loadRun.limit.rps.toFixed(0)} |`,
      );
    }
    console.log(`\nBenchmark took ${((Date.now() - started) / 1000).toFixed(0)} s.\n`);
  } finally {
    await cleanup();
  }
}

await main();
