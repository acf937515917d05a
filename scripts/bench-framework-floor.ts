/**
 * What the HTTP + GraphQL framework alone costs on this machine, apart from anything the gateway
 * does: a bare Yoga server (a two-field schema, no plugins, no database, no token) beside a raw
 * node:http server giving the same JSON, and beside the same schema run by Envelop (parse,
 * validate, execute with Yoga's executor) behind a few lines of node:http — Yoga's HTTP layer
 * (its fetch-API adapter, request parsing, hooks and result processing) is the difference between
 * the last two. Each in its own process, loaded like `npm run bench`
 * loads the gateway (16 connections, interleaved rounds), with the server's CPU per request.
 * It tells how much of the gap between the gateway and the limit server (scripts/bench.ts) the
 * framework takes before the gateway's own work starts. Yoga here reads the body its default way
 * (a stream pipeline whose end constructs a DOMException per request on Node 20); the gateway
 * reads bodies itself (src/http/request-body.ts), so this floor is a little pessimistic for it.
 * Not part of the product.
 *
 *   npx tsx scripts/bench-framework-floor.ts      (BENCH_ROUNDS, BENCH_DURATION, BENCH_CONNECTIONS)
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import autocannon from 'autocannon';

const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const duration = Number(process.env.BENCH_DURATION ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);

const SERVER = `
const http = require('node:http');
const kind = process.argv[1];
const answer = JSON.stringify({ data: { viewer: { id: '1', name: 'x' } } });
let handler;
if (kind === 'raw') {
  handler = (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { JSON.parse(body); res.writeHead(200, { 'content-type': 'application/json' }); res.end(answer); });
  };
} else if (kind === 'envelop') {
  const { envelop, useEngine, useSchema } = require('@envelop/core');
  const graphql = require('graphql');
  const { normalizedExecutor } = require('@graphql-tools/executor');
  const { createSchema } = require('graphql-yoga');
  const schema = createSchema({ typeDefs: 'type V { id: ID! name: String! } type Query { viewer: V }', resolvers: { Query: { viewer: () => ({ id: '1', name: 'x' }) } } });
  const getEnveloped = envelop({ plugins: [useEngine({ ...graphql, execute: normalizedExecutor }), useSchema(schema)] });
  const documents = new Map(); // parsed and validated once, as Yoga's cache does
  handler = (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const params = JSON.parse(body);
      const run = getEnveloped({ req });
      let document = documents.get(params.query);
      if (!document) {
        document = run.parse(params.query);
        if (run.validate(run.schema, document).length) throw new Error('invalid');
        documents.set(params.query, document);
      }
      const result = await run.execute({ schema: run.schema, document, contextValue: await run.contextFactory(), variableValues: params.variables });
      res.writeHead(200, { 'content-type': 'application/graphql-response+json; charset=utf-8' });
      res.end(JSON.stringify(result));
    });
  };
} else {
  const { createYoga, createSchema } = require('graphql-yoga');
  handler = createYoga({
    schema: createSchema({ typeDefs: 'type V { id: ID! name: String! } type Query { viewer: V }', resolvers: { Query: { viewer: () => ({ id: '1', name: 'x' }) } } }),
    logging: false, landingPage: false, graphiql: false,
  });
}
const server = http.createServer(handler);
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
process.on('message', () => { const u = process.cpuUsage(); process.send(u.user + u.system); });
`;

interface Figures {
  reqs: number[];
  cpuMs: number[];
}

async function round(kind: 'raw' | 'yoga' | 'envelop', figures: Figures): Promise<void> {
  const child = spawn(process.execPath, ['-e', SERVER, kind], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    cwd: process.cwd(),
    // As the gateway runs in the bench: graphql-js skips its development-only checks.
    env: { ...process.env, NODE_ENV: 'production' },
  });
  try {
    const { port } = JSON.parse(await new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d)))));
    const url = `http://127.0.0.1:${port}/graphql`;
    const options = {
      url,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ viewer { id name } }"}',
    };
    await autocannon({ ...options, connections: 4, duration: 1 }); // warm-up
    const cpu = () =>
      new Promise<number>((resolve) => {
        child.once('message', (m) => resolve(Number(m)));
        child.send('cpu');
      });
    const before = await cpu();
    const result = await autocannon({ ...options, connections, duration });
    const used = (await cpu()) - before;
    figures.reqs.push(result.requests.average);
    figures.cpuMs.push(used / 1000 / result.requests.total);
  } finally {
    child.kill();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const raw: Figures = { reqs: [], cpuMs: [] };
const yoga: Figures = { reqs: [], cpuMs: [] };
const bareEnvelop: Figures = { reqs: [], cpuMs: [] };
for (let i = 0; i < rounds; i++) {
  await round('raw', raw);
  await round('yoga', yoga);
  await round('envelop', bareEnvelop);
}
console.log(
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${os.cpus().length} × ${os.cpus()[0]?.model} · Node ${process.version} · ` +
    `${connections} connections · ${rounds} interleaved rounds × ${duration} s, medians · load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
console.log('\n| server | req/s | server CPU/req ms |\n|---|---:|---:|');
console.log(`| raw node:http | ${Math.round(median(raw.reqs))} | ${median(raw.cpuMs).toFixed(3)} |`);
console.log(`| bare Yoga (two fields, no plugins) | ${Math.round(median(yoga.reqs))} | ${median(yoga.cpuMs).toFixed(3)} |`);
console.log(
  `| the same schema through Envelop on node:http (no Yoga) | ${Math.round(median(bareEnvelop.reqs))} | ${median(bareEnvelop.cpuMs).toFixed(3)} |`,
);
console.log(`\nbare Yoga ÷ raw: ${(median(yoga.reqs) / median(raw.reqs)).toFixed(2)} req/s`);
