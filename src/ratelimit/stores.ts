/**
 * Stores for @envelop/rate-limiter's sliding log (a list of call timestamps per caller and field).
 *  - MemoryStore: one replica. Unlike the library's InMemoryStore it forgets idle callers and does
 *    not copy its whole state on every write.
 *  - RedisStore: state shared by every replica. The library reads, decides, then writes; two
 *    replicas writing at once would each drop the other's calls, so the write is a Lua merge
 *    that keeps, per timestamp, the larger of the two counts.
 */
import { Store, type Identity } from '@envelop/rate-limiter';
import type { Redis } from 'ioredis';

const keyOf = (identity: Identity) => `${identity.contextIdentity}|${identity.fieldIdentity}`;

export class MemoryStore extends Store {
  private readonly log = new Map<string, { timestamps: readonly number[]; expires: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepEveryMs = 60_000) {
    super();
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  setForIdentity(identity: Identity, timestamps: readonly number[], windowMs = 60_000): void {
    const key = keyOf(identity);
    if (timestamps.length === 0) {
      this.log.delete(key);
      return;
    }
    this.log.set(key, { timestamps, expires: Math.max(...timestamps) + windowMs });
  }

  getForIdentity(identity: Identity): readonly number[] {
    return this.log.get(keyOf(identity))?.timestamps ?? [];
  }

  get size(): number {
    return this.log.size;
  }

  sweep(now = Date.now()): void {
    for (const [key, entry] of this.log) if (entry.expires <= now) this.log.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

const MERGE = `
local given = cjson.decode(ARGV[1])
local window_start = tonumber(ARGV[2])
local given_count = {}
for _, t in ipairs(given) do given_count[t] = (given_count[t] or 0) + 1 end
local current = redis.call('GET', KEYS[1])
if current then
  local seen = {}
  for _, t in ipairs(cjson.decode(current)) do
    if t > window_start then
      seen[t] = (seen[t] or 0) + 1
      if seen[t] > (given_count[t] or 0) then table.insert(given, t) end
    end
  end
end
if #given == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], cjson.encode(given), 'PX', ARGV[3])
end
return #given
`;

export class RedisStore extends Store {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'gateway:ratelimit:',
  ) {
    super();
  }

  async setForIdentity(identity: Identity, timestamps: readonly number[], windowMs = 60_000): Promise<void> {
    const now = Date.now();
    await this.redis.eval(
      MERGE,
      1,
      this.prefix + keyOf(identity),
      JSON.stringify(timestamps),
      String(now - windowMs),
      String(windowMs),
    );
  }

  async getForIdentity(identity: Identity): Promise<readonly number[]> {
    const raw = await this.redis.get(this.prefix + keyOf(identity));
    return raw ? (JSON.parse(raw) as number[]) : [];
  }
}
