import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext, builtAppContext } from '../shared/app';
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

/** Every 30 s: sends what a failed or skipped drain after a commit left in the notice rows, taking over claims a dead sender left. */
export async function drainNotices(_timer: Timer, context: InvocationContext): Promise<void> {
  const { sent } = await appContext().notices().drain();
  if (sent > 0) context.log(`Notices: ${sent} sent`);
}

app.timer('notices-drain', { schedule: '15,45 * * * * *', runOnStartup: false, handler: drainNotices });

/** How long a host shutting down waits for the drains its commits kicked; what is left, the next timer sends. */
const SHUTDOWN_DRAIN_MS = 10_000;

app.hook.appTerminate(async () => {
  // Never built (nothing ran, or the settings are broken): no drain was kicked.
  const context = builtAppContext();
  if (!context) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([context.notices().idle(), context.outbox()?.idle()]),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_DRAIN_MS); }),
  ]);
  clearTimeout(timer);
});
