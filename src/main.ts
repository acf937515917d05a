/**
 * The gateway's entry: `npm start` (tsx, embedded defaults) and `node dist/main.js` (the compiled
 * production build). Listens, says what is true of this configuration, and shuts down gracefully
 * on SIGINT/SIGTERM.
 */
import fs from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DEMO_MEMBERS } from './db/demo-seed.js';
import { isAlive, LocalStateInUseError } from './local-lock.js';
import { createLogger, endLog } from './logger.js';
import { ensureDataDir, startGateway } from './runtime.js';
import { applyHeapGrowth } from './heap-growth.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(2);
}

applyHeapGrowth(config.HEAP_GROWTH_PERCENT);
const logger = createLogger(config.LOG_LEVEL);
ensureDataDir(config);

// Nothing a dependency does may end the process: a stray rejection or error is logged, not fatal.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

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

  // Shutdown must fit a process manager's 10 s grace period: the gateway drains requests for
  // at most 5 s, the embedded cluster gets a fast shutdown, then an immediate one; after 9 s
  // the process exits regardless (its embedded PostgreSQL is killed on the way out).
  let shuttingDown = false;
  const shutdown = (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ reason }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 9_000);
    // Not unref'd: it also keeps the process alive until stop() settles (a step awaiting an
    // unref'd timer or socket must not let the process end silently, without its last line).
    // pino writes asynchronously: exit only once the last line has reached stdout (a log
    // shipper reading a pipe must see 'stopped'; process.exit() would drop a write in flight).
    const exitAfterFlush = (code: number) => {
      process.exitCode = code;
      void endLog(logger).then(() => process.exit(code));
    };
    gateway
      .stop()
      .then(() => {
        logger.info('stopped');
        exitAfterFlush(0);
      })
      .catch((error) => {
        logger.error({ err: error }, 'shutdown failed');
        exitAfterFlush(1);
      });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));

  // Launched by a wrapper (npm, a shell) that was itself told to stop and did not pass the
  // signal on: when our parent goes, we go. (`npm start` execs node, but not every wrapper does.)
  const ancestors = [process.ppid, parentOf(process.ppid)].filter((pid): pid is number => pid !== undefined && pid > 1);
  if (ancestors.length > 0) {
    const watch = setInterval(() => {
      if (process.ppid !== ancestors[0] || ancestors.some((pid) => !isAlive(pid))) shutdown('parent process exited');
    }, 500);
    watch.unref();
  }
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  if (error instanceof LocalStateInUseError) {
    // Another gateway runs on this checkout's data: say which, touch nothing of it.
    logger.fatal({ holder: error.holder }, error.message);
    if (process.stderr.isTTY) process.stderr.write(`\n${error.message}\n\n`);
  } else {
    logger.fatal({ err: error }, 'gateway failed to start');
  }
  process.exit(1);
}

/** The parent of `pid` (Linux /proc), so a wrapper's wrapper (npm → sh → node) is watched too. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
