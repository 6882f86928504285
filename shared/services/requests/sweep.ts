import type { AccessRequest, RequestEvent, RequestStatus } from '../../domain';
import { listAll, type StoredRequest, type WakeReason } from '../ports';
import type { RequestContext } from './context';
import { endGrant, provision, removeWithRetries, STALLED_PROVISIONING_MS } from './grants';
import { success } from './outcome';

/** How many grants the sweep ends or completes at once. */
const SWEEP_CONCURRENCY = 8;

/** Runs `work` on every item, at most `limit` at a time. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * A queue message's wake-up: completes a stalled grant, ends a grant that is due (or sends its
 * capped message on), and on a follow-up makes sure an ended grant's access is gone.
 */
export async function wake(ctx: RequestContext, id: string, reason: WakeReason = 'expiry', meantFor?: Date): Promise<AccessRequest | undefined> {
  const stored = await ctx.deps.ledger.get(id);
  if (!stored) return undefined;
  const { request } = stored;
  if (request.status === 'Approved') return provision(ctx, id);
  if (request.status === 'Active') {
    const early = reason !== 'follow-up' && meantFor !== undefined && meantFor.getTime() > ctx.deps.clock.now().getTime();
    // A message woken before its time (queues hide one for at most seven days) goes on as it was; an
    // extension schedules its own, and the sweep catches one it lost.
    if (early) await ctx.deps.scheduler.schedule(id, meantFor, reason === 'expiry' ? 'expiry' : 'backstop');
    return expireIfDue(ctx, id, false);
  }
  if (reason === 'follow-up' && (request.status === 'Revoked' || request.status === 'Failed')) await removeWithRetries(ctx, request);
  return request;
}

/** Ends the grant if it is due; otherwise (when `reschedule`) waits for its expiry again. */
export async function expireIfDue(ctx: RequestContext, id: string, reschedule = true): Promise<AccessRequest | undefined> {
  const stored = await ctx.deps.ledger.get(id);
  if (!stored || stored.request.status !== 'Active' || !stored.request.expiresAt) return stored?.request;
  const expiresAt = new Date(stored.request.expiresAt);
  if (expiresAt.getTime() > ctx.deps.clock.now().getTime()) {
    if (reschedule) await ctx.deps.scheduler.schedule(id, expiresAt);
    return stored.request;
  }
  const ended = await endGrant(ctx, stored, { type: 'expire' });
  return ended.ok ? ended.value.request : undefined;
}

/**
 * The sweep, at start-up and every few seconds: catches what a lost message or a crash left
 * behind. Ends grants past expiry, completes stalled grants (a few at a time each), times out
 * undecided requests. Returns what it did, for the log.
 */
export async function sweep(ctx: RequestContext): Promise<{ expired: number; provisioned: number; timedOut: number }> {
  const now = ctx.deps.clock.now();
  const counts = { expired: 0, provisioned: 0, timedOut: 0 };
  const [due, approved, pending] = await Promise.all([allWith(ctx, ['Active'], now.toISOString()), allWith(ctx, ['Approved']), allWith(ctx, ['Pending'])]);
  const stalled = approved.filter((stored) => now.getTime() - Date.parse(stored.request.history[stored.request.history.length - 1].at) >= STALLED_PROVISIONING_MS);
  await Promise.all([
    forEachLimited(due, SWEEP_CONCURRENCY, async (listed) => {
      // Read again: another instance may have ended it since the list.
      const stored = await ctx.deps.ledger.get(listed.request.id);
      const ended = stored && (await endGrant(ctx, stored, { type: 'expire' }));
      if (ended && ended.ok && ended.value.changed) counts.expired++;
    }),
    forEachLimited(stalled, SWEEP_CONCURRENCY, async (stored) => {
      if ((await provision(ctx, stored.request.id)).status === 'Active') counts.provisioned++;
    }),
  ]);
  for (const stored of pending) {
    if (Date.parse(stored.request.pendingUntil) > now.getTime()) continue;
    const result = await ctx.writer.mutate(stored.request.id, (current) => (current.status === 'Pending' ? success([{ type: 'timeout' } as RequestEvent]) : success([])));
    if (result.ok && result.value.after.status === 'TimedOut') counts.timedOut++;
  }
  return counts;
}

function allWith(ctx: RequestContext, statuses: RequestStatus[], expiresBefore?: string): Promise<StoredRequest[]> {
  return listAll(ctx.deps.ledger, { statuses, ...(expiresBefore ? { expiresBefore } : {}), pageSize: 500 });
}
