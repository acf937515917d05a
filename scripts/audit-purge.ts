/** `npm run audit:purge`: delete audit events past AUDIT_RETENTION_DAYS (as the owner). */
import { purgeAuditEvents } from '../src/audit/retention.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { ensureDataDir, prepareDatabase } from '../src/runtime.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
ensureDataDir(config);
const { ownerUrl, embedded } = await prepareDatabase(config, logger);
try {
  if (!ownerUrl) throw new Error('Set DATABASE_OWNER_URL (the schema owner) to purge a server database.');
  const purged = await purgeAuditEvents(ownerUrl, config.AUDIT_RETENTION_DAYS);
  logger.info({ ...purged, retentionDays: config.AUDIT_RETENTION_DAYS }, 'audit events purged');
} catch (error) {
  logger.fatal({ err: error }, 'audit purge failed');
  process.exitCode = 1;
} finally {
  await embedded?.stop();
}
