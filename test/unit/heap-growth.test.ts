import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const churn = path.resolve(import.meta.dirname, '../helpers/heap-churn.ts');

function peakHeapMiB(percent: number): number {
  const run = spawnSync(process.execPath, ['--import', 'tsx', churn, String(percent)], { encoding: 'utf8', timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout).peakMiB;
}

describe('HEAP_GROWTH_PERCENT', () => {
  it('defaults to 50; 0 leaves V8 its own choice; out of range is refused', () => {
    expect(loadConfig({}).HEAP_GROWTH_PERCENT).toBe(50);
    expect(loadConfig({ HEAP_GROWTH_PERCENT: '0' }).HEAP_GROWTH_PERCENT).toBe(0);
    expect(() => loadConfig({ HEAP_GROWTH_PERCENT: '-1' })).toThrow(/HEAP_GROWTH_PERCENT/);
    expect(() => loadConfig({ HEAP_GROWTH_PERCENT: 'lots' })).toThrow(/HEAP_GROWTH_PERCENT/);
  });

  // Both runs fix V8's factor (1.5 and 4), so neither depends on how fast this machine is.
  it('set at start-up, it bounds how far the heap grows past its live set', () => {
    const tight = peakHeapMiB(50);
    const loose = peakHeapMiB(300);
    expect(tight).toBeLessThan(loose * 0.7);
  }, 240_000);
});
