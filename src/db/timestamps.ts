/**
 * A faster reader for `timestamptz` values (type 1184), the most common column type on a list
 * page: pg's default (postgres-date) matches a regular expression and builds the Date from its
 * parts; here the usual ISO output ('2026-11-26 12:33:35.166306+00', '…+05:30') is handed to the
 * engine's own ISO parser, about 3× cheaper per value (issue 10's profile had postgres-date at
 * 2–3 % of the gateway's CPU). Anything else (infinity, BC dates, offsets with seconds, another
 * DateStyle) goes to pg's own parser, so the answer is always the one pg would give
 * (test/unit/timestamps.test.ts compares both over many values).
 */
import pg from 'pg';

const TIMESTAMPTZ = 1184;
const fallback = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (value: string) => Date | number | string | null;

export function parseTimestamptz(value: string): Date | number | string | null {
  const n = value.length;
  // 'YYYY-MM-DD HH:MM:SS' then optional fraction, then the offset: '±HH' or '±HH:MM'.
  if (n < 22 || value.charCodeAt(4) !== 45 || value.charCodeAt(10) !== 32) return fallback(value);
  let zone = n - 3;
  let sign = value.charCodeAt(zone);
  if (sign !== 43 && sign !== 45) {
    zone = n - 6;
    sign = value.charCodeAt(zone);
    if ((sign !== 43 && sign !== 45) || value.charCodeAt(n - 3) !== 58) return fallback(value);
  }
  const iso = `${value.slice(0, 10)}T${value.slice(11, zone)}${value.slice(zone)}${zone === n - 3 ? ':00' : ''}`;
  const time = Date.parse(iso);
  return Number.isNaN(time) ? fallback(value) : new Date(time);
}

let installed = false;
/** Installs the reader for every pg client of this process (idempotent). */
export function useFastTimestamps(): void {
  if (installed) return;
  installed = true;
  pg.types.setTypeParser(TIMESTAMPTZ, 'text', parseTimestamptz);
}
