/**
 * A child process for test/unit/heap-growth.test.ts: applies HEAP_GROWTH_PERCENT the way
 * src/main.ts does, then holds a live set while churning objects that live long enough to be
 * promoted (the shape of a gateway under load), and prints the heap's peak size.
 */
import { applyHeapGrowth } from '../../src/heap-growth.js';

applyHeapGrowth(Number(process.argv[2]));
const live: object[] = [];
for (let i = 0; i < 200_000; i++) live.push({ a: i, b: `x${i}`, c: [i] });
const inFlight: object[] = new Array(300_000);
let peak = 0;
for (let i = 0; i < 5_000_000; i++) {
  inFlight[i % inFlight.length] = { a: i, b: [i, i + 1], c: { d: i } };
  if ((i & 0x3fff) === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
}
process.stdout.write(JSON.stringify({ peakMiB: peak / 1048576, kept: live.length + inFlight.length }));
