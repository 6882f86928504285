import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext } from '../shared/app';
import { invocationLog } from './http';

/** Every minute: reminders for requests that have waited half their lifetime, warnings before grants end, Teams cards left behind. */
export async function sendDueNotifications(_timer: Timer, context: InvocationContext): Promise<void> {
  const log = invocationLog(context);
  const { sent, outcomes } = await appContext().notifications(log).sendDue();
  if (sent > 0) context.log(`Due notifications: ${sent} sent (${outcomes.filter((o) => !o.ok).length} deliveries failed)`);
  // Teams cards a crash or a failed call left behind the ledger are brought up to date.
  const cards = await appContext().teamsCards(log)?.catchUp();
  if (cards && cards.updated + cards.announced > 0) context.log(`Teams cards: ${cards.updated} card set(s) updated, ${cards.announced} request(s) announced`);
}

app.timer('notify-due', { schedule: '30 * * * * *', runOnStartup: false, handler: sendDueNotifications });
