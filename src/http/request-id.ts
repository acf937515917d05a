/**
 * Every request gets an id (a caller's well-formed X-Request-Id is kept, so traces join up),
 * echoed in the response and carried by every log line and audit event of the request (the
 * request's own log line is written by request-log.ts).
 */
import type { Plugin } from 'graphql-yoga';
import { REQUEST_ID_HEADER, requestIds } from '../context.js';

const ACCEPTED = /^[A-Za-z0-9._:-]{8,128}$/;

export function useRequestId(): Plugin {
  return {
    onRequest({ request }) {
      const offered = request.headers.get(REQUEST_ID_HEADER);
      requestIds.set(request, offered && ACCEPTED.test(offered) ? offered : crypto.randomUUID());
    },
    onResponse({ request, response }) {
      const requestId = requestIds.get(request);
      if (requestId) response.headers.set(REQUEST_ID_HEADER, requestId);
    },
  };
}
