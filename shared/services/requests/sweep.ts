import type { AccessRequest, RequestEvent, RequestStatus } from '../../domain';
import { listAll, type StoredRequest, type WakeReason } from '../ports';
import type { RequestContext } from './context';
import { endGrant, provision, removeWithRetries, STALLED_PROVISIONING_MS } from './grants';
import { success } from './outcome';

/** How many wake-ups the sweep sends to the queue at once. */
const HANDOVER_CONCURRENCY = 16;
/**
 * The sweep hands a request over again only after this long: its wake-up (and the follow-ups that
 * writes, three seconds apart) are still coming, and more messages would only slow a backlog down.
 */
const HANDOVER_AGAIN_AFTER_MS = 10_000;
/** An Active grant this long past its expiry has lost its expiry message (or its holder died): the sweep hands it over. */
const OVERDUE_MS = 1_000;
/**
 * A wake-up that works writes the next follow-up first, so that a holder killed mid-work (its
 * message invisible for ten minutes) is relieved seconds later; a chain stops after this many,
 * and the sweep picks up what is still open.
 */
const MAX_FOLLOW_UP_HOPS = 5;

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
export function wake(ctx: RequestContext, id: string, reason: WakeReason = 'expiry', meantFor?: Date, hop = 0): Promise<AccessRequest | undefined> {
  return ctx.wakeups.unlessRunning(id, () => settle(ctx, id, reason, meantFor, hop), () => {
    ctx.deps.log.info(`Request ${id}: a ${reason} wake-up let go, this instance is settling the request already`, { requestId: id });
    return undefined;
  });
}

async function settle(ctx: RequestContext, id: string, reason: WakeReason, meantFor: Date | undefined, hop: number): Promise<AccessRequest | undefined> {
  const stored = await ctx.deps.ledger.get(id);
  if (!stored) return undefined;
  const { request } = stored;
  const now = ctx.deps.clock.now().getTime();
  const due = request.status === 'Active' && request.expiresAt !== undefined && Date.parse(request.expiresAt) <= now;
  const removal = reason === 'follow-up' && (request.status === 'Revoked' || request.status === 'Failed');
  // Whatever kills this process from here, the next follow-up finishes the work.
  if ((request.status === 'Approved' || due || removal) && hop < MAX_FOLLOW_UP_HOPS) await ctx.followUp(id, hop + 1);
  if (request.status === 'Approved') return provision(ctx, id);
  if (request.status === 'Active') {
    const early = reason !== 'follow-up' && meantFor !== undefined && meantFor.getTime() > now;
    // A message woken before its time (queues hide one for at most seven days) goes on as it was; an
    // extension schedules its own, and the sweep catches one it lost.
    if (early) await ctx.deps.scheduler.schedule(id, meantFor, reason === 'expiry' ? 'expiry' : 'backstop');
    return expireIfDue(ctx, id, false);
  }
  if (removal) await removeWithRetries(ctx, request);
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
 * behind. Grants past expiry and stalled grants are handed to the queue as wake-ups due now
 * (many at a time), so that every live instance's queue trigger shares the work and a crash
 * mid-way loses nothing: a message outlives its holder. Undecided requests time out here.
 * Returns what it did, for the log.
 */
export async function sweep(ctx: RequestContext): Promise<{ due: number; stalled: number; timedOut: number }> {
  const now = ctx.deps.clock.now();
  const [due, approved, pending] = await Promise.all([
    allWith(ctx, ['Active'], new Date(now.getTime() - OVERDUE_MS).toISOString()),
    allWith(ctx, ['Approved']),
    allWith(ctx, ['Pending']),
  ]);
  const stalled = approved.filter((stored) => now.getTime() - Date.parse(stored.request.history[stored.request.history.length - 1].at) >= STALLED_PROVISIONING_MS);
  ctx.wakeups.forgetHandOversBefore(now.getTime(), HANDOVER_AGAIN_AFTER_MS);
  const handOver = [...due, ...stalled].filter((stored) => ctx.wakeups.handOver(stored.request.id, now.getTime(), HANDOVER_AGAIN_AFTER_MS));
  await forEachLimited(handOver, HANDOVER_CONCURRENCY, (stored) => ctx.deps.scheduler.schedule(stored.request.id, now, 'follow-up'));
  let timedOut = 0;
  for (const stored of pending) {
    if (Date.parse(stored.request.pendingUntil) > now.getTime()) continue;
    const result = await ctx.writer.mutate(stored.request.id, (current) => (current.status === 'Pending' ? success([{ type: 'timeout' } as RequestEvent]) : success([])));
    if (result.ok && result.value.after.status === 'TimedOut') timedOut++;
  }
  return { due: due.length, stalled: stalled.length, timedOut };
}

function allWith(ctx: RequestContext, statuses: RequestStatus[], expiresBefore?: string): Promise<StoredRequest[]> {
  return listAll(ctx.deps.ledger, { statuses, ...(expiresBefore ? { expiresBefore } : {}), pageSize: 500 });
}
