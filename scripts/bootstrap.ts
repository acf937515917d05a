/**
 * `npm run db:bootstrap`: the one step that needs a superuser, for a PostgreSQL server.
 *   DATABASE_ADMIN_URL=postgres://postgres@host/postgres \
 *   GATEWAY_OWNER_PASSWORD=… GATEWAY_APP_PASSWORD=… [GATEWAY_DATABASE=gateway] npm run db:bootstrap
 * Creates (or updates the passwords of) gateway_owner and gateway_app and the database.
 */
import { APP_ROLE, OWNER_ROLE, bootstrapDatabase } from '../src/db/bootstrap.js';

const { DATABASE_ADMIN_URL, GATEWAY_OWNER_PASSWORD, GATEWAY_APP_PASSWORD } = process.env;
const database = process.env.GATEWAY_DATABASE ?? 'gateway';
if (!DATABASE_ADMIN_URL || !GATEWAY_OWNER_PASSWORD || !GATEWAY_APP_PASSWORD) {
  console.error('Set DATABASE_ADMIN_URL, GATEWAY_OWNER_PASSWORD and GATEWAY_APP_PASSWORD.');
  process.exit(2);
}
await bootstrapDatabase({
  superuserUrl: DATABASE_ADMIN_URL,
  database,
  ownerPassword: GATEWAY_OWNER_PASSWORD,
  appPassword: GATEWAY_APP_PASSWORD,
});
console.log(
  `Database ${database} ready: owner ${OWNER_ROLE}, gateway role ${APP_ROLE}. Next: DATABASE_OWNER_URL=… npm run migrate`,
);
