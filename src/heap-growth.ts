/**
 * The gateway's memory under load is mostly garbage waiting for V8's next full collection:
 * objects of requests in flight outlive two scavenges, are promoted, and die in the old
 * generation. After a full collection V8 lets the old generation grow by a factor it picks
 * from its own speed measurements (up to 4×): with ~35 MiB live, a replica under 64 connections
 * reached ~250 MiB of RSS between collections. A fixed factor of 1.5 (HEAP_GROWTH_PERCENT=50)
 * held it at ~150 MiB; full collections then run more often but each marks only the live
 * ~35 MiB, and the measured share of CPU spent in GC did not rise (README, *Benchmark*).
 *
 * V8 reads this flag each time it sets the next limit, so setting it at start-up takes effect
 * (NODE_OPTIONS does not accept it; test/unit/heap-growth.test.ts shows it working).
 */
import v8 from 'node:v8';

export function applyHeapGrowth(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${Math.trunc(percent)}`);
}
