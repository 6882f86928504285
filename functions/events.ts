import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext } from '../shared/app';
import { invocationLog } from './http';

/**
 * Access requests raised as CloudEvents (HsmAccess.Request.Submit.v1). Refusals are recorded, never
 * thrown: a throw makes Event Grid redeliver, which only a storage failure deserves.
 */
export async function submitFromEvent(event: unknown, context: InvocationContext): Promise<void> {
  const outcome = await appContext().eventSubmissions(invocationLog(context)).receive(event);
  context.log(`Inbound event: ${JSON.stringify(outcome)}`);
}

/** Every 30 s: publishes what a failed or skipped drain after a commit left in the outbox. */
export async function drainOutbox(_timer: Timer, context: InvocationContext): Promise<void> {
  const drainer = appContext().outbox();
  if (!drainer) return;
  const result = await drainer.drain();
  if (result.published > 0) context.log(`Outbox: published ${result.published} event(s)`);
}

app.eventGrid('events-submit', { handler: (event, context) => submitFromEvent(event, context) });
app.timer('events-drain', { schedule: '*/30 * * * * *', runOnStartup: false, handler: drainOutbox });
