import { app, type InvocationContext, type Timer } from '@azure/functions';
import { appContext } from '../shared/app';

/**
 * Every 5 minutes: records the head of every audit chain that moved into the anchor chain, so that a
 * tail cut off a chain afterwards shows even with its head row rewritten (docs/adr/0017-*.md).
 */
export async function anchorAuditChains(_timer: Timer, context: InvocationContext): Promise<void> {
  const anchored = await appContext().auditAnchors().anchor(new Date().toISOString());
  if (anchored) context.log(`Audit anchor ${anchored.seq} recorded ${Object.keys((anchored.details as { heads: object }).heads).length} chain head(s)`);
}

app.timer('audit-anchor', { schedule: '0 */5 * * * *', runOnStartup: false, handler: anchorAuditChains });
