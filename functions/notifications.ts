import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext } from '../shared/app';
import { invocationLog } from './http';

/** Every minute: reminders for requests that have waited half their lifetime, warnings before grants end. */
export async function sendDueNotifications(_timer: Timer, context: InvocationContext): Promise<void> {
  const { sent, outcomes } = await appContext().notifications(invocationLog(context)).sendDue();
  if (sent > 0) context.log(`Due notifications: ${sent} sent (${outcomes.filter((o) => !o.ok).length} deliveries failed)`);
}

app.timer('notify-due', { schedule: '30 * * * * *', runOnStartup: false, handler: sendDueNotifications });
