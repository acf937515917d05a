/**
 * MemoryStore.record counts in place; its verdicts must be exactly those of the sliding log it
 * replaces (read the caller's calls, keep those inside the window, over when one more exceeds
 * the maximum, write them back with this one), whatever the timing, window and maximum.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/ratelimit/stores.js';

describe('MemoryStore.record', () => {
  it('gives the sliding log’s verdict for every call, and keeps what getForIdentity reads consistent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 3000 }),
        (max, windowMs, gaps) => {
          const store = new MemoryStore();
          const identity = { contextIdentity: 'user:1', fieldIdentity: 'workflows' };
          let log: number[] = [];
          let now = 1_000;
          try {
            for (const gap of gaps) {
              now += gap;
              const recent = log.filter((t) => t + windowMs > now);
              const expected = recent.length + 1 > max;
              log = [...recent, now];
              expect(store.record(identity, now, windowMs, max)).toBe(expected);
              // What it keeps: the newest calls of the window, at most `max` of them.
              const kept = store.getForIdentity(identity).filter((t) => t + windowMs > now);
              expect(kept).toEqual(log.slice(-max));
            }
          } finally {
            store.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('forgets idle callers', () => {
    const store = new MemoryStore();
    const identity = { contextIdentity: 'ip:1', fieldIdentity: 'x' };
    store.record(identity, 1_000, 100, 5);
    store.sweep(1_099);
    expect(store.getForIdentity(identity)).toEqual([1_000]);
    store.sweep(1_100);
    expect(store.getForIdentity(identity)).toEqual([]);
    store.close();
  });
});
