import { evaluateDecision, type AccessRequest, type Caller, type Decision } from '../../domain';
import type { RequestContext } from './context';
import { provision } from './grants';
import { notFound, success, type Outcome } from './outcome';

/** An approver's decision; an approval that completes the request is granted at once. */
export async function decide(ctx: RequestContext, caller: Caller, id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>> {
  await ctx.followUp(id);
  const result = await ctx.writer.mutate(id, (request) => {
    if (!ctx.canSee(caller, request)) return notFound(id);
    const verdict = evaluateDecision(ctx.policy, request, caller, decision);
    if (!verdict.ok) return verdict;
    return success([{ type: verdict.event, by: caller.objectId, decision, ...(comment ? { comment } : {}) }]);
  });
  if (!result.ok) return result;
  const { before, after } = result.value;
  if (before.status === 'Pending' && after.status === 'Approved') return success(await provision(ctx, id));
  if (before.expiresAt !== after.expiresAt && after.expiresAt) await ctx.deps.scheduler.schedule(id, new Date(after.expiresAt));
  return success(after);
}
