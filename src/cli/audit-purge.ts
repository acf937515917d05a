/**
 * `npm run audit:purge` (or `node dist/cli/audit-purge.js`): delete audit events past AUDIT_RETENTION_DAYS, as the owner.
 * Sealed organizations are purged a seal at a time and keep a checkpoint MAC'd with AUDIT_SIGNING_KEY.
 */
import { purgeAuditEvents } from '../audit/retention.js';
import { sealingKey } from '../audit/seal.js';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { ensureDataDir, prepareOwnerDatabase } from '../runtime.js';
import { runCli } from './run.js';

await runCli(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  ensureDataDir(config);
  const { ownerUrl, embedded } = await prepareOwnerDatabase(config, logger);
  try {
    const purged = await purgeAuditEvents(ownerUrl, config.AUDIT_RETENTION_DAYS, sealingKey(config.AUDIT_SIGNING_KEY));
    logger.info({ ...purged, retentionDays: config.AUDIT_RETENTION_DAYS }, 'audit events purged');
  } finally {
    await embedded?.stop();
  }
});
