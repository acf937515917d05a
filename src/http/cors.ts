/**
 * CORS answers only the configured origins (CORS_ORIGINS): an allowed origin is named back
 * exactly, with credentials; any other origin gets no CORS headers at all, so the browser keeps
 * the response from the calling page. Unset: no cross-origin caller is served (GraphiQL and
 * same-origin pages need none).
 */
import type { CORSOptions } from 'graphql-yoga';

export function corsPolicy(allowedOrigins: readonly string[]): ((request: Request) => CORSOptions) | false {
  if (allowedOrigins.length === 0) return false;
  const allowed = new Set(allowedOrigins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return false;
    return {
      origin: [origin],
      credentials: true,
      methods: ['GET', 'POST'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate'],
      maxAge: 600,
    };
  };
}
