/**
 * `npm run migrate` (or `node dist/cli/migrate.js`): apply pending migrations and sync the
 * permission catalogue, as the schema owner. DATABASE_OWNER_URL names the server database;
 * without it (and without DATABASE_URL) the embedded cluster is migrated.
 */
import { loadConfig } from '../config.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../logger.js';
import { ensureDataDir, prepareOwnerDatabase } from '../runtime.js';
import { runCli } from './run.js';

await runCli(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  ensureDataDir(config);
  const { ownerUrl, embedded } = await prepareOwnerDatabase(config, logger);
  try {
    const { applied } = await migrate(ownerUrl, logger);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'nothing to apply');
  } finally {
    await embedded?.stop();
  }
});
