import { evaluateDecision, type AccessRequest, type Caller, type Decision } from '../../domain';
import type { RequestContext } from './context';
import { provision } from './grants';
import { notFound, success, type Outcome } from './outcome';

/** An approver's decision; an approval that completes the request is granted at once. */
export async function decide(ctx: RequestContext, caller: Caller, id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>> {
  await ctx.followUp(id);
  const result = await ctx.writer.mutateThenAnnounce(id, (request) => {
    if (!ctx.canSee(caller, request)) return notFound(id);
    const verdict = evaluateDecision(ctx.policy, request, caller, decision);
    if (!verdict.ok) return verdict;
    return success([{ type: verdict.event, by: caller.objectId, decision, ...(comment ? { comment } : {}) }]);
  });
  if (!result.ok) return result;
  const { before, after, announce } = result.value;
  // The grant (or the new expiry's message) first: access never waits for the approvers' messages.
  if (before.status === 'Pending' && after.status === 'Approved') {
    return success(await provision(ctx, id, after, announce));
  }
  if (before.expiresAt !== after.expiresAt && after.expiresAt) await ctx.deps.scheduler.schedule(id, new Date(after.expiresAt));
  await announce();
  return success(after);
}
