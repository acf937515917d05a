/**
 * `npm run migrate`: apply pending migrations and sync the permission catalogue, as the owner.
 * With DATABASE_OWNER_URL set it migrates that database; without DATABASE_URL it migrates the
 * embedded one (starting it for the duration).
 */
import { loadConfig } from '../src/config.js';
import { migrate } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { ensureDataDir, prepareDatabase } from '../src/runtime.js';

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL);
ensureDataDir(config);
const { ownerUrl, embedded } = await prepareDatabase(config, logger);
try {
  if (!ownerUrl) throw new Error('Set DATABASE_OWNER_URL (the schema owner) to migrate a server database.');
  const { applied } = await migrate(ownerUrl, logger);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'nothing to apply');
} catch (error) {
  logger.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await embedded?.stop();
}
