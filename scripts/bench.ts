/**
 * `npm run bench`: starts the gateway on its embedded defaults (in a throwaway data dir, as a
 * child process so its memory can be read on its own), drives it with autocannon for a fixed
 * time at a few concurrency levels, and prints req/s, p50/p99 latency and the gateway's peak
 * RSS for three operations: `viewer`, the first 50 workflows with a nested field, and
 * `createWorkflow`. Figures, not assertions: this machine is shared and noisy.
 *
 *   BENCH_DURATION=10 BENCH_CONNECTIONS=1,10,50 npm run bench
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { mintFromStateFile, startDevIssuer } from '../src/auth/dev-issuer.js';
import { DEMO_MEMBERS, DEMO_ORG_ID } from '../src/db/demo-seed.js';

const duration = Number(process.env.BENCH_DURATION ?? 8);
const levels = (process.env.BENCH_CONNECTIONS ?? '1,10,50').split(',').map(Number);

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function rssKiB(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-'));
fs.chmodSync(dataDir, 0o755);
const port = await freePort();
// Production never starts the development issuer (OIDC_ISSUER is required there): run it here,
// as an external identity provider, and point the gateway at it.
const issuer = await startDevIssuer({ port: 0, stateFile: path.join(dataDir, 'dev-issuer.json') });
const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
  env: {
    ...process.env,
    NODE_ENV: 'production',
    CREDENTIALS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    DATA_DIR: dataDir,
    PORT: String(port),
    OIDC_ISSUER: issuer.issuer,
    OIDC_AUDIENCE: issuer.audience,
    SEED_DEMO: 'true',
    LOG_LEVEL: 'warn',
    RATE_LIMIT_USER_MAX: '100000000',
    RATE_LIMIT_ORG_MAX: '100000000',
    DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX ?? '10',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stop = async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await issuer.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
};
process.on('SIGINT', () => void stop().then(() => process.exit(130)));

try {
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await fetch(`${base}/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('gateway did not become ready');
    await new Promise((r) => setTimeout(r, 250));
  }
  const stateFile = path.join(dataDir, 'dev-issuer.json');
  const developer = DEMO_MEMBERS.find((m) => m.key === 'developer')!;
  const { token } = await mintFromStateFile(stateFile, {
    sub: developer.subject,
    email: developer.email,
    name: developer.name,
    expiresIn: 7200,
  });
  // Like a frontend: name the organization (a header-less request also looks up the default one).
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-organization-id': DEMO_ORG_ID };
  const post = async (query: string, variables?: unknown) => {
    const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { errors?: unknown };
    if (body.errors) throw new Error(`bench setup failed: ${JSON.stringify(body.errors)}`);
    return body;
  };
  // The demo has three workflows; a list of 50 needs more.
  for (let i = 0; i < 60; i++)
    await post('mutation($n: String!) { createWorkflow(input: { name: $n, definition: { i: 1 } }) { id } }', {
      n: `bench seed ${i}`,
    });

  let created = 0;
  const scenarios = [
    {
      name: 'viewer',
      body: () => JSON.stringify({ query: '{ viewer { user { id name } organization { name } role { name } permissions } }' }),
    },
    {
      name: 'workflows(first: 50) + createdBy + deployments',
      body: () =>
        JSON.stringify({
          query:
            '{ workflows(first: 50) { totalCount edges { node { id name version createdBy { name } deployments { environment version } } } } }',
        }),
    },
    {
      name: 'createWorkflow',
      body: () =>
        JSON.stringify({
          query: 'mutation($n: String!) { createWorkflow(input: { name: $n, definition: { steps: [] } }) { id version } }',
          variables: { n: `bench ${process.pid} ${created++}` },
        }),
    },
  ];

  console.log(`\nGateway pid ${child.pid}, ${os.cpus().length} CPUs, ${duration}s per run, Node ${process.version}\n`);
  console.log('| operation | connections | req/s | p50 ms | p99 ms | non-2xx | errors | peak RSS MiB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const scenario of scenarios) {
    // A short warm-up so JIT and pool connections are in place.
    await autocannon({
      url: `${base}/graphql`,
      method: 'POST',
      headers,
      connections: 5,
      duration: 2,
      requests: [{ setupRequest: (r) => ({ ...r, body: scenario.body() }) }],
    });
    for (const connections of levels) {
      let peak = rssKiB(child.pid!);
      const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(child.pid!))), 100);
      const result = await autocannon({
        url: `${base}/graphql`,
        method: 'POST',
        headers,
        connections,
        duration,
        requests: [{ setupRequest: (r) => ({ ...r, body: scenario.body() }) }],
      });
      clearInterval(sampler);
      console.log(
        `| ${scenario.name} | ${connections} | ${result.requests.average.toFixed(0)} | ${result.latency.p50} | ${result.latency.p99} | ${result.non2xx} | ${result.errors} | ${(peak / 1024).toFixed(0)} |`,
      );
    }
  }
  console.log();
} finally {
  await stop();
}
