/**
 * The fast timestamptz reader (src/db/timestamps.ts) must answer exactly what pg's own parser
 * answers, for the ISO output PostgreSQL sends and for everything it hands back to pg's parser.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/db/timestamps.js';

// pg-types' default reader, loaded on its own (not through pg, where the fast one may be installed).
const postgresDate = createRequire(import.meta.url)('postgres-date') as (value: string) => Date | number | string | null;
const asComparable = (v: unknown) => (v instanceof Date ? v.getTime() : v);
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

describe('parseTimestamptz', () => {
  it('agrees with postgres-date on the ISO forms PostgreSQL prints', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -30_000_000_000_000, max: 200_000_000_000_000 }),
        fc.integer({ min: 0, max: 999_999 }),
        fc.constantFrom(0, 60, -60, 330, -480, 345, -570, 840),
        fc.boolean(),
        (ms, micros, offsetMinutes, withFraction) => {
          const local = new Date(ms + offsetMinutes * 60_000);
          const a = Math.abs(offsetMinutes);
          const zone = `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}${a % 60 ? `:${pad(a % 60)}` : ''}`;
          const fraction = withFraction && micros ? `.${pad(micros, 6).replace(/0+$/, '')}` : '';
          const text =
            `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ` +
            `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}${zone}`;
          expect(asComparable(parseTimestamptz(text)), text).toEqual(asComparable(postgresDate(text)));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('hands everything else to pg’s parser', () => {
    for (const text of [
      'infinity',
      '-infinity',
      '0001-01-01 00:00:00+00',
      '0050-06-01 12:00:00+00',
      '2026-11-26 12:33:35.166306+00 BC',
      '1890-01-01 00:00:00+00:53:28',
      '2026-11-26 12:33:35+05:30',
      '2026-11-26 12:33:35.1x6306+00',
      '2026-11-26T12:33:35.5+00',
      '2026-1a-26 12:33:35+00',
    ]) {
      expect(asComparable(parseTimestamptz(text)), text).toEqual(asComparable(postgresDate(text)));
    }
  });
});
