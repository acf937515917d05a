/**
 * One checkout, one owner of its local state (the embedded cluster, the development issuer's
 * key). A process that uses them holds `<DATA_DIR>/gateway.lock`: created exclusively, naming
 * its pid and command line, removed when it stops or exits. A second holder is refused with a
 * message naming the first; a lock whose process is gone is stale and taken over.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface LockHolder {
  pid: number;
  /** What the holder is: `gateway`, `migrate`, … */
  role: string;
  command: string;
  startedAt: string;
  /**
   * When the holder process started (Linux: /proc/<pid>/stat field 22, clock ticks since boot).
   * A pid is reused after its process exits — after a reboot or a container restart, quickly —
   * so a live pid alone does not prove the holder lives: the process must also have started
   * when the holder did. Absent in lock files written before this field, and off Linux.
   */
  processStart?: string;
}

export class LocalStateInUseError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(
      `${path.dirname(file)} is in use by process ${holder.pid} (${holder.role}: ${holder.command}), running since ${holder.startedAt}. ` +
        `Stop it first (kill ${holder.pid}), or give this one another DATA_DIR.`,
    );
  }
}

export interface LocalStateLock {
  readonly file: string;
  release(): void;
}

export function lockFileOf(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'gateway.lock');
}

/** When `pid` started (clock ticks since boot), or undefined where /proc cannot say. */
export function processStartOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces and parentheses) start at state (3).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The process that wrote `holder` still runs (same pid, and the same process, not a reuse). */
function holderAlive(holder: LockHolder): boolean {
  if (!isAlive(holder.pid)) return false;
  if (holder.processStart === undefined) return true;
  const now = processStartOf(holder.pid);
  return now === undefined || now === holder.processStart;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live holder of the lock, if any (a stale lock file counts as none). */
export function currentHolder(dataDir: string): LockHolder | undefined {
  const file = lockFileOf(dataDir);
  let holder: LockHolder;
  try {
    holder = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined; // none, or half-written by a process that is creating it right now
  }
  return Number.isInteger(holder.pid) && holder.pid !== process.pid && holderAlive(holder) ? holder : undefined;
}

/** Take the lock, or throw LocalStateInUseError naming the live process that holds it. */
export function acquireLocalStateLock(dataDir: string, role: string): LocalStateLock {
  const file = lockFileOf(dataDir);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const me: LockHolder = {
    pid: process.pid,
    role,
    command: process.argv.slice(1).join(' '),
    startedAt: new Date().toISOString(),
    ...(processStartOf(process.pid) !== undefined ? { processStart: processStartOf(process.pid) } : {}),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o644 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          const onDisk = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
          if (onDisk.pid === process.pid) fs.rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return { file, release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = currentHolder(dataDir);
    if (holder) throw new LocalStateInUseError(file, holder);
    // Give a process that is writing the file a moment; then a stale (or unreadable) lock goes.
    const content = safeRead(file);
    if (content === '' && attempt < 2) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      continue;
    }
    fs.rmSync(file, { force: true });
  }
  throw new Error(`Could not take ${file}`);
}

function safeRead(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
