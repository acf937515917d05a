/**
 * `/metrics` for Prometheus. In production it is served on the API port only behind a bearer
 * secret (METRICS_TOKEN), or on a port of its own (METRICS_PORT, typically reachable only from
 * inside the cluster); in development it is open on the API port.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { GatewayMetrics } from '../observability/metrics.js';

export const METRICS_PATH = '/metrics';

/** Whether the API port answers /metrics for this configuration. */
export function metricsOnApiPort(config: Config): boolean {
  return Boolean(config.METRICS_TOKEN) || config.NODE_ENV !== 'production';
}

function authorized(header: string | null | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const offered = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return offered.length === expected.length && timingSafeEqual(offered, expected);
}

const UNAUTHORIZED_BODY = 'Send the metrics token: Authorization: Bearer <METRICS_TOKEN>\n';

export function useMetricsEndpoint(metrics: GatewayMetrics, token: string | undefined): Plugin {
  return {
    // Not async: every other request passes through here, and should not pay for a promise.
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== METRICS_PATH) return;
      if (!authorized(request.headers.get('authorization'), token)) {
        endResponse(new fetchAPI.Response(UNAUTHORIZED_BODY, { status: 401, headers: { 'www-authenticate': 'Bearer' } }));
        return;
      }
      return metrics.render().then(({ contentType, body }) => {
        endResponse(new fetchAPI.Response(body, { status: 200, headers: { 'content-type': contentType } }));
      });
    },
  };
}

/** The metrics on a listener of their own (METRICS_PORT). */
export function createMetricsServer(metrics: GatewayMetrics, token: string | undefined): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404).end();
      return;
    }
    if (!authorized(req.headers.authorization, token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end(UNAUTHORIZED_BODY);
      return;
    }
    metrics
      .render()
      .then(({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body))
      .catch(() => res.writeHead(500).end());
  });
}
