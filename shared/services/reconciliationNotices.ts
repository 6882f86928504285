import { driftNotificationContent, securityAdminRecipients, type Policy } from '../domain';
import type { OutgoingNotification } from './notificationPorts';
import type { NotificationService } from './notifications';
import type { RunListener } from './reconciliation';

export interface DriftNoticeDeps {
  policy: Policy;
  notifications: Pick<NotificationService, 'announce'>;
  /** The run's HTML report for a reader outside (PUBLIC_BASE_URL); undefined when no public URL is set. */
  reportLink(runId: string): string | undefined;
}

/** The key of a run's drift message in the notification marks: a run that is closed twice sends once. */
export const driftNoticeKey = (runId: string): string => `drift-found|${runId}`;

/**
 * A run listener that tells the HSM's security administrators, on every channel the policy names for
 * them, when a completed run found drift: one message per run, none for a run without drift.
 */
export function driftNotifier(deps: DriftNoticeDeps): RunListener {
  return async (run, items) => {
    const content = driftNotificationContent(deps.policy, run, items);
    if (!content) return;
    const link = deps.reportLink(run.id);
    const notification: OutgoingNotification = { ...content, ...(link ? { link } : {}) };
    await deps.notifications.announce(notification, securityAdminRecipients(deps.policy), driftNoticeKey(run.id));
  };
}
