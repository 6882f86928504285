import {
  createRequest,
  duplicateDetail,
  evaluateRequest,
  explainedRefusal,
  eventSubmissionKeyOf,
  idempotencyKeyOf,
  openAccessKeyOf,
  sameSubmission,
  type AccessRequest,
  type Caller,
  type RequestInput,
  type SubmissionOrigin,
} from '../../domain';
import type { RequestContext } from './context';
import { provision } from './grants';
import { problem, success, type Outcome } from './outcome';

export interface SubmitInput extends RequestInput {
  readonly idempotencyKey?: string;
  /** A submission that arrived as an event: its source and id name the request, so a redelivery finds it. */
  readonly origin?: SubmissionOrigin;
}

/** A submission's outcome: the request, whether this call made it, and what was assumed (e.g. the grantee). */
export interface Submitted {
  readonly request: AccessRequest;
  readonly created: boolean;
  readonly notes: readonly string[];
}

/** The key that names a submission, so that a retry finds the request it made; none without an Idempotency-Key or event. */
function submissionKeyOf(caller: Caller, input: SubmitInput): string | undefined {
  if (input.origin) return eventSubmissionKeyOf(input.origin);
  return input.idempotencyKey ? idempotencyKeyOf(caller.objectId, input.idempotencyKey) : undefined;
}

/**
 * A new request, or the one an earlier try of the same submission made. Its id is random; a
 * replay is found through the submission's index row. A request for access that an open request
 * already holds is refused (409 duplicate-request), however many instances try at once.
 */
export async function submit(ctx: RequestContext, caller: Caller, input: SubmitInput): Promise<Outcome<Submitted>> {
  const { deps } = ctx;
  const submissionKey = submissionKeyOf(caller, input);
  const earlier = submissionKey ? await deps.ledger.requestIdForSubmission(submissionKey) : undefined;
  if (earlier) return replay(ctx, earlier, caller, input);
  const now = deps.clock.now();
  const evaluation = evaluateRequest(deps.policy, caller, input, now);
  if (!evaluation.ok) return explainedRefusal(deps.policy, caller, input, evaluation);
  const request = createRequest(deps.policy, evaluation, { id: deps.newId(), requestedBy: caller.objectId }, now);
  // Written before the commit, so that the grant follows even if this process dies right after it.
  if (request.status === 'Approved') await ctx.followUp(request.id);
  const { stored, announce } = await ctx.writer.createThenAnnounce(request, { ...(submissionKey ? { submissionKey } : {}), openAccessKey: openAccessKeyOf(request) });
  if (request.status !== 'Approved') await announce();
  if (stored.outcome === 'replayed') return replay(ctx, stored.requestId, caller, input);
  if (stored.outcome === 'duplicate') return problem(409, 'duplicate-request', duplicateDetail(stored.open));
  const notes = evaluation.notes;
  // The request just stored is the one to grant: no need to read it back first.
  // Granted before anyone is told, so that access never waits for a message.
  if (request.status === 'Approved') return success({ request: await provision(ctx, request.id, request, announce), created: true, notes });
  return success({ request, created: true, notes });
}

/** The request an earlier try of this submission made, if the submission is the same; 422 otherwise. */
async function replay(ctx: RequestContext, id: string, caller: Caller, input: SubmitInput): Promise<Outcome<Submitted>> {
  const existing = await ctx.deps.ledger.get(id);
  if (!existing || !sameSubmission(ctx.policy, existing.request, caller, input)) {
    return input.origin
      ? problem(422, 'idempotency-key-reused', `This event source and id were already used for request ${id}, which asks for something else`)
      : problem(422, 'idempotency-key-reused', `This Idempotency-Key was already used for request ${id}, which asks for something else: use a new key for a new request`);
  }
  return success({ request: existing.request, created: false, notes: [] });
}
