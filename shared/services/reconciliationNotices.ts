import { driftNotificationContent, driftNoticeKey, nextDriftAlert, securityAdminRecipients, type Policy } from '../domain';
import type { DriftAlertStore, OutgoingNotification } from './notificationPorts';
import type { NotificationService } from './notifications';
import type { Clock } from './ports';
import type { RunListener } from './reconciliation';

export interface DriftNoticeDeps {
  policy: Policy;
  notifications: Pick<NotificationService, 'announce'>;
  /** What each HSM's security team was last told. */
  alerts: DriftAlertStore;
  clock: Clock;
  /** The run's HTML report for a reader outside (PUBLIC_BASE_URL); undefined when no public URL is set. */
  reportLink(runId: string): string | undefined;
}

/** Of several runs closing at once, each re-reads what the others stored, a few times at most. */
const MAX_STATE_WRITES = 5;
/** A drift message claimed this long ago and never confirmed lost its sender: a later run sends it. */
const RECLAIM_DRIFT_CLAIM_AFTER_MS = 5 * 60_000;

/**
 * A run listener that tells the HSM's security administrators, on every channel the policy names for
 * them, about drift that is new or changed since the last message (a fingerprint of the findings,
 * stored per HSM and changed only with If-Match, so concurrent closes agree), and about unchanged
 * drift at most once per UTC day. A run without drift tells nothing. The message itself is claimed
 * and confirmed in the marks, so it goes out once even when the sender dies after storing the state.
 */
export function driftNotifier(deps: DriftNoticeDeps): RunListener {
  return async (run, items) => {
    for (let attempt = 0; attempt < MAX_STATE_WRITES; attempt++) {
      const stored = await deps.alerts.read(run.hsm);
      const { record, notice } = nextDriftAlert(stored?.state, run, items, deps.clock.now());
      if (record && !(await deps.alerts.write(run.hsm, record, stored?.etag))) continue;
      const content = notice ? driftNotificationContent(deps.policy, run, items, notice) : undefined;
      if (!notice || !content) return;
      const link = deps.reportLink(run.id);
      const notification: OutgoingNotification = { ...content, ...(link ? { link } : {}) };
      await deps.notifications.announce(notification, securityAdminRecipients(deps.policy), driftNoticeKey(run.hsm, notice), RECLAIM_DRIFT_CLAIM_AFTER_MS);
      return;
    }
    throw new Error(`the drift alert state of ${run.hsm} kept changing`);
  };
}
