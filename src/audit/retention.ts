/**
 * Audit retention: events older than AUDIT_RETENTION_DAYS are deleted, whether or not their
 * organization still exists (a deleted organization's trail is kept that long, then goes).
 * Runs as the owner (the gateway role cannot delete audit events), e.g. daily from cron.
 *
 * Sealed organizations (migration 015) are purged a whole seal at a time — every seal whose
 * newest event is past retention, with its events — and the purge leaves a checkpoint MAC'd with
 * the signing key (the chain head of the last purged seal), so verification starts from it. A
 * forged seal is never turned into a checkpoint: that organization is skipped and reported.
 * Organizations with no seal (sealing off) are purged by time, as before.
 */
import pg from 'pg';
import { SEAL_SELECT, checkpointMac, isoMillis, sameBytes, sealFieldsOf, sealMac } from './seal.js';
import type { SealingKey, SealRow } from './seal.js';

export interface PurgeResult {
  events: number;
  sessions: number;
  /** Checkpoints written (one per sealed organization purged). */
  checkpoints: number;
  /** Organizations left alone because their last purgeable seal failed its MAC. */
  refused: string[];
}

export async function purgeAuditEvents(
  ownerUrl: string,
  retentionDays: number,
  /** Required: a forgotten key must not default to the published development one (review S11). */
  key: SealingKey,
): Promise<PurgeResult> {
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on('error', () => {}); // a dying connection fails the query in flight, not the process
  await client.connect();
  try {
    const cutoff = new Date(Date.now() - retentionDays * 86_400_000);
    const result: PurgeResult = { events: 0, sessions: 0, checkpoints: 0, refused: [] };
    const { rows: sealed } = await client.query<{ org_id: string; seal_no: number }>(
      `select org_id::text as org_id, max(seal_no)::int as seal_no from app_public.audit_seals where last_at < $1 group by org_id`,
      [cutoff],
    );
    for (const { org_id: orgId, seal_no: sealNo } of sealed) {
      await client.query('begin');
      try {
        const seal = (
          await client.query<SealRow>(
            `select ${SEAL_SELECT}, s.manifest from app_public.audit_seals s where s.org_id = $1 and s.seal_no = $2`,
            [orgId, sealNo],
          )
        ).rows[0]!;
        if (!sameBytes(sealMac(key, sealFieldsOf(seal, seal.manifest!)), seal.mac)) {
          result.refused.push(orgId);
          await client.query('rollback');
          continue;
        }
        const deleted = await client.query(
          'delete from app_public.audit_events where org_id = $1 and (xact, seq) < ($2::bigint, $3::bigint)',
          [orgId, seal.xact_to, seal.to_seq],
        );
        await client.query('delete from app_public.audit_seals where org_id = $1 and seal_no <= $2', [orgId, sealNo]);
        // Chain tips below the checkpoint say nothing the checkpoint does not (one is filed per
        // sealing transaction: they would pile up).
        await client.query('delete from app_public.audit_seal_tips where org_id = $1 and seal_no < $2', [orgId, sealNo]);
        const fields = {
          orgId,
          sealNo,
          xactTo: seal.xact_to,
          toSeq: seal.to_seq,
          head: seal.head,
          lastSeq: seal.last_seq,
          purgedEvents: String(deleted.rowCount ?? 0),
          purgedBefore: isoMillis(cutoff),
          createdAt: isoMillis(new Date()),
          keyId: key.id,
        };
        await client.query(
          `insert into app_public.audit_checkpoints (org_id, seal_no, xact_to, head, last_seq, purged_events, purged_before,
             created_at, key_id, mac, to_seq) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11::bigint, 0))`,
          [
            orgId,
            sealNo,
            fields.xactTo,
            fields.head,
            fields.lastSeq,
            fields.purgedEvents,
            fields.purgedBefore,
            fields.createdAt,
            fields.keyId,
            checkpointMac(key, fields),
            fields.toSeq,
          ],
        );
        await client.query('commit');
        result.events += deleted.rowCount ?? 0;
        result.checkpoints++;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      }
    }
    // Never sealed (sealing off): by time, as before 015.
    const events = await client.query(
      `delete from app_public.audit_events e where e.occurred_at < $1
         and not exists (select 1 from app_public.audit_seals s where s.org_id = e.org_id)
         and not exists (select 1 from app_public.audit_checkpoints c where c.org_id = e.org_id)`,
      [cutoff],
    );
    result.events += events.rowCount ?? 0;
    // Sign-in sessions only deduplicate auth.login; a month is plenty.
    const sessions = await client.query(
      `delete from app_public.sign_in_sessions where first_seen_at < now() - interval '30 days'`,
    );
    result.sessions = sessions.rowCount ?? 0;
    return result;
  } finally {
    await client.end();
  }
}
