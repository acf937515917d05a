/**
 * `npm run schema`: writes schema.graphql from the code (sorted, so diffs are meaningful), with
 * every field's authorization rule as `@auth` (src/schema/auth-rules.ts).
 */
import fs from 'node:fs';
import { printSchemaWithAuthRules } from '../src/schema/auth-rules.js';
import { schema } from '../src/schema/index.js';

export const SCHEMA_FILE = new URL('../schema.graphql', import.meta.url);

export function printedSchema(): string {
  return printSchemaWithAuthRules(schema);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  fs.writeFileSync(SCHEMA_FILE, printedSchema());
  console.log('wrote schema.graphql');
}
