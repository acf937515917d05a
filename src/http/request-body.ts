/**
 * What an operation may arrive in, and how its body is read:
 *  - POST only as JSON (`application/json`, `application/graphql+json`,
 *    `application/graphql-response+json`): the content types a cross-site form or a "simple"
 *    fetch can send without a CORS preflight (form-urlencoded, multipart, text/plain) are refused
 *    with 415 UNSUPPORTED_MEDIA_TYPE before anything runs (CSRF). GET runs queries only (Yoga
 *    refuses mutations over GET with 405).
 *  - The body limit holds however the body is sent: Content-Length is checked before reading,
 *    and the bytes are counted as they are read, so a chunked body stops at the limit (413). The
 *    rest is never read: the connection closes behind the 413, and nothing pipelined behind it
 *    runs.
 *  - Malformed JSON (or bytes that are not UTF-8) answers 400 BAD_REQUEST with a fixed message:
 *    no parser exception, no piece of the body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.js';

export const OPERATION_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/graphql+json',
  'application/graphql-response+json',
]);

function edgeError(status: number, code: string, message: string, extra: Record<string, unknown> = {}) {
  return createGraphQLError(message, { extensions: { code, ...extra, http: { status } } });
}

function tooLarge(maxBytes: number) {
  return edgeError(413, ErrorCode.PAYLOAD_TOO_LARGE, `Request body exceeds ${maxBytes} bytes.`, { limit: maxBytes });
}

function badRequest(message: string) {
  return edgeError(400, ErrorCode.BAD_REQUEST, message);
}

function contentTypeOf(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Reads a WHATWG body (in-process `yoga.fetch`, tests) up to `maxBytes`. */
async function readStreamAtMost(request: Request, maxBytes: number): Promise<Buffer> {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * Connections closing behind a 413 (its body left unread): whatever was pipelined behind it is
 * not run (RFC 9112 §9.6: after `Connection: close` no further request is processed; its answer
 * could never be sent, while a mutation in it would commit).
 */
const closingSockets = new WeakSet<object>();

/** Is this connection closing behind a refused body (the server refuses what follows on it)? */
export function isClosingBehindRefusedBody(socket: object | null | undefined): boolean {
  return socket != null && closingSockets.has(socket);
}

function closeBehindAnswer(req: IncomingMessage | undefined, res: ServerResponse | undefined): void {
  if (res && !res.headersSent) res.setHeader('connection', 'close');
  if (req?.socket) closingSockets.add(req.socket);
}

/**
 * Reads the Node request a served gateway got, straight from its socket events. The Request Yoga
 * hands on wraps the same bytes in a WHATWG stream over an async iterator: a promise and a few
 * objects per chunk, measurable on every request (issue 10's profile). Past the limit the rest is
 * left unread: the answer (413) goes out and the connection is closed behind it.
 */
function readNodeRequestAtMost(req: IncomingMessage, res: ServerResponse | undefined, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        cleanup();
        req.pause();
        // The unread rest must not be taken for the next request on this connection.
        closeBehindAnswer(req, res);
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (error: Error) => {
      cleanup();
      // 'aborted' (ECONNRESET) is the client going away mid-body, not a database fault.
      reject(req.complete ? error : badRequest('The request body ended early.'));
    };
    // The client went away before the body was complete: nobody is left to answer.
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(badRequest('The request body ended early.'));
    };
    // Destroyed before we got here ('close' already emitted): nothing will ever arrive.
    if (req.destroyed) {
      reject(badRequest('The request body ended early.'));
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function isUnreadNodeRequest(req: unknown): req is IncomingMessage {
  const candidate = req as Partial<IncomingMessage> | undefined;
  return typeof candidate?.on === 'function' && candidate.readableEnded === false && candidate.readableFlowing === null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

async function parseJsonBody(
  request: Request,
  maxBytes: number,
  served: { req?: unknown; res?: ServerResponse },
): Promise<Record<string, unknown>> {
  const bytes = isUnreadNodeRequest(served.req)
    ? await readNodeRequestAtMost(served.req, served.res, maxBytes)
    : await readStreamAtMost(request, maxBytes);
  let body: unknown;
  try {
    body = JSON.parse(utf8.decode(bytes));
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
  // Batching is off: one operation, as an object.
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object: { "query": …, "variables": … }.');
  }
  return body as Record<string, unknown>;
}

export function useRequestBodyPolicy(maxBytes: number): Plugin {
  return {
    onRequest({ request, endResponse, fetchAPI, serverContext }) {
      // Refuse what announces itself as too large before reading a byte of it.
      const declared = request.headers.get('content-length');
      if (declared && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
        const error = tooLarge(maxBytes);
        // Not read, not drained: the connection closes behind the answer.
        const served = serverContext as { req?: IncomingMessage; res?: ServerResponse };
        closeBehindAnswer(served.req, served.res);
        endResponse(
          new fetchAPI.Response(
            JSON.stringify({
              errors: [{ message: error.message, extensions: { code: ErrorCode.PAYLOAD_TOO_LARGE, limit: maxBytes } }],
            }),
            {
              status: 413,
              headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' },
            },
          ),
        );
      }
    },
    onRequestParse({ request, requestParser, setRequestParser, serverContext }) {
      if (request.method === 'GET') {
        // Yoga's GET parser throws a bare SyntaxError (a masked 500) for malformed variables.
        const parseGet = requestParser;
        if (!parseGet) return;
        setRequestParser(async (req) => {
          try {
            return await parseGet(req);
          } catch (error) {
            if (error instanceof SyntaxError) throw badRequest('The variables or extensions parameter is not valid JSON.');
            throw error;
          }
        });
        return;
      }
      if (request.method !== 'POST') return;
      const type = contentTypeOf(request);
      if (!OPERATION_CONTENT_TYPES.has(type)) {
        setRequestParser(() => {
          throw edgeError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            `Operations are accepted as application/json only${type ? `, not ${type}` : ''}.`,
          );
        });
        return;
      }
      // Served over node:http, the body is read from the Node request itself (see above).
      const served = serverContext as { req?: unknown; res?: ServerResponse };
      setRequestParser((req) => parseJsonBody(req, maxBytes, served) as never);
    },
  };
}
