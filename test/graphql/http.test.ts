/** The HTTP surface: GraphiQL with no network, health and readiness, request ids, body limits. */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ MAX_REQUEST_BYTES: '4096' });
});
afterAll(() => t?.stop());

describe('GraphiQL', () => {
  it('is served at /graphql with every asset from the gateway itself (works offline)', async () => {
    const page = await fetch(`${t.gateway.graphqlUrl}`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/unpkg|jsdelivr|cdn|https?:\/\//);
    const assets = [...html.matchAll(/\/graphiql-assets\/[A-Za-z0-9_./-]+/g)].map((m) => m[0]);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of new Set(assets)) {
      const response = await fetch(`${t.gateway.url}${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(1000);
    }
    expect((await fetch(`${t.gateway.url}/graphiql-assets/../../package.json`)).status).toBe(404);
  });
});

describe('operations endpoints', () => {
  it('/health answers without the database; /ready checks it', async () => {
    expect((await fetch(`${t.gateway.url}/health`)).status).toBe(200);
    expect((await fetch(`${t.gateway.url}/ready`)).status).toBe(200);
  });

  it('every response carries a request id, the caller’s own when well-formed', async () => {
    const mine = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-0123456789' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(mine.headers.get('x-request-id')).toBe('trace-0123456789');
    const hostile = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'not; acceptable '.repeat(20) },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.logs.some((line) => line.includes('trace-0123456789'))).toBe(true);
  });

  it('refuses oversized bodies before reading them', async () => {
    const response = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(5000)}` }),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('counts the bytes of a chunked body (no Content-Length) as it reads them: 413 past the limit', async () => {
    const send = (chunks: string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = http.request(t.gateway.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        });
        request.on('response', (response) => {
          let body = '';
          response.on('data', (c) => (body += String(c)));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        });
        request.on('error', reject);
        for (const chunk of chunks) request.write(chunk);
        request.end();
      });
    const padding = 'x'.repeat(1000);
    const big = await send(['{"query":"{ __typename }","extensions":{"pad":"', ...Array(8).fill(padding), '"}}']);
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const small = await send(['{"query":', '"{ __typename }"}']);
    expect(small.status).toBe(200);
    expect(JSON.parse(small.body)).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers 413 as soon as a body passes the limit, without waiting for its end, and closes that connection', async () => {
    const agent = new http.Agent({ keepAlive: true });
    try {
      const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
        const request = http.request(t.gateway.graphqlUrl, {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        });
        request.on('response', (response) => {
          let body = '';
          response.on('data', (c) => (body += String(c)));
          response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection, body }));
        });
        request.on('error', reject);
        // 5 KB past a 4 KB limit, and the body never ends: the answer must not wait for it.
        request.write('{"query":"{ __typename }","extensions":{"pad":"');
        request.write('x'.repeat(5000));
      });
      expect(answer.status).toBe(413);
      expect(answer.connection).toBe('close');
      expect(JSON.parse(answer.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      agent.destroy();
    }
    // The gateway goes on serving.
    const after = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(after.status).toBe(200);
  });
});

/** Raw bytes on a fresh socket; everything received until the server closes it or `waitMs` passes. */
async function sendRaw(port: number, bytes: string, waitMs = 2_000): Promise<{ statuses: number[]; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<boolean>((resolve) => socket.on('close', () => resolve(true)));
  socket.write(bytes);
  const wasClosed = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), waitMs))]);
  socket.destroy();
  return { statuses: [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])), closed: wasClosed };
}

describe('a connection closing behind a refused body (review-a F1, F2)', () => {
  it('runs nothing pipelined behind a 413: a mutation after the refused body does not commit', async () => {
    const org = await t.world.organization('Pipelined behind a 413');
    const token = await t.world.token(org.members.owner);
    const name = `pipelined-${Date.now()}`;
    const big = `{"query":"{ __typename }","pad":"${'x'.repeat(5000)}"}`;
    const refused =
      'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`;
    const mutation = JSON.stringify({ query: `mutation { createWorkflow(input: { name: "${name}" }) { id } }` });
    const pipelined =
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(mutation)}\r\n` +
      `Authorization: Bearer ${token}\r\nX-Organization-Id: ${org.id}\r\n\r\n${mutation}`;
    const answer = await sendRaw(Number(new URL(t.gateway.url).port), refused + pipelined);
    expect(answer.statuses[0]).toBe(413);
    expect(answer.closed).toBe(true);
    const check = await t.client.request('{ workflows(first: 50) { edges { node { name } } } }', undefined, {
      token,
      orgId: org.id,
    });
    expect(JSON.stringify(check.body)).not.toContain(name);
  });

  it('a body the client breaks off mid-way is a bad request in the log, not a database fault', async () => {
    const requestId = `broken-off-${Date.now()}`;
    const socket = net.connect(Number(new URL(t.gateway.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => {});
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: ${requestId}\r\nContent-Length: 1000\r\n\r\n{"query":`,
    );
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const lines = () => t.logs.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes(requestId));
    await expect.poll(() => lines().some((line) => line.includes('"msg":"request"')), { timeout: 3_000 }).toBe(true);
    const logged = lines().map((line) => JSON.parse(line) as { level: number; status?: number });
    expect(logged.find((line) => line.status !== undefined)).toMatchObject({ status: 400 });
    expect(logged.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('answers a request whose client went away before its body was read (the handler settles)', async () => {
    let settled: string | undefined;
    // A server of our own stands in for any wait before the body is parsed: the request is
    // already closed when the gateway gets it.
    const server = http.createServer((req, res) => {
      req.once('close', () => {
        Promise.resolve(t.gateway.yoga(req, res)).then(
          () => (settled = 'resolved'),
          (error) => (settled = `rejected ${String(error)}`),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"query":',
      );
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      await expect.poll(() => settled, { timeout: 3_000 }).toBe('resolved');
    } finally {
      server.close();
    }
  });
});

describe('what an operation may arrive in (CSRF: no form content types)', () => {
  const mutation = 'mutation { createOrganization(input: { name: "Forged" }) { id } }';
  const post = (contentType: string | null, body: BodyInit) =>
    fetch(t.gateway.graphqlUrl, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });

  it('refuses the content types a cross-site form or simple request can send: 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: mutation }));
    const attempts: [string, Response][] = [
      [
        'x-www-form-urlencoded',
        await post('application/x-www-form-urlencoded', new URLSearchParams({ query: mutation }).toString()),
      ],
      ['multipart/form-data', await fetch(t.gateway.graphqlUrl, { method: 'POST', body: form })],
      ['text/plain', await post('text/plain', JSON.stringify({ query: mutation }))],
      ['application/graphql', await post('application/graphql', mutation)],
      ['no content type', await post(null, JSON.stringify({ query: mutation }))],
    ];
    for (const [label, response] of attempts) {
      expect(response.status, label).toBe(415);
      const body = (await response.json()) as { data?: unknown; errors: { extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code, label).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(body.data, label).toBeUndefined();
    }
  });

  it('runs operations sent as application/json (with a charset) or application/graphql-response+json', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/graphql-response+json']) {
      const response = await post(type, JSON.stringify({ query: '{ __typename }' }));
      expect(response.status, type).toBe(200);
      expect(await response.json(), type).toEqual({ data: { __typename: 'Query' } });
    }
  });

  it('runs the operation named in operationName, also when the same document was run for another', async () => {
    const document = 'query First { first: __typename } query Second { second: __typename }';
    for (const operationName of ['First', 'Second', 'First', 'Second']) {
      const response = await post('application/json', JSON.stringify({ query: document, operationName }));
      expect(await response.json(), operationName).toEqual({
        data: operationName === 'First' ? { first: 'Query' } : { second: 'Query' },
      });
    }
  });

  it('GET runs queries only', async () => {
    const query = await fetch(`${t.gateway.graphqlUrl}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(await query.json()).toEqual({ data: { __typename: 'Query' } });
    const forged = await fetch(`${t.gateway.graphqlUrl}?query=${encodeURIComponent(mutation)}`, {
      headers: { accept: 'application/json' },
    });
    expect(forged.status).toBe(405);
  });
});

describe('malformed requests: 400 BAD_REQUEST with no internal detail', () => {
  it('invalid JSON: no parser exception, no piece of the body', async () => {
    const secret = 'fragment-of-the-body-7f3a';
    const response = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"query": "{ __typename }", "${secret}`,
    });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(JSON.parse(text).errors).toEqual([
      { message: 'The request body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } },
    ]);
    expect(text).not.toMatch(/originalError|SyntaxError|position|fragment-of/);
  });

  it('bytes that are not UTF-8, a body that is not an object, malformed GET variables', async () => {
    const notUtf8 = await fetch(t.gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    expect(notUtf8.status).toBe(400);
    expect(((await notUtf8.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
      'BAD_REQUEST',
    );
    for (const body of ['"{ __typename }"', 'null', '42']) {
      const response = await fetch(t.gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(response.status, body).toBe(400);
      expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code, body).toBe(
        'BAD_REQUEST',
      );
    }
    const get = await fetch(`${t.gateway.graphqlUrl}?query=${encodeURIComponent('{ __typename }')}&variables=%7Bnot-json`, {
      headers: { accept: 'application/json' },
    });
    expect(get.status).toBe(400);
    const text = await get.text();
    expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(text).not.toMatch(/originalError|not-json/);
  });
});
