/**
 * `npm run audit:verify` (or `node dist/cli/audit-verify.js`): checks every organization's audit
 * trail against its seals, as the owner, with AUDIT_SIGNING_KEY (src/audit/verify.ts). Prints one
 * JSON line per organization and a summary; exit code 0 when every trail is intact, 3 when any is
 * broken (the line names the first broken event and the range affected), 2 for a usage or
 * configuration mistake, 1 when it could not run.
 *
 *   npm run audit:verify -- [--org <uuid>] [--from <ISO time>] [--to <ISO time>] [--expect-head <seal no>:<head hex>]
 *
 * --expect-head (with --org) takes the newest `audit.sealed` log line kept outside the database
 * (its sealNo and head): the one tampering the database alone cannot show, the newest events
 * deleted together with their seals and chain tips, then fails the check.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sealingKey } from '../audit/seal.js';
import { organizationsToVerify, staleAfterMs, verifyOrganization } from '../audit/verify.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { ensureDataDir, prepareOwnerDatabase } from '../runtime.js';
import { UsageError, runCli } from './run.js';

await runCli(async () => {
  let args;
  try {
    args = parseArgs({
      options: { org: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, 'expect-head': { type: 'string' } },
    }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\nusage: audit:verify [--org <uuid>] [--from <ISO time>] [--to <ISO time>]`);
  }
  const time = (name: 'from' | 'to') => {
    const value = args[name];
    if (value === undefined) return null;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) throw new UsageError(`--${name}: not a time: ${value}`);
    return date;
  };
  const range = { from: time('from'), to: time('to') };
  let expectHead: { sealNo: number; head: string } | undefined;
  if (args['expect-head'] !== undefined) {
    const m = /^(\d+):([0-9a-f]{32})$/i.exec(args['expect-head']);
    if (!m || args.org === undefined) throw new UsageError('--expect-head <seal no>:<32 hex digits> needs --org');
    expectHead = { sealNo: Number(m[1]), head: m[2]! };
  }
  if (args.org !== undefined && !/^[0-9a-f-]{36}$/i.test(args.org))
    throw new UsageError(`--org: not an organization id: ${args.org}`);
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const key = sealingKey(config.AUDIT_SIGNING_KEY);
  if (key.development) console.error('AUDIT_SIGNING_KEY is unset: verifying against the published development key.');
  ensureDataDir(config);
  const { ownerUrl, embedded } = await prepareOwnerDatabase(config, logger);
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('set search_path = app_public');
    const q = (text: string, values?: unknown[]) => client.query(text, values);
    const orgs = args.org ? [args.org.toLowerCase()] : await organizationsToVerify(q);
    let broken = 0;
    for (const orgId of orgs) {
      const report = await verifyOrganization(q, key, orgId, range, {
        staleAfterMs: staleAfterMs(config.AUDIT_SEAL_INTERVAL),
        expectHead,
      });
      if (!report.intact) broken++;
      const { findings, ...summary } = report;
      console.log(JSON.stringify({ ...summary, findings: findings.slice(0, 10) }));
    }
    console.log(JSON.stringify({ organizations: orgs.length, broken, intact: broken === 0 }));
    if (broken > 0) process.exitCode = 3;
  } finally {
    await client.end().catch(() => {});
    await embedded?.stop();
  }
});
