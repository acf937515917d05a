/**
 * `npm run db:bootstrap` (or `node dist/cli/bootstrap.js`): the one step that needs a superuser.
 *
 *   DATABASE_ADMIN_URL=postgres://postgres@db.example.com/postgres \
 *   GATEWAY_DATABASE=gateway GATEWAY_OWNER_PASSWORD=… GATEWAY_APP_PASSWORD=… npm run db:bootstrap
 *
 * Creates the roles gateway_owner and gateway_app if missing and the database if missing, grants
 * the gateway role CONNECT on it, and enables indexed substring search in it (a leakproof search
 * operator and its pg_trgm index class: src/db/search-bootstrap.ts). Idempotent. An existing
 * role keeps its password unless `--reset-passwords` is given: roles are shared by every
 * database on the server, so bootstrapping a second database must not lock out the first one's
 * gateway.
 */
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase, withDatabase } from '../db/bootstrap.js';
import { UsageError, runCli } from './run.js';

const USAGE =
  'usage: DATABASE_ADMIN_URL=postgres://<superuser>@<host>/postgres [GATEWAY_DATABASE=gateway] \\\n' +
  '       GATEWAY_OWNER_PASSWORD=… GATEWAY_APP_PASSWORD=… npm run db:bootstrap [-- --reset-passwords]';

await runCli(async () => {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--reset-passwords');
  if (unknown.length) throw new UsageError(`Unknown argument ${unknown[0]}\n${USAGE}`);
  const resetPasswords = args.includes('--reset-passwords');
  const adminUrl = process.env.DATABASE_ADMIN_URL;
  const database = process.env.GATEWAY_DATABASE || 'gateway';
  if (!adminUrl) throw new UsageError(`DATABASE_ADMIN_URL: is required (a superuser on the server)\n${USAGE}`);
  if (!/^postgres(ql)?:\/\//.test(adminUrl)) throw new UsageError('DATABASE_ADMIN_URL: must be a postgres:// URL');
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new UsageError('GATEWAY_DATABASE: use lower-case letters, digits and _');

  const report = await bootstrapDatabase({
    superuserUrl: adminUrl,
    database,
    ownerPassword: process.env.GATEWAY_OWNER_PASSWORD || undefined,
    appPassword: process.env.GATEWAY_APP_PASSWORD || undefined,
    resetPasswords,
  });
  for (const [role, what] of Object.entries(report.roles)) {
    console.log(`role ${role}: ${what === 'kept' ? 'exists, password unchanged (--reset-passwords to set it)' : what}`);
  }
  console.log(
    `database ${database}: ${report.databaseCreated ? 'created' : 'exists'}, owner ${OWNER_ROLE}, CONNECT granted to ${APP_ROLE}`,
  );
  console.log(
    report.search.indexed
      ? `search: indexed (leakproof search operator and pg_trgm index class in ${database}${report.search.indexesBuilt ? `; ${report.search.indexesBuilt} search indexes built` : ''})`
      : `search: NOT indexed (${report.search.reason}); substring search still works, reading until a page fills`,
  );
  const at = (user: string) => withDatabase(adminUrl, database, { user, password: 'PASSWORD' }).replace('PASSWORD', '…');
  console.log(
    `Next:\n` +
      `  DATABASE_OWNER_URL=${at(OWNER_ROLE)} npm run migrate\n` +
      `  DATABASE_URL=${at(APP_ROLE)} OIDC_ISSUER=… OIDC_AUDIENCE=… … node dist/main.js`,
  );
});
