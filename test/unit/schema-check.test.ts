/** The breaking-change check: the code's schema against the last released one, acknowledgements honoured. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ACKNOWLEDGED_FILE, checkSchema, RELEASED_FILE } from '../../scripts/schema-check.js';
import { printedSchema } from '../../scripts/print-schema.js';

const released = fs.readFileSync(RELEASED_FILE, 'utf8');
const current = printedSchema();

/** The current SDL with one field's line edited (a stand-in for a change in the code). */
function edit(sdl: string, from: RegExp, to: string): string {
  expect(sdl).toMatch(from);
  return sdl.replace(from, to);
}

describe('npm run schema:check', () => {
  it('passes on the committed schema (no unacknowledged breaking change since the release)', async () => {
    const result = await checkSchema(released, current, fs.readFileSync(ACKNOWLEDGED_FILE, 'utf8'));
    expect(result.unacknowledged).toEqual([]);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/schema-check.ts'], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(stdout).toMatch(/no unacknowledged breaking changes/);
  }, 60_000);

  it('fails on a removed field and a changed permission; additions pass', async () => {
    let changed = edit(current, /\n {2}"""Requires the `audit_log.read` permission."""\n {2}auditLogFacets: AuditLogFacets[^\n]*/, '');
    changed = edit(
      changed,
      /agent\(id: ID!\): Agent @auth\(rule: "permission", permission: "agents.read"\)/,
      'agent(id: ID!): Agent @auth(rule: "permission", permission: "agents.manage")',
    );
    changed = edit(changed, /type Query \{/, 'type Query {\n  somethingNew: String @auth(rule: "public")');
    const result = await checkSchema(released, changed, '');
    expect(result.unacknowledged.map((l) => l.split('  — ')[0])).toEqual(
      expect.arrayContaining([
        'FIELD_REMOVED Query.auditLogFacets',
        'DIRECTIVE_USAGE_ARGUMENT_REMOVED Query.agent.@auth.permission',
      ]),
    );
    expect(result.unacknowledged.join('\n')).not.toMatch(/somethingNew/);
    expect(result.other.join('\n')).toMatch(/FIELD_ADDED Query.somethingNew/);
  });

  it('passes once each breaking change is acknowledged (with a why)', async () => {
    const changed = edit(current, /\n {2}"""Requires the `audit_log.read` permission."""\n {2}auditLogFacets: AuditLogFacets[^\n]*/, '');
    const acknowledgements = '# release 0.2\nFIELD_REMOVED Query.auditLogFacets  # replaced by auditLog filters\n';
    const result = await checkSchema(released, changed, acknowledgements);
    expect(result.unacknowledged).toEqual([]);
    expect(result.acknowledged).toHaveLength(1);
  });
});
