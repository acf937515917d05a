/**
 * Refreshing OAuth tokens before they expire. The schedule (app_private.connection_refresh_schedule,
 * kept by a trigger, read only through app_private.due_connection_refreshes) says what is due
 * across organizations; each refresh then runs inside its organization's RLS, bound as the system
 * actor holding connections.update only, locks the connection (another replica may be on it:
 * skip), rotates the token and records credential.token_refresh with the actor `system`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { insertAuditRows } from '../audit/audit-log.js';
import type { SealingKey } from '../audit/seal.js';
import { withBoundTransaction } from '../db/request-database.js';
import { refreshConnectionToken, requireConnection, type ConnectionRow, type TokenRefresher } from '../domain/connections.js';
import type { Logger } from '../logger.js';
import type { CredentialCipher, Credentials } from './credentials.js';

/**
 * The refresher used when no provider is configured: it does what an OAuth server's token
 * endpoint does (a new opaque access token valid for an hour, the refresh token kept). No
 * third-party provider is reachable from this gateway's test machine; a deployment plugs the
 * connector's token endpoint in through the TokenRefresher interface.
 */
export class LocalTokenRefresher implements TokenRefresher {
  async refresh(credentials: Credentials): Promise<Credentials> {
    return {
      ...credentials,
      accessToken: randomBytes(24).toString('base64url'),
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
  }
}

export interface RefreshJobDeps {
  pool: pg.Pool;
  cipher: CredentialCipher;
  refresher: TokenRefresher;
  logger: Logger;
  /** Signs the audit events the refresher writes (AUDIT_SIGNING_KEY). */
  auditKey: SealingKey;
}

const REFRESHER_PERMISSIONS = ['connections.update'] as const;

const SYSTEM_META = () => ({ requestId: `token-refresh:${randomUUID()}`, clientIp: null, userAgent: 'gateway token refresher' });

/** The refresher's audit event for one connection: how it ended, and why when it failed. */
function refreshEvent(
  orgId: string,
  connectionId: string,
  customerId: string | null,
  outcome: 'success' | 'failure',
  details?: Record<string, unknown>,
) {
  return {
    orgId,
    action: 'credential.token_refresh',
    resourceType: 'connection',
    resourceId: connectionId,
    customerId,
    outcome,
    ...(details ? { details } : {}),
  };
}

export async function refreshDueTokens(
  deps: RefreshJobDeps,
  limit = 50,
): Promise<{ refreshed: number; failed: number; skipped: number }> {
  // The schedule spans organizations, so the app role reads it only through this definer
  // function, which answers only outside any request's binding (ids of what is due, no times).
  const { rows: due } = await deps.pool.query<{ org_id: string; connection_id: string }>(
    'select org_id, connection_id from app_private.due_connection_refreshes($1)',
    [limit],
  );
  const tally = { refreshed: 0, failed: 0, skipped: 0 };
  for (const { org_id: orgId, connection_id: id } of due) {
    // The system actor holds exactly what a refresh writes: the connection's token.
    const binding = { userId: null, orgId, access: 'staff' as const, tenantId: null, permissions: REFRESHER_PERMISSIONS };
    const meta = SYSTEM_META();
    let connection: ConnectionRow | undefined;
    try {
      const done = await withBoundTransaction(deps.pool, binding, async (client) => {
        const locked = await client.query('select 1 from connections where id = $1 for update skip locked', [id]);
        if (locked.rowCount === 0) return false;
        connection = await requireConnection(client, id);
        await refreshConnectionToken(client, deps.cipher, deps.refresher, connection);
        await insertAuditRows(client, meta, null, [refreshEvent(orgId, id, connection.customer_id, 'success')], deps.auditKey);
        return true;
      });
      if (done) tally.refreshed++;
      else tally.skipped++;
    } catch (error) {
      tally.failed++;
      deps.logger.warn({ err: { message: (error as Error).message }, connectionId: id }, 'token refresh failed');
      await withBoundTransaction(deps.pool, binding, async (client) => {
        await client.query(
          `update connections set status = 'error', last_error = 'Token refresh failed; reconnect the app.' where id = $1`,
          [id],
        );
        await insertAuditRows(
          client,
          meta,
          null,
          [
            refreshEvent(orgId, id, connection?.customer_id ?? null, 'failure', {
              reason: (error as Error).message.slice(0, 200),
            }),
          ],
          deps.auditKey,
        );
      }).catch((inner) => deps.logger.error({ err: inner }, 'could not record a failed token refresh'));
    }
  }
  return tally;
}

/** Runs the refresher every `intervalMs` (never two rounds at once); returns a stop function. */
export function scheduleTokenRefresh(deps: RefreshJobDeps, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = refreshDueTokens(deps)
      .then((tally) => tally.refreshed + tally.failed > 0 && deps.logger.info(tally, 'token refresh round'))
      .catch((error) => deps.logger.error({ err: error }, 'token refresh round failed'))
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
