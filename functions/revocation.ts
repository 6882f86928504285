import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext } from '../shared/app';
import { REVOCATION_QUEUE, type RevocationMessage } from '../shared/adapters/storage/revocationQueue';
import { invocationLog } from './http';

/** Wakes when a grant's message becomes visible at its expiry, and ends the grant. */
export async function revokeExpired(message: unknown, context: InvocationContext): Promise<void> {
  const { requestId } = (typeof message === 'string' ? JSON.parse(message) : message) as RevocationMessage;
  if (typeof requestId !== 'string') {
    context.error('Revocation message without a request id: dropped');
    return;
  }
  const request = await appContext().requests(invocationLog(context)).expireIfDue(requestId);
  context.log(`Revocation check for ${requestId}: ${request?.status ?? 'unknown request'}`);
}

/** Every minute: catches what a lost message or a crashed instance left (expiry, stalled grants, timeouts). */
export async function sweep(_timer: Timer, context: InvocationContext): Promise<void> {
  const counts = await appContext().requests(invocationLog(context)).sweep();
  if (counts.expired + counts.provisioned + counts.timedOut > 0) context.log(`Sweep: ${JSON.stringify(counts)}`);
}

app.storageQueue('revoke-expired', { queueName: REVOCATION_QUEUE, connection: 'AzureWebJobsStorage', handler: revokeExpired });
app.timer('sweep', { schedule: '0 * * * * *', runOnStartup: false, handler: sweep });
