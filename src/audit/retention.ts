/**
 * Audit retention: events older than AUDIT_RETENTION_DAYS are deleted, whether or not their
 * organization still exists (a deleted organization's trail is kept that long, then goes).
 * Runs as the owner (the gateway role cannot delete audit events), e.g. daily from cron.
 */
import pg from 'pg';

export async function purgeAuditEvents(ownerUrl: string, retentionDays: number): Promise<{ events: number; sessions: number }> {
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    const events = await client.query(
      'delete from app_public.audit_events where occurred_at < now() - make_interval(days => $1)',
      [retentionDays],
    );
    // Sign-in sessions only deduplicate auth.login; a month is plenty.
    const sessions = await client.query(
      `delete from app_public.sign_in_sessions where first_seen_at < now() - interval '30 days'`,
    );
    return { events: events.rowCount ?? 0, sessions: sessions.rowCount ?? 0 };
  } finally {
    await client.end();
  }
}
