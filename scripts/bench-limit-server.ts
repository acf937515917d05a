/**
 * The practical limit the benchmark compares the gateway with: a plain node:http + pg server
 * that gives the same answers for the benchmark's operations with the least work that is still
 * honest — the same JWT verification (jose against the same JWKS, the same claims, verified
 * tokens remembered for the same 60 s as the gateway), the same user and membership lookups
 * (cached, and validated per request against the organization's authorization version, like the
 * gateway), the same transaction-local settings statement, and the minimal SQL, all of it sent
 * in one round trip per request. No GraphQL, no schema, no scope rules: it knows its three
 * answers by URL. API keys (gwk_…) as the gateway takes them: found once by public id
 * (app_private.find_api_key), the secret's SHA-256 compared in constant time, the key then
 * remembered; its principal (app_private.resolve_service_principal) cached and validated per
 * request against the authorization version, bound as app.principal_kind / app.principal_id.
 * Run by `scripts/bench.ts`; not part of the product.
 *
 *   DATABASE_URL=… OIDC_ISSUER=… OIDC_AUDIENCE=… PORT=… node bench-limit-server.js
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import pg from 'pg';

const issuer = process.env.OIDC_ISSUER!;
const audience = process.env.OIDC_AUDIENCE!;
const jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_MAX ?? 10),
  idleTimeoutMillis: 60_000,
  options: '-c search_path=app_public',
});
pool.on('error', () => {});

interface Caller {
  userId: string;
  name: string | null;
  expiresAt: number;
  /** An API key's service principal (its organization and id); absent for a person's JWT. */
  service?: { orgId: string; id: string };
}
interface Member {
  orgName: string;
  roleName: string;
  permissions: string[];
  version: number;
}

const verified = new Map<string, Caller & { cachedUntil: number }>();
const users = new Map<string, string>();
const members = new Map<string, Member>();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const KEY = /^gwk_(test|live)_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const keys = new Map<string, Caller>();
const services = new Map<string, Member & { userId: string; name: string }>();

async function authenticateKey(token: string): Promise<Caller> {
  const hit = keys.get(token);
  if (hit) return hit;
  const parsed = KEY.exec(token);
  if (!parsed) throw new Error('bad key');
  const { rows } = await pool.query('select * from app_private.find_api_key($1)', [parsed[2]]);
  const presented = createHash('sha256').update(parsed[3]!).digest();
  const stored: Buffer = rows[0]?.secret_hash ?? Buffer.alloc(32);
  if (!rows[0] || !timingSafeEqual(presented, stored) || rows[0].environment !== parsed[1]) throw new Error('bad key');
  const service = await servicePrincipal(rows[0].org_id, rows[0].id, pool);
  if (!service) throw new Error('bad key');
  const caller = {
    userId: service.userId,
    name: service.name,
    expiresAt: Infinity,
    service: { orgId: rows[0].org_id, id: rows[0].id },
  };
  if (keys.size >= 10_000) keys.delete(keys.keys().next().value!);
  keys.set(token, caller);
  return caller;
}

/**
 * Unbound (as here, after the request's COMMIT), resolve_service_principal reads no version: label
 * the result with the version this request read before resolving (a change committed in between
 * only makes the label older than the content, so the next request resolves again).
 */
async function servicePrincipal(orgId: string, id: string, via: pg.Pool | pg.PoolClient, seenVersion?: number) {
  const { rows } = await via.query('select * from app_private.resolve_service_principal($1, $2)', [orgId, id]);
  const row = rows[0];
  if (!row || row.revoked_at || (row.expires_at && row.expires_at.getTime() <= Date.now())) return null;
  const resolved = {
    userId: row.user_id as string,
    name: row.name as string,
    orgName: row.org_name,
    roleName: row.role_name,
    permissions: row.permissions,
    version: row.authz_version === null ? (seenVersion ?? -1) : Number(row.authz_version),
  };
  services.set(`${orgId}:${id}`, resolved);
  return resolved;
}

async function authenticate(header: string | undefined): Promise<Caller> {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
  if (!token) throw new Error('no token');
  if (token.startsWith('gwk_')) return authenticateKey(token);
  const hit = verified.get(token);
  if (hit && hit.cachedUntil > Date.now()) return hit;
  const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['RS256'], requiredClaims: ['exp', 'sub'] });
  if (payload.typ !== undefined && String(payload.typ).toLowerCase() !== 'bearer') throw new Error('not an access token');
  const key = `${payload.sub}`;
  let userId = users.get(key);
  if (!userId) {
    const { rows } = await pool.query('select app_private.ensure_user($1, $2, $3, $4, $5) as id', [
      issuer,
      payload.sub,
      payload.email ?? null,
      payload.email_verified ?? false,
      payload.name ?? null,
    ]);
    userId = rows[0].id as string;
    users.set(key, userId);
  }
  const caller = { userId, name: (payload.name as string | undefined) ?? null, expiresAt: payload.exp! * 1000 };
  if (verified.size >= 10_000) verified.delete(verified.keys().next().value!);
  verified.set(token, { ...caller, cachedUntil: Math.min(caller.expiresAt, Date.now() + 60_000) });
  return caller;
}

async function member(userId: string, orgId: string, client: pg.PoolClient): Promise<Member | null> {
  const { rows } = await client.query('select * from app_private.resolve_principal($1, $2)', [userId, orgId]);
  const row = rows[0];
  if (!row || row.status !== 'active') return null;
  const resolved = {
    orgName: row.org_name,
    roleName: row.role_name,
    permissions: row.permissions,
    version: Number(row.authz_version),
  };
  members.set(`${userId}:${orgId}`, resolved);
  return resolved;
}

/** The gateway's settings statement: the member's permissions once known, else as the database derives them. */
const settings = (userId: string, orgId: string, permissions: string[] | undefined, serviceId?: string) =>
  `begin; select set_config('app.user_id', '${userId}', true), set_config('app.org_id', '${orgId}', true), ` +
  (serviceId ? `set_config('app.principal_kind', 'api_key', true), set_config('app.principal_id', '${serviceId}', true), ` : '') +
  `set_config('app.role', 'staff', true), set_config('app.tenant_id', '', true), ` +
  `set_config('app.permissions', ${
    permissions
      ? `'{${permissions.filter((p) => /^[a-z_]+\.[a-z_]+$/.test(p)).join(',')}}'`
      : `app_private.member_permissions('${userId}', '${orgId}', false)`
  }, true); ` +
  `select app_private.authz_version('${orgId}') as v`;

type Work = (ctx: { userId: string; orgId: string; body: Record<string, unknown>; client: pg.PoolClient }) => {
  sql: string;
  answer: (results: pg.QueryResult[], who: Member, caller: Caller) => unknown;
};

const WORK: Record<string, Work> = {
  '/viewer': () => ({
    sql: '',
    answer: (_results, who, caller) => ({
      viewer: {
        user: { id: caller.userId, name: caller.name },
        organization: { name: who.orgName },
        role: { name: who.roleName },
        permissions: who.permissions,
      },
    }),
  }),
  '/workflows': () => ({
    sql: `select d.id, d.name, u.name as creator from (
            select id, name, created_by, created_at from definitions where kind = 'workflow'
            order by created_at desc, id desc limit 50) d
          left join users u on u.id = d.created_by order by d.created_at desc, d.id desc`,
    answer: (results) => ({
      workflows: {
        edges: results.at(-1)!.rows.map((r) => ({
          node: { id: r.id, name: r.name, createdBy: r.creator === null ? null : { name: r.creator } },
        })),
      },
    }),
  }),
  '/createWorkflow': ({ userId, body, client }) => {
    const name = client.escapeLiteral(String((body.variables as { n?: string } | undefined)?.n ?? ''));
    return {
      sql: `with d as (
              insert into definitions (org_id, kind, name, created_by, updated_by)
              values (app_public.current_org_id(), 'workflow', ${name}, '${userId}', '${userId}')
              returning org_id, id, name, current_version),
            v as (
              insert into definition_versions (org_id, definition_id, version, definition, created_by)
              select org_id, id, 1, '{"steps":[]}', '${userId}' from d),
            a as (
              insert into audit_events (org_id, actor_type, actor_user_id, actor_name, action, resource_type, resource_id, outcome)
              select org_id, 'user', '${userId}', 'bench', 'workflow.create', 'workflow', id::text, 'success' from d)
            select id, name, current_version from d`,
      answer: (results) => {
        const row = results.at(-1)!.rows[0];
        return { createWorkflow: { id: row.id, name: row.name, version: row.current_version } };
      },
    };
  },
};

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void (async () => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      try {
        const work = WORK[req.url ?? ''];
        const orgId = String(req.headers['x-organization-id'] ?? '');
        if (!work || !UUID.test(orgId)) return send(404, { error: 'not found' });
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        const caller = await authenticate(req.headers.authorization);
        // A key acts in its own organization; naming another is refused (as the gateway does).
        if (caller.service && caller.service.orgId !== orgId) return send(403, { errors: [{ message: 'not a member' }] });
        const client = await pool.connect();
        try {
          const job = work({ userId: caller.userId, orgId, body, client });
          // One round trip: open, bind, check the authorization version, the work, commit.
          const principalKey = caller.service ? `${orgId}:${caller.service.id}` : `${caller.userId}:${orgId}`;
          const known = caller.service ? services.get(principalKey) : members.get(principalKey);
          const results = (await client.query(
            `${settings(caller.userId, orgId, known?.permissions, caller.service?.id)}; ${job.sql ? `${job.sql};` : ''} commit`,
          )) as unknown as pg.QueryResult[];
          const version = Number(results[2]!.rows[0].v);
          let who = caller.service ? services.get(principalKey) : members.get(principalKey);
          if (!who || who.version !== version)
            who = caller.service
              ? ((await servicePrincipal(orgId, caller.service.id, client, version)) ?? undefined)
              : ((await member(caller.userId, orgId, client)) ?? undefined);
          if (!who) return send(403, { errors: [{ message: 'not a member' }] });
          const answerRows = job.sql ? results.slice(0, -1) : results;
          send(200, { data: job.answer(answerRows, who, caller) });
        } finally {
          client.release();
        }
      } catch (error) {
        send(500, { errors: [{ message: (error as Error).message }] });
      }
    })();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`limit listening ${(server.address() as net.AddressInfo).port}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void pool.end().then(() => process.exit(0));
  });
}
