/**
 * GET /ready: whether this replica can serve (the database answers, and what rate limits count
 * against), as JSON, 200 or 503 with Retry-After. Yoga's own readiness plugin matched every
 * request against a URLPattern (a polyfill on Node 20): ~1 % of a small query's CPU spent on
 * requests that are not /ready. Here the path is compared, nothing else.
 */
import type { Plugin } from 'graphql-yoga';
import type pg from 'pg';
import type { Readiness } from '../yoga.js';

export const READY_PATH = '/ready';

export function useReadinessEndpoint(pool: pg.Pool, readiness: Readiness | undefined): Plugin {
  // Without a probe (tests that build a bare gateway), ready means the pool answers.
  const probe =
    readiness ??
    ({
      async ready() {
        try {
          await pool.query('select 1');
          return { ok: true, body: { database: 'up' } };
        } catch {
          return { ok: false, body: { database: 'down' } };
        }
      },
    } satisfies Readiness);
  return {
    onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== READY_PATH) return;
      // A probe that fails is a replica that is not ready, never a 500.
      const answer = Promise.resolve()
        .then(() => probe.ready())
        .catch(() => ({ ok: false, body: { status: 'unavailable' } }));
      return answer.then(({ ok, body }) => {
        endResponse(
          new fetchAPI.Response(JSON.stringify(body), {
            status: ok ? 200 : 503,
            headers: { 'content-type': 'application/json', ...(ok ? {} : { 'retry-after': '1' }) },
          }),
        );
      });
    },
  };
}
