import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; every request's lines carry its `requestId`. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gateway', ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError, error: serializeError },
      // Belt and braces: whatever a caller passes, these never reach a log line.
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          '*.authorization',
          'token',
          '*.token',
          'credentials',
          '*.credentials',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * Ends the log: resolves once every line written so far has reached its destination (at most
 * `timeoutMs` later). pino writes through SonicBoom asynchronously; its flush(cb) calls back at
 * once when nothing is buffered *ahead* of a write in flight, and process.exit() does not wait
 * for that write — so a process's last line ("stopped") could be lost on a busy pipe. Ending the
 * stream waits for it. Logging after this writes nothing.
 */
export function endLog(logger: Logger, timeoutMs = 2_000): Promise<void> {
  const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | { end?: () => void; once?: (event: string, listener: () => void) => void; destroyed?: boolean }
    | undefined;
  if (!stream?.end || !stream.once || stream.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.once!('close', done);
    stream.once!('error', done);
    stream.end!();
  });
}

/**
 * Errors as a few flat fields. pino's default serializer copies every enumerable property, and
 * some libraries hang whole objects on their errors (a pg connection error carried its client,
 * socket and all, into the shutdown log). Known scalar fields only; the stack stays for the
 * unexpected ones, which are what a stack is for.
 */
export function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) {
    const message = error && typeof error === 'object' && 'message' in error ? (error as { message: unknown }).message : error;
    return { message: String(message) };
  }
  const fields = error as Error & Record<string, unknown>;
  const out: Record<string, unknown> = { type: error.name, message: error.message };
  for (const key of ['code', 'severity', 'detail', 'hint', 'routine', 'errno', 'syscall', 'address', 'port']) {
    const value = fields[key];
    if (typeof value === 'string' || typeof value === 'number') out[key] = value;
  }
  const operational = typeof out.code === 'string' || error.name === 'ConfigError';
  if (!operational && error.stack) out.stack = error.stack;
  if (error.cause !== undefined) out.cause = serializeError(error.cause);
  return out;
}
