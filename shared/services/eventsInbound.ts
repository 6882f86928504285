import { createHash, randomUUID } from 'node:crypto';
import {
  eventSubmissionKeyOf,
  readSubmission,
  rejectedSubmissionEvent,
  requesterAsCaller,
  submissionOrigin,
  submittedFields,
  type Policy,
  type SubmissionOrigin,
  defaultHsmName,
  resolveHsm,
} from '../domain';
import type { AccessRequestService, Problem } from './accessRequests';
import type { Clock, LedgerPort, ServiceLog } from './ports';

export interface EventSubmissionDependencies {
  policy: Policy;
  requests: AccessRequestService;
  ledger: LedgerPort;
  clock: Clock;
  log: ServiceLog;
  /** The CloudEvents `source` of the Rejected event; without it (no topic configured) only the audit record is written. */
  eventSource?: string;
  /** Called after a rejection is stored (to drain the outbox). */
  afterCommit?(): void;
  /** Names a rejection (random, like request ids); tests may pass their own. */
  newId?(): string;
}

export type SubmissionOutcome =
  | { readonly outcome: 'created' | 'existing'; readonly requestId: string; readonly status: string }
  | { readonly outcome: 'rejected'; readonly requestId: string; readonly code: string; readonly detail: string }
  | { readonly outcome: 'ignored'; readonly detail: string };

/**
 * Access requests raised as events. A trusted source's submission goes through the same
 * `AccessRequestService.submit` as an HTTP one, so it is refused with the same codes; a refusal is
 * recorded in the audit trail with a Rejected event instead of an answer. The event's source and id
 * name the submission (an index row committed with the request), so a redelivery finds the request
 * it already made, and a rejection is recorded once. Bad input never throws (Event Grid would
 * redeliver it forever); storage failures do, so that it redelivers.
 */
export class EventSubmissionService {
  constructor(private readonly deps: EventSubmissionDependencies) {}

  async receive(event: unknown): Promise<SubmissionOutcome> {
    const origin = submissionOrigin(event);
    if (!origin) {
      this.deps.log.warn('Inbound event without a source and id: not a CloudEvent, dropped');
      return { outcome: 'ignored', detail: 'not a CloudEvent (no source and id)' };
    }
    const requestId = (this.deps.newId ?? randomUUID)();
    const submission = readSubmission(this.deps.policy, { ...(event as { type?: unknown; data?: unknown }), source: origin.source });
    if (!submission.ok) return this.reject(origin, requestId, event, submission);
    const caller = requesterAsCaller(this.deps.policy, submission.requester);
    if ('ok' in caller) return this.reject(origin, requestId, event, caller);
    const outcome = await this.deps.requests.submit(caller, { ...submission.input, origin });
    if (!outcome.ok) return this.reject(origin, requestId, event, outcome, caller.objectId);
    const { request, created } = outcome.value;
    this.deps.log.info(`Event ${origin.source} ${origin.id}: request ${request.id} ${created ? 'created' : 'already made by an earlier delivery'} (${request.status})`);
    return { outcome: created ? 'created' : 'existing', requestId: request.id, status: request.status };
  }

  private async reject(origin: SubmissionOrigin, requestId: string, event: unknown, refusal: Pick<Problem, 'status' | 'code' | 'detail'>, requester?: string): Promise<SubmissionOutcome> {
    const submitted = submittedFields(event);
    const policy = this.deps.policy;
    const hsm = resolveHsm(policy, submitted.hsm)?.name ?? defaultHsmName(policy);
    const at = this.deps.clock.now().toISOString();
    const { status, code, detail } = refusal;
    const audit = {
      at,
      actor: requester ?? `event:${origin.source}`,
      action: 'request.rejected',
      requestId,
      reason: `${code}: ${detail}`,
      details: { submissionSource: origin.source, submissionId: origin.id, code, status, hsm, submitted },
    };
    const events = this.deps.eventSource ? [rejectedSubmissionEvent({ origin, requestId, hsm, status, code, detail, at, submitted }, this.deps.eventSource)] : [];
    // Once per submission: Event Grid may deliver the same event again.
    const once = createHash('sha256').update(eventSubmissionKeyOf(origin), 'utf8').digest('hex');
    const written = await this.deps.ledger.appendAuditOnce(`rejected|${once}`, [audit], events);
    if (written === 'appended' && events.length > 0) this.deps.afterCommit?.();
    this.deps.log.warn(`Event ${origin.source} ${origin.id}: rejected (${code}): ${detail}`);
    return { outcome: 'rejected', requestId, code, detail };
  }
}
