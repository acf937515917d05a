/**
 * `npm run schema:check`: compares the schema the code builds with the last released one
 * (`schema.released.graphql`) and fails on breaking changes that are not acknowledged.
 *
 *  - Breaking: what @graphql-inspector/core calls BREAKING (a removed field, a tightened
 *    argument…), and any change to a field's or type's `@auth` rule (who may call it changed).
 *  - Acknowledged: listed in `schema.acknowledged-changes`, one per line as the check prints it
 *    (`FIELD_REMOVED Query.b`), with a `# why` after it. Lines starting with # are comments.
 *  - On a release: `npm run schema:release` copies schema.graphql to schema.released.graphql and
 *    empties the acknowledgements (they were about that release).
 */
import fs from 'node:fs';
import { CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import { buildSchema } from 'graphql';
import { printedSchema } from './print-schema.js';

export const RELEASED_FILE = new URL('../schema.released.graphql', import.meta.url);
export const ACKNOWLEDGED_FILE = new URL('../schema.acknowledged-changes', import.meta.url);

export interface SchemaCheck {
  /** Breaking changes nobody acknowledged: the check fails on these. */
  unacknowledged: string[];
  acknowledged: string[];
  /** Everything else inspector found (for the log). */
  other: string[];
}

export function changeKey(change: Change): string {
  return `${change.type} ${change.path ?? ''}`.trim();
}

/** A rule removed or changed on an existing field (a permission change shows as removed + added). */
function changesAuthRule(change: Change): boolean {
  return /(^|\.)@auth(\.|$)/.test(change.path ?? '') && !/_ADDED$/.test(change.type);
}

function isBreaking(change: Change): boolean {
  return change.criticality.level === CriticalityLevel.Breaking || changesAuthRule(change);
}

export function parseAcknowledged(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter(Boolean),
  );
}

export async function checkSchema(releasedSdl: string, currentSdl: string, acknowledgedText: string): Promise<SchemaCheck> {
  const acknowledged = parseAcknowledged(acknowledgedText);
  const changes = await diff(buildSchema(releasedSdl), buildSchema(currentSdl));
  const result: SchemaCheck = { unacknowledged: [], acknowledged: [], other: [] };
  for (const change of changes) {
    const line = `${changeKey(change)}  — ${change.message}`;
    if (!isBreaking(change)) result.other.push(line);
    else if (acknowledged.has(changeKey(change))) result.acknowledged.push(line);
    else result.unacknowledged.push(line);
  }
  return result;
}

const read = (url: URL) => (fs.existsSync(url) ? fs.readFileSync(url, 'utf8') : '');

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  if (process.argv.includes('--release')) {
    fs.writeFileSync(RELEASED_FILE, printedSchema());
    fs.writeFileSync(
      ACKNOWLEDGED_FILE,
      '# Breaking schema changes since the last release, acknowledged: one per line, with a # why.\n',
    );
    console.log('schema.released.graphql is now the current schema; acknowledgements cleared');
  } else {
    const released = read(RELEASED_FILE);
    if (!released) {
      console.error('schema.released.graphql is missing: run `npm run schema:release` once.');
      process.exit(1);
    }
    const result = await checkSchema(released, printedSchema(), read(ACKNOWLEDGED_FILE));
    for (const line of result.other) console.log(`  ${line}`);
    for (const line of result.acknowledged) console.log(`  acknowledged: ${line}`);
    if (result.unacknowledged.length) {
      console.error(
        `Breaking schema changes since the last release (schema.released.graphql):\n${result.unacknowledged
          .map((l) => `  ${l}`)
          .join('\n')}\n` +
          'Keep the old contract, or acknowledge each one in schema.acknowledged-changes (its first part, then # why).',
      );
      process.exit(1);
    }
    console.log(`schema check: no unacknowledged breaking changes (${result.acknowledged.length} acknowledged).`);
  }
}
