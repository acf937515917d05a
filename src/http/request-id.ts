/**
 * Every request gets an id (a caller's well-formed X-Request-Id is kept, so traces join up),
 * echoed in the response and carried by every log line and audit event of the request. One log
 * line per request: method, path, status, duration.
 */
import type { Plugin } from 'graphql-yoga';
import { REQUEST_ID_HEADER, requestIds } from '../context.js';
import type { Logger } from '../logger.js';

const ACCEPTED = /^[A-Za-z0-9._:-]{8,128}$/;

export function useRequestId(logger: Logger): Plugin {
  const started = new WeakMap<Request, number>();
  return {
    onRequest({ request }) {
      const offered = request.headers.get(REQUEST_ID_HEADER);
      requestIds.set(request, offered && ACCEPTED.test(offered) ? offered : crypto.randomUUID());
      started.set(request, performance.now());
    },
    onResponse({ request, response }) {
      const requestId = requestIds.get(request);
      if (requestId) response.headers.set(REQUEST_ID_HEADER, requestId);
      const start = started.get(request);
      const url = new URL(request.url);
      if (url.pathname === '/health' || url.pathname === '/ready') return;
      logger.info(
        {
          requestId,
          method: request.method,
          path: url.pathname,
          status: response.status,
          durationMs: start === undefined ? undefined : Math.round((performance.now() - start) * 10) / 10,
        },
        'request',
      );
    },
  };
}
