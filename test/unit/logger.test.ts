/** Errors reach the log as a few flat fields, never as the objects libraries hang on them. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, serializeError } from '../../src/logger.js';

describe('error serialization', () => {
  it('keeps type, message and the database fields; drops attached objects; keeps a stack only when unexpected', () => {
    const terminated = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
      severity: 'FATAL',
      client: { _connection: { _events: {}, stream: { fd: 12 } }, connectionParameters: { password: 'secret' } },
    });
    expect(serializeError(terminated)).toEqual({
      type: 'Error',
      message: 'terminating connection due to administrator command',
      code: '57P01',
      severity: 'FATAL',
    });
    const unexpected = serializeError(new TypeError('x is undefined'));
    expect(unexpected).toMatchObject({ type: 'TypeError', message: 'x is undefined' });
    expect(String(unexpected.stack)).toContain('logger.test.ts');
    expect(
      serializeError(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ECONNREFUSED' }) })),
    ).toMatchObject({
      cause: { message: 'inner', code: 'ECONNREFUSED' },
    });
  });

  it('is what the logger writes for err', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) });
    const logger = createLogger('info', {}, sink);
    logger.warn(
      { err: Object.assign(new Error('gone'), { code: 'ECONNRESET', client: { secret: 'hidden' } }) },
      'shutdown step failed',
    );
    const line = JSON.parse(lines[0]!);
    expect(line.err).toEqual({ type: 'Error', message: 'gone', code: 'ECONNRESET' });
    expect(lines[0]).not.toContain('hidden');
  });
});
