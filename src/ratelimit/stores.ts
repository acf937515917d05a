/**
 * Stores for @envelop/rate-limiter's sliding log (a list of call timestamps per caller and field).
 *  - MemoryStore: one replica. Unlike the library's InMemoryStore it forgets idle callers and does
 *    not copy its whole state on every write.
 *  - RedisStore: state shared by every replica, exact under concurrency (see below).
 */
import { Store, type Identity } from '@envelop/rate-limiter';
import type { Redis } from 'ioredis';

const keyOf = (identity: Identity) => `${identity.contextIdentity}|${identity.fieldIdentity}`;

/** One caller's recent calls, oldest first; entries before `head` are gone (dropped lazily). */
interface CallLog {
  times: number[];
  head: number;
  expires: number;
}

export class MemoryStore extends Store {
  private readonly log = new Map<string, CallLog>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepEveryMs = 60_000) {
    super();
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  /**
   * Counts one call at `now`; true when it is over `max` (it is counted all the same) — the
   * verdict of "read the recent calls, add this one, write them back", in amortized O(1):
   * expired calls leave from the front of the log, and only the newest `max` calls are kept
   * (older ones can no longer change a verdict: with `max` recent calls any new one is over).
   * The read-filter-copy way cost O(calls in the window) per request — an organization at its
   * default 6,000 a minute copied 6,000 timestamps twice for every call (issue 10's profile:
   * garbage and resident memory).
   */
  record(identity: Identity, now: number, windowMs: number, max: number): boolean {
    const key = keyOf(identity);
    let entry = this.log.get(key);
    if (!entry) this.log.set(key, (entry = { times: [], head: 0, expires: 0 }));
    const { times } = entry;
    while (entry.head < times.length && times[entry.head]! + windowMs <= now) entry.head++;
    const over = times.length - entry.head + 1 > max;
    times.push(now);
    if (times.length - entry.head > max) entry.head = times.length - max;
    // Compact once the dropped front outweighs what is kept.
    if (entry.head > 1024 && entry.head * 2 > times.length) {
      entry.times = times.slice(entry.head);
      entry.head = 0;
    }
    entry.expires = Math.max(entry.expires, now + windowMs);
    return over;
  }

  setForIdentity(identity: Identity, timestamps: readonly number[], windowMs = 60_000): void {
    const key = keyOf(identity);
    if (timestamps.length === 0) {
      this.log.delete(key);
      return;
    }
    this.log.set(key, { times: [...timestamps], head: 0, expires: Math.max(...timestamps) + windowMs });
  }

  getForIdentity(identity: Identity): readonly number[] {
    const entry = this.log.get(keyOf(identity));
    return entry ? entry.times.slice(entry.head) : [];
  }

  sweep(now = Date.now()): void {
    for (const [key, entry] of this.log) if (entry.expires <= now) this.log.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/*
 * The library reads a caller's timestamps, decides, then writes the new list back. Between the
 * read and the write another request (on any replica) can read the same count, so a burst
 * could pass a limit. We configure it without `readOnly` and `uncountRejected`, so every read is
 * followed by one counted call: this store records that call atomically *at read time* (a
 * sorted set, one unique member per call, trimmed to the window) and returns only the calls
 * before it. The library's write is then redundant and ignored. One Redis round trip per
 * rate-limited field, and exact under any concurrency.
 */
const RECORD_AND_READ = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local prior = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. seq)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
local result = {}
for i = 2, #prior, 2 do table.insert(result, tonumber(prior[i])) end
return result
`;

export class RedisStore extends Store {
  private readonly replica = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
    private readonly prefix = 'gateway:ratelimit:',
  ) {
    super();
  }

  async getForIdentity(identity: Identity): Promise<readonly number[]> {
    const key = this.prefix + keyOf(identity);
    return (await this.redis.eval(
      RECORD_AND_READ,
      2,
      key,
      `${key}:seq`,
      String(Date.now()),
      String(this.windowMs),
      this.replica,
    )) as number[];
  }

  /** The call was recorded when it was read (see above). */
  setForIdentity(): void {}
}

export type RateLimitStoreMode =
  /** In-process counters by configuration (no REDIS_URL). */
  | 'memory'
  /** Counters shared by every replica through Redis. */
  | 'shared'
  /** Redis is configured but unreachable: this replica counts on its own until it returns. */
  | 'local-fallback';

interface ModeLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Redis when it answers, this replica's own counters when it does not. A Redis outage degrades
 * rate limiting (each replica limits alone, so a caller spread over N replicas gets up to N
 * budgets) instead of failing every request. Each change of mode is logged once; shared
 * counting resumes by itself as soon as the client is connected again (ioredis reconnects).
 * Local counts are dropped on the way back: Redis's own window is the truth again.
 */
export class FallbackStore extends Store {
  /** 'pending': connecting for the first time (counting locally, nothing to say yet). */
  private current: 'pending' | 'shared' | 'local-fallback';
  private local = new MemoryStore();
  private retryAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly shared: RedisStore,
    private readonly logger: ModeLogger,
  ) {
    super();
    this.current = redis.status === 'ready' ? 'shared' : 'pending';
    redis.on('ready', this.onReady);
    redis.on('close', this.onClose);
  }

  private readonly onReady = () => this.switchTo('shared');
  private readonly onClose = () => this.switchTo('local-fallback', 'connection closed');

  mode(): RateLimitStoreMode {
    return this.current === 'shared' ? 'shared' : 'local-fallback';
  }

  async getForIdentity(identity: Identity): Promise<readonly number[]> {
    // A Redis that is connected but not answering (commands time out) is tried again at most
    // once a second, so requests do not each wait out a command timeout meanwhile.
    if (this.redis.status === 'ready' && (this.current === 'shared' || Date.now() >= this.retryAt)) {
      try {
        const timestamps = await this.shared.getForIdentity(identity);
        this.switchTo('shared');
        return timestamps;
      } catch (error) {
        this.retryAt = Date.now() + 1_000;
        this.switchTo('local-fallback', (error as Error).message);
      }
    } else if (this.current !== 'pending' && this.redis.status !== 'ready') {
      this.switchTo('local-fallback', `redis ${this.redis.status}`);
    }
    return this.local.getForIdentity(identity);
  }

  setForIdentity(identity: Identity, timestamps: readonly number[], windowMs?: number): void {
    // Shared calls were recorded when read; local ones are written like any memory store's.
    if (this.current !== 'shared') this.local.setForIdentity(identity, timestamps, windowMs);
  }

  /** Stops counting and listening: at shutdown the connection's end is not an outage to log. */
  close(): void {
    this.redis.off('ready', this.onReady);
    this.redis.off('close', this.onClose);
    this.local.close();
  }

  private switchTo(mode: 'shared' | 'local-fallback', reason?: string): void {
    if (mode === this.current) return;
    const first = this.current === 'pending';
    this.current = mode;
    if (mode === 'local-fallback') {
      this.logger.warn(
        { rateLimitStore: mode, reason },
        'rate-limit store unreachable: counting locally on this replica until Redis returns',
      );
    } else {
      this.local.close();
      this.local = new MemoryStore();
      this.logger.info(
        { rateLimitStore: mode },
        first
          ? 'rate-limit store connected: counting shared across replicas'
          : 'rate-limit store reachable again: counting shared across replicas',
      );
    }
  }
}
