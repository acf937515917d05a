/**
 * The gateway's entry: `npm start` (tsx, embedded defaults) and `node dist/main.js` (the compiled
 * production build). Listens, says what is true of this configuration, and shuts down gracefully
 * on SIGINT/SIGTERM.
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { DEMO_MEMBERS } from './db/demo-seed.js';
import { createLogger } from './logger.js';
import { ensureDataDir, startGateway } from './runtime.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(2);
}

const logger = createLogger(config.LOG_LEVEL);
ensureDataDir(config);

try {
  const gateway = await startGateway(config, logger);
  // Only what holds for this configuration: demo members exist only when the demo was seeded
  // and the development issuer can sign for them.
  const demo = gateway.devIssuer && gateway.demoSeeded;
  logger.info(
    {
      url: gateway.url,
      graphql: gateway.graphqlUrl,
      ...(config.GRAPHIQL ? { graphiql: gateway.graphqlUrl } : {}),
      health: `${gateway.url}/health`,
      ready: `${gateway.url}/ready`,
      database: gateway.database,
      issuer: gateway.issuer,
      issuerKind: gateway.devIssuer ? 'development issuer (in-process)' : 'OIDC_ISSUER',
      ...(gateway.metricsUrl ? { metrics: gateway.metricsUrl } : {}),
      ...(demo
        ? { getAToken: 'npm run -s token -- <member>', demoMembers: DEMO_MEMBERS.map((m) => `${m.key} (${m.name})`) }
        : {}),
    },
    'gateway ready',
  );
  if (demo && process.stdout.isTTY) {
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
        .then(() => {
          logger.info('stopped');
          process.exit(0);
        })
        .catch((error) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        });
    });
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  logger.fatal({ err: error }, 'gateway failed to start');
  process.exit(1);
}
