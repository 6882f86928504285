import {
  evaluateExtension,
  invalidDurationDetail,
  mayCancel,
  mayExtend,
  mayRevoke,
  parseIsoDuration,
  type AccessRequest,
  type Caller,
  type RequestEvent,
} from '../../domain';
import type { RequestContext } from './context';
import { removeOrFail } from './grants';
import { notFound, problem, success, type Outcome } from './outcome';

/** The requester withdraws a request. */
export async function cancel(ctx: RequestContext, caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
  const result = await ctx.writer.mutate(id, (request) => {
    if (!mayCancel(ctx.policy, caller, request)) {
      return ctx.canSee(caller, request) ? problem(403, 'not-requester', 'Only the requester can cancel a request') : notFound(id);
    }
    return success([{ type: 'cancel', by: caller.objectId }]);
  });
  return result.ok ? success(result.value.after) : result;
}

/** Asks for more time on a grant; when the policy lets it through at once, its expiry moves. */
export async function extend(ctx: RequestContext, caller: Caller, id: string, duration: unknown, justification?: string): Promise<Outcome<AccessRequest>> {
  const durationMs = parseIsoDuration(duration);
  if (durationMs === undefined) return problem(400, 'invalid-duration', invalidDurationDetail(duration));
  const result = await ctx.writer.mutateThenAnnounce(id, (request) => {
    if (!mayExtend(ctx.policy, caller, request)) {
      return ctx.canSee(caller, request) ? problem(403, 'not-requester', 'Only the requester or the grantee can ask for more time') : notFound(id);
    }
    const allowed = evaluateExtension(ctx.policy, request, caller, durationMs);
    if (!allowed.ok) return allowed;
    return success([{ type: 'requestExtension', by: caller.objectId, durationMs, ...(justification ? { justification } : {}) }]);
  });
  if (!result.ok) return result;
  const { before, after, announce } = result.value;
  if (after.expiresAt && before.expiresAt !== after.expiresAt) await ctx.deps.scheduler.schedule(id, new Date(after.expiresAt)).finally(announce);
  else await announce();
  return success(after);
}

/** Ends a grant (or one about to start) now and takes its access away. */
export async function revoke(ctx: RequestContext, caller: Caller, id: string, reason?: string): Promise<Outcome<AccessRequest>> {
  const stored = await ctx.deps.ledger.get(id);
  if (!stored || !ctx.canSee(caller, stored.request)) return notFound(id);
  if (!mayRevoke(ctx.policy, caller, stored.request)) {
    return problem(403, 'not-allowed-to-revoke', 'Only the requester, the grantee or an HSM administrator can revoke');
  }
  // A repeated revoke (a retry after a lost answer) answers as the first did, once the access is gone.
  if (stored.request.status === 'Revoked') return success(await removeOrFail(ctx, stored.request));
  if (stored.request.status !== 'Active' && stored.request.status !== 'Approved') {
    return problem(409, 'invalid-transition', `cannot revoke a request that is ${stored.request.status}`);
  }
  const revocation: RequestEvent = { type: 'revoke', by: caller.objectId, reason: reason?.trim() || 'revoked on request' };
  // The intent is recorded before the access is touched, so a grant step racing it (here or in
  // another process) reads Revoked and takes back what it made; the follow-up finishes the
  // removal if this process dies after the commit.
  await ctx.followUp(id);
  const recorded = await ctx.writer.mutateThenAnnounce(id, (current) => success(current.status === 'Revoked' ? [] : [revocation]));
  if (!recorded.ok) return recorded;
  // Access goes before anyone is told: an incident response must not wait for messages.
  return success(await removeOrFail(ctx, recorded.value.after).finally(recorded.value.announce));
}
