/**
 * Rate limits with @envelop/rate-limiter, per user and per organization, on every root field
 * (each occurrence in a document counts, so aliases cannot multiply a budget). Over the limit:
 * HTTP 429, a numeric Retry-After, extensions.code RATE_LIMITED; the operation does not run.
 * The library's own error sets a status Yoga ignores and a non-numeric Retry-After, hence
 * transformError.
 *
 * Do not add `readOnly` or `uncountRejected` to these configs: RedisStore counts a call when the
 * library reads it (src/ratelimit/stores.ts), which is right only when every read is counted.
 */
import { useRateLimiter, type Store } from '@envelop/rate-limiter';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { rateLimited } from '../errors.js';

export interface RateLimitOptions {
  windowMs: number;
  userMax: number;
  orgMax: number;
  store: Store;
}

export function useRateLimits(options: RateLimitOptions): Plugin[] {
  const window = `${options.windowMs}ms`;
  const seconds = Math.max(1, Math.ceil(options.windowMs / 1000));
  const limiter = (kind: 'user' | 'organization', max: number, identify: (ctx: Context) => string) =>
    useRateLimiter({
      identifyFn: (ctx) => identify(ctx as Context),
      store: options.store,
      configByField: [
        { type: 'Query', field: '*', max, window },
        { type: 'Mutation', field: '*', max, window },
      ],
      formatError: ({ fieldName }) =>
        `Rate limit exceeded: ${fieldName} allows ${max} calls per ${seconds} s per ${kind}. Retry after ${seconds} s.`,
      transformError: (message) => rateLimited(message, seconds),
    }) as Plugin;

  // Per person, per key (each service principal has a budget of its own), or per client IP.
  const caller = (ctx: Context) =>
    ctx.caller.kind === 'user'
      ? `user:${ctx.caller.userId}`
      : ctx.caller.kind === 'service'
        ? `key:${ctx.caller.servicePrincipalId}`
        : `ip:${ctx.clientIp ?? 'unknown'}`;
  return [
    limiter('user', options.userMax, caller),
    // Callers outside any organization are already limited as users; this bucket just mirrors it.
    limiter('organization', options.orgMax, (ctx) => (ctx.principal ? `org:${ctx.principal.orgId}` : `no-org:${caller(ctx)}`)),
  ];
}
