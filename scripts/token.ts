/**
 * Prints an access token for a demo member, signed by the development issuer's key:
 *   npm run -s token -- owner        (owner, admin, developer, operator, viewer, end-user)
 *   npm run -s token -- owner --expires 600
 * Only for the development issuer (OIDC_ISSUER unset); production tokens come from Keycloak.
 */
import { mintFromStateFile } from '../src/auth/dev-issuer.js';
import { DEMO_MEMBERS } from '../src/db/demo-seed.js';
import { devIssuerStateFile, loadConfig } from '../src/config.js';

const args = process.argv.slice(2);
const who = args.find((a) => !a.startsWith('--'));
const expiresAt = args.indexOf('--expires');
const expiresIn = expiresAt >= 0 ? Number(args[expiresAt + 1]) : 3600;
const member = DEMO_MEMBERS.find((m) => m.key === who || m.email === who || m.subject === who);
if (!member || !Number.isFinite(expiresIn)) {
  console.error(`usage: npm run -s token -- <member> [--expires seconds]\nmembers: ${DEMO_MEMBERS.map((m) => m.key).join(', ')}`);
  process.exit(2);
}
try {
  const { token } = await mintFromStateFile(devIssuerStateFile(loadConfig()), {
    sub: member.subject,
    email: member.email,
    name: member.name,
    expiresIn,
  });
  process.stdout.write(`${token}\n`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
