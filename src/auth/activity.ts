/**
 * Two things a member's requests leave behind, without a write on every request:
 *  - `auth.login`, once per sign-in session (the token's `sid`, else its `jti`) and
 *    organization: the sign_in_sessions primary key makes it once across replicas, a local
 *    set saves the round trip after that;
 *  - `last_active_at`, at most once every few minutes per member and replica (the database
 *    itself ignores touches less than a minute apart); a service principal's `last_used_at`
 *    the same way.
 * Both run inside the request's transaction, so a request that rolls back leaves neither. A
 * request that has one to record runs read-write even when it is a query (src/context.ts).
 */
import type { RequestAudit } from '../audit/audit-log.js';
import type { RequestDatabase } from '../db/request-database.js';
import type { MemberPrincipal, ServicePrincipal } from './principal.js';

const TOUCH_EVERY_MS = 5 * 60_000;
const MAX_REMEMBERED = 50_000;

class Remembered {
  private readonly entries = new Map<string, number>();
  has(key: string, maxAgeMs = Infinity): boolean {
    const at = this.entries.get(key);
    return at !== undefined && Date.now() - at < maxAgeMs;
  }
  add(key: string): void {
    if (this.entries.size >= MAX_REMEMBERED) this.entries.delete(this.entries.keys().next().value!);
    this.entries.delete(key);
    this.entries.set(key, Date.now());
  }
}

export class MemberActivity {
  private readonly sessions = new Remembered();
  private readonly touches = new Remembered();

  /** Whether record() would write for this principal now (asked before the transaction opens). */
  wouldRecord(principal: MemberPrincipal, sessionKey: string | null): boolean {
    return (
      (sessionKey !== null && !this.sessions.has(`${principal.orgId}|${sessionKey}`)) ||
      !this.touches.has(principal.membershipId, TOUCH_EVERY_MS)
    );
  }

  wouldRecordService(principal: ServicePrincipal): boolean {
    return !this.touches.has(`sp:${principal.servicePrincipalId}`, TOUCH_EVERY_MS);
  }

  /**
   * Called once the request's transaction is open and its principal validated. In a read-only
   * transaction (nothing was due when it opened, but the principal changed since) it records
   * nothing: it is still due, and the next request records it.
   */
  async record(
    db: RequestDatabase,
    audit: RequestAudit,
    principal: MemberPrincipal,
    userId: string,
    sessionKey: string | null,
  ): Promise<() => void> {
    const marks: string[] = [];
    if (db.readOnly) return () => {};
    if (sessionKey) {
      const key = `${principal.orgId}|${sessionKey}`;
      if (!this.sessions.has(key)) {
        const { rowCount } = await db.query(
          `insert into sign_in_sessions (org_id, session_key, user_id) values (app_public.current_org_id(), $1, $2)
           on conflict (org_id, session_key) do nothing`,
          [sessionKey, userId],
        );
        if (rowCount)
          await audit.success(db, { action: 'auth.login', resourceType: 'session', resourceId: sessionKey.slice(0, 64) });
        marks.push(`s:${key}`);
      }
    }
    if (!this.touches.has(principal.membershipId, TOUCH_EVERY_MS)) {
      await db.query('select app_private.touch_member($1)', [principal.membershipId]);
      marks.push(`t:${principal.membershipId}`);
    }
    // Remember only once committed: a rolled-back request must try again next time.
    return () => {
      for (const mark of marks) (mark.startsWith('s:') ? this.sessions : this.touches).add(mark.slice(2));
    };
  }

  /** A service principal's "last used": at most once every few minutes per principal and replica. */
  async recordService(db: RequestDatabase, principal: ServicePrincipal): Promise<() => void> {
    const key = `sp:${principal.servicePrincipalId}`;
    if (db.readOnly || this.touches.has(key, TOUCH_EVERY_MS)) return () => {};
    await db.query('select app_private.touch_service_principal($1)', [principal.servicePrincipalId]);
    return () => this.touches.add(key);
  }
}
