import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext, metrics, REVOCATION_QUEUE, type RevocationMessage } from '../shared/app';
import type { WakeReason } from '../shared/services/ports';
import { invocationLog } from './http';

const REASONS: readonly WakeReason[] = ['expiry', 'backstop', 'follow-up'];

/** Wakes when a request's message becomes visible (its expiry, the backstop, a follow-up) and settles it. */
export async function revokeExpired(message: unknown, context: InvocationContext): Promise<void> {
  const { requestId, expiresAt, reason, hop } = (typeof message === 'string' ? JSON.parse(message) : message) as Partial<RevocationMessage>;
  if (typeof requestId !== 'string') {
    context.error('Revocation message without a request id: dropped');
    return;
  }
  const meantFor = typeof expiresAt === 'string' && !Number.isNaN(Date.parse(expiresAt)) ? new Date(expiresAt) : undefined;
  const wakeReason = REASONS.includes(reason as WakeReason) ? (reason as WakeReason) : 'expiry';
  const request = await appContext().requests(invocationLog(context)).wake(requestId, wakeReason, meantFor, typeof hop === 'number' && Number.isInteger(hop) && hop >= 0 ? hop : 0);
  invocationLog(context).info(`Revocation check (${wakeReason}) for ${requestId}: ${request?.status ?? 'nothing to settle here'}`, { requestId });
  if (request?.status === 'Expired' && request.expiresAt) metrics().revocationLag((Date.now() - Date.parse(request.expiresAt)) / 1000, { reason: wakeReason });
}

/**
 * At start-up and every three seconds: catches what a lost message or a crashed instance left
 * (grants past expiry and stalled grants, handed to the queue; timeouts). Timers run on one instance at a time; runOnStartup makes a
 * restarted or new instance look at once.
 */
export async function sweep(_timer: Timer, context: InvocationContext): Promise<void> {
  const counts = await appContext().requests(invocationLog(context)).sweep();
  await appContext().recordWorkload();
  if (counts.due + counts.stalled + counts.timedOut > 0) context.log(`Sweep: ${JSON.stringify(counts)}`);
}

app.storageQueue('revoke-expired', { queueName: REVOCATION_QUEUE, connection: 'AzureWebJobsStorage', handler: revokeExpired });
app.timer('sweep', { schedule: '*/3 * * * * *', runOnStartup: true, handler: sweep });
