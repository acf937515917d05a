/** `npm start`: listen, tell a newcomer where to go, and shut down gracefully on SIGINT/SIGTERM. */
import { ConfigError, loadConfig, type Config } from './config.js';
import { DEMO_MEMBERS } from './db/demo-seed.js';
import { createLogger } from './logger.js';
import { ensureDataDir, startGateway } from './runtime.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
ensureDataDir(config);

try {
  const gateway = await startGateway(config, logger);
  logger.info(
    {
      graphiql: gateway.graphqlUrl,
      health: `${gateway.url}/health`,
      ready: `${gateway.url}/ready`,
      issuer: gateway.issuer,
      ...(gateway.devIssuer
        ? {
            getAToken: 'npm run -s token -- <member>',
            demoMembers: DEMO_MEMBERS.map((m) => `${m.key} (${m.name})`),
          }
        : {}),
    },
    'gateway ready',
  );
  if (gateway.devIssuer && process.stdout.isTTY) {
    process.stdout.write(
      `\n  GraphiQL:  ${gateway.graphqlUrl}\n` +
        `  Token:     npm run -s token -- owner   (or: ${DEMO_MEMBERS.map((m) => m.key).join(', ')})\n` +
        `             then add the header  Authorization: Bearer <token>  in GraphiQL's Headers tab\n\n`,
    );
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), 20_000);
      force.unref();
      gateway
        .stop()
        .then(() => process.exit(0))
        .catch((error) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        });
    });
  }
} catch (error) {
  logger.fatal({ err: error }, 'gateway failed to start');
  process.exit(1);
}
