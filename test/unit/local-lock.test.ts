/**
 * The data directory's lock (src/local-lock.ts): a live holder is refused by name; a lock whose
 * process is gone is taken over — including when its pid now belongs to another process (pid
 * reuse after a reboot or a container restart), which must not keep the gateway from starting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLocalStateLock, LocalStateInUseError, lockFileOf, processStartOf } from '../../src/local-lock.js';

let dir: string;
let other: ChildProcess;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-lock-'));
  // Some other live process (bounded: it ends by itself).
  other = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((resolve) => other.once('spawn', resolve));
});
afterEach(() => {
  other.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeLock(holder: Record<string, unknown>) {
  fs.writeFileSync(
    lockFileOf(dir),
    JSON.stringify({ role: 'gateway', command: 'src/main.ts', startedAt: '2026-01-01T00:00:00.000Z', ...holder }),
  );
}

describe.runIf(fs.existsSync('/proc/self/stat'))('the data directory lock', () => {
  it('refuses while the process that wrote it runs, naming it', () => {
    writeLock({ pid: other.pid, processStart: processStartOf(other.pid!) });
    expect(() => acquireLocalStateLock(dir, 'gateway')).toThrow(LocalStateInUseError);
    expect(() => acquireLocalStateLock(dir, 'gateway')).toThrow(`process ${other.pid}`);
  });

  it('takes over a lock whose pid now belongs to another process (pid reuse)', () => {
    // Written by a process that has exited; its pid was since given to `other`.
    const started = Number(processStartOf(other.pid!));
    writeLock({ pid: other.pid, processStart: String(started - 1) });
    const lock = acquireLocalStateLock(dir, 'gateway');
    try {
      const onDisk = JSON.parse(fs.readFileSync(lockFileOf(dir), 'utf8')) as { pid: number; processStart?: string };
      expect(onDisk.pid).toBe(process.pid);
      expect(onDisk.processStart).toBe(processStartOf(process.pid));
    } finally {
      lock.release();
    }
    expect(fs.existsSync(lockFileOf(dir))).toBe(false);
  });

  it('takes over a lock whose process is gone', () => {
    const gone = spawn('true');
    return new Promise<void>((resolve) =>
      gone.once('exit', () => {
        writeLock({ pid: gone.pid });
        const lock = acquireLocalStateLock(dir, 'gateway');
        lock.release();
        resolve();
      }),
    );
  });
});
