/** The README's configuration table and the code agree: every variable read has a row with its production default. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config.js';

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n### ', readme.indexOf('## Configuration')));
const rows = section
  .split('\n')
  .filter((line) => line.startsWith('| `'))
  .map((line) => line.split('|').map((cell) => cell.trim()));

describe('README configuration table', () => {
  it('has a row for every variable the gateway reads, and no row for one it does not', () => {
    const documented = rows.flatMap((cells) => [...cells[1]!.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!));
    expect([...CONFIG_VARIABLES].sort()).toEqual([...new Set(documented)].sort());
  });

  it('every row states a default and a production default', () => {
    for (const cells of rows) {
      expect(cells.length, cells.join('|')).toBe(6); // four columns between the outer pipes
      expect(cells[2], cells[1]).not.toBe('');
      expect(cells[3], cells[1]).not.toBe('');
    }
  });
});
