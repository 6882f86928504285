import {
  AZURE_RBAC_PLANE,
  applyEvent,
  assignmentNameFor,
  assignmentStillJustified,
  createRequest,
  duplicateDetail,
  evaluateDecision,
  evaluateExtension,
  evaluateRequest,
  explainedRefusal,
  eventSubmissionKeyOf,
  idempotencyKeyOf,
  invalidDurationDetail,
  mayCancel,
  mayExtend,
  mayReadAuditTrail,
  mayRevoke,
  maySeeAllRequests,
  maySeeRequest,
  openAccessKeyOf,
  parseIsoDuration,
  sameSubmission,
  requestEventsBetween,
  sameAccess,
  verifyAuditChain,
  type AccessKey,
  type AccessRequest,
  type Caller,
  type ChainedAuditRecord,
  type ChainVerification,
  type Decision,
  type HistoryEntry,
  type Lease,
  type OutboundEvent,
  type Policy,
  type RequestEvent,
  type RequestInput,
  type RequestStatus,
  type SubmissionOrigin,
} from '../domain';
import { listAll, type AssignmentPort, type AuditEntry, type Clock, type LedgerPort, type RevocationScheduler, type ServiceLog, type StoredRequest, type WakeReason } from './ports';

/** A refusal the HTTP layer turns into `application/problem+json`. */
export interface Problem {
  readonly ok: false;
  readonly status: number;
  readonly code: string;
  readonly detail: string;
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | Problem;

export const problem = (status: number, code: string, detail: string): Problem => ({ ok: false, status, code, detail });
const success = <T>(value: T): Outcome<T> => ({ ok: true, value });
const notFound = (id: string): Problem => problem(404, 'request-not-found', `No request ${id} that you can see`);

const MAX_CONFLICT_RETRIES = 30;
/** An Approved request whose grant has not completed after this long is picked up by the sweep (its instance may have died). */
const STALLED_PROVISIONING_MS = 3_000;
/**
 * When the follow-up of a step wakes: a grant after its approval, a removal after its revocation.
 * It is scheduled before the step's commit, so that it outlives the process that commits.
 */
const FOLLOW_UP_MS = 3_000;
const REMOVAL_BACKOFF_MS = [250, 1000, 3000];
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

export interface AccessRequestDependencies {
  policy: Policy;
  ledger: LedgerPort;
  /** The assignment port of the HSM named in the policy. */
  hsm(hsmName: string): AssignmentPort;
  /** Azure RBAC on the policy's ARM scopes (management-plane requests); absent when the app has no ARM settings. */
  azureRbac?: AssignmentPort;
  scheduler: RevocationScheduler;
  clock: Clock;
  log: ServiceLog;
  newId(): string;
  /** Called when a grant ends in Failed, after the audit record is stored (alerting goes here). */
  onFailed?(request: AccessRequest): Promise<void>;
  /** Waits between retries of a failed removal (tests pass a faster one). */
  sleep?(ms: number): Promise<void>;
  /** Called after every saved change (`before` undefined for a new request), e.g. to notify; its failures are logged, never thrown. */
  onTransition?(before: AccessRequest | undefined, after: AccessRequest): Promise<void>;
  /** The CloudEvents `source` of lifecycle events; without it (no topic configured) none are written to the outbox. */
  eventSource?: string;
}

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

export interface ListInput {
  status?: RequestStatus;
  mine?: boolean;
  continuation?: string;
  pageSize?: number;
}

function historyAudit(before: AccessRequest | undefined, after: AccessRequest, hsmRequestId?: string): AuditEntry[] {
  const fresh = after.history.slice(before?.history.length ?? 0);
  return fresh.map((entry: HistoryEntry) => ({
    at: entry.at,
    actor: entry.by,
    action: entry.from === null ? 'request.created' : entry.from === entry.to ? 'request.updated' : `request.${entry.to.toLowerCase()}`,
    requestId: after.id,
    ...(entry.from !== null ? { from: entry.from } : {}),
    to: entry.to,
    reason: entry.reason,
    ...(hsmRequestId ? { hsmRequestId } : {}),
    details: { role: after.role, scope: after.scope, principalId: after.principalId, hsm: after.hsm },
  }));
}

/**
 * The access request workflow: who may ask and decide (the policy), what happens (the lifecycle),
 * and the grant and its removal on the HSM. Every change is saved with its audit records in one
 * transaction, with optimistic concurrency; every step can be repeated safely by any instance.
 */
export class AccessRequestService {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: AccessRequestDependencies) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get policy(): Policy {
    return this.deps.policy;
  }

  private canSee(caller: Caller, request: AccessRequest): boolean {
    return maySeeRequest(this.deps.policy, caller, request);
  }

  /**
   * A new request, or the one an earlier try of the same submission made. Its id is random; a
   * replay is found through the submission's index row. A request for access that an open request
   * already holds is refused (409 duplicate-request), however many instances try at once.
   */
  async submit(caller: Caller, input: SubmitInput): Promise<Outcome<Submitted>> {
    const submissionKey = submissionKeyOf(caller, input);
    const earlier = submissionKey ? await this.deps.ledger.requestIdForSubmission(submissionKey) : undefined;
    if (earlier) return this.replay(earlier, caller, input);
    const now = this.deps.clock.now();
    const evaluation = evaluateRequest(this.deps.policy, caller, input, now);
    if (!evaluation.ok) return explainedRefusal(this.deps.policy, caller, input, evaluation);
    const request = createRequest(this.deps.policy, evaluation, { id: this.deps.newId(), requestedBy: caller.objectId }, now);
    // Written before the commit, so that the grant follows even if this process dies right after it.
    if (request.status === 'Approved') await this.followUp(request.id);
    const stored = await this.deps.ledger.create(request, historyAudit(undefined, request), this.eventsBetween(undefined, request), {
      ...(submissionKey ? { submissionKey } : {}), openAccessKey: openAccessKeyOf(request),
    });
    if (stored.outcome === 'replayed') return this.replay(stored.requestId, caller, input);
    if (stored.outcome === 'duplicate') return problem(409, 'duplicate-request', duplicateDetail(stored.open));
    const id = request.id;
    this.deps.log.info(`Request ${id}: ${request.role} on ${request.scope} for ${request.principalId}, ${request.status}`);
    await this.transitioned(undefined, request);
    const notes = evaluation.notes;
    if (request.status === 'Approved') return success({ request: await this.provision(id), created: true, notes });
    return success({ request, created: true, notes });
  }

  /** The request an earlier try of this submission made, if the submission is the same; 422 otherwise. */
  private async replay(id: string, caller: Caller, input: SubmitInput): Promise<Outcome<Submitted>> {
    const existing = await this.deps.ledger.get(id);
    if (!existing || !sameSubmission(this.deps.policy, existing.request, caller, input)) {
      return input.origin
        ? problem(422, 'idempotency-key-reused', `This event source and id were already used for request ${id}, which asks for something else`)
        : problem(422, 'idempotency-key-reused', `This Idempotency-Key was already used for request ${id}, which asks for something else: use a new key for a new request`);
    }
    return success({ request: existing.request, created: false, notes: [] });
  }

  async get(caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
    const stored = await this.deps.ledger.get(id);
    // Someone who may not see a request learns nothing about whether it exists.
    if (!stored || !this.canSee(caller, stored.request)) return notFound(id);
    return success(stored.request);
  }

  async list(caller: Caller, input: ListInput): Promise<Outcome<{ items: AccessRequest[]; continuation?: string }>> {
    const mine = input.mine === true || !maySeeAllRequests(this.deps.policy, caller);
    const page = await this.deps.ledger.list({
      ...(input.status ? { statuses: [input.status] } : {}),
      ...(mine ? { requestedBy: caller.objectId.toLowerCase() } : {}),
      ...(input.continuation ? { continuation: input.continuation } : {}),
      pageSize: input.pageSize ?? 50,
    });
    return success({ items: page.items.map((item) => item.request), ...(page.continuation ? { continuation: page.continuation } : {}) });
  }

  /**
   * Reads, decides and saves until the save wins: a concurrent change makes it read again, so a
   * decision is always taken on the current state and never overwrites another.
   */
  private async mutate(
    id: string,
    decide: (request: AccessRequest) => Outcome<RequestEvent[]>,
    hsmRequestId?: string,
  ): Promise<Outcome<{ before: AccessRequest; after: AccessRequest }>> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const stored = await this.deps.ledger.get(id);
      // The same answer as for a request the caller may not see: nobody learns whether it exists.
      if (!stored) return notFound(id);
      const decided = decide(stored.request);
      if (!decided.ok) return decided;
      let next = stored.request;
      const now = this.deps.clock.now();
      for (const event of decided.value) {
        const result = applyEvent(next, event, now);
        if (!result.ok) return problem(409, 'invalid-transition', result.detail);
        next = result.request;
      }
      if (next === stored.request) return success({ before: stored.request, after: next });
      const saved = await this.deps.ledger.update(next, stored.etag, historyAudit(stored.request, next, hsmRequestId), this.eventsBetween(stored.request, next));
      if (saved === 'updated') {
        await this.transitioned(stored.request, next);
        return success({ before: stored.request, after: next });
      }
    }
    return problem(409, 'concurrent-update', `Request ${id} kept changing; try again`);
  }

  private eventsBetween(before: AccessRequest | undefined, after: AccessRequest): OutboundEvent[] {
    return this.deps.eventSource ? requestEventsBetween(before, after, this.deps.eventSource) : [];
  }

  /** The onTransition hook: whatever it does, the workflow goes on. */
  private async transitioned(before: AccessRequest | undefined, after: AccessRequest): Promise<void> {
    try {
      await this.deps.onTransition?.(before, after);
    } catch (error) {
      this.deps.log.error(`Request ${after.id}: onTransition failed: ${(error as Error).message}`);
    }
  }

  async decide(caller: Caller, id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>> {
    await this.followUp(id);
    const result = await this.mutate(id, (request) => {
      if (!this.canSee(caller, request)) return notFound(id);
      const verdict = evaluateDecision(this.deps.policy, request, caller, decision);
      if (!verdict.ok) return verdict;
      return success([{ type: verdict.event, by: caller.objectId, decision, ...(comment ? { comment } : {}) }]);
    });
    if (!result.ok) return result;
    const { before, after } = result.value;
    if (before.status === 'Pending' && after.status === 'Approved') return success(await this.provision(id));
    if (before.expiresAt !== after.expiresAt && after.expiresAt) await this.deps.scheduler.schedule(id, new Date(after.expiresAt));
    return success(after);
  }

  async cancel(caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
    const result = await this.mutate(id, (request) => {
      if (!mayCancel(this.deps.policy, caller, request)) {
        return this.canSee(caller, request) ? problem(403, 'not-requester', 'Only the requester can cancel a request') : notFound(id);
      }
      return success([{ type: 'cancel', by: caller.objectId }]);
    });
    return result.ok ? success(result.value.after) : result;
  }

  async extend(caller: Caller, id: string, duration: unknown, justification?: string): Promise<Outcome<AccessRequest>> {
    const durationMs = parseIsoDuration(duration);
    if (durationMs === undefined) return problem(400, 'invalid-duration', invalidDurationDetail(duration));
    const result = await this.mutate(id, (request) => {
      if (!mayExtend(this.deps.policy, caller, request)) {
        return this.canSee(caller, request) ? problem(403, 'not-requester', 'Only the requester or the grantee can ask for more time') : notFound(id);
      }
      const allowed = evaluateExtension(this.deps.policy, request, caller, durationMs);
      if (!allowed.ok) return allowed;
      return success([{ type: 'requestExtension', by: caller.objectId, durationMs, ...(justification ? { justification } : {}) }]);
    });
    if (!result.ok) return result;
    const { before, after } = result.value;
    if (after.expiresAt && before.expiresAt !== after.expiresAt) await this.deps.scheduler.schedule(id, new Date(after.expiresAt));
    return success(after);
  }

  async revoke(caller: Caller, id: string, reason?: string): Promise<Outcome<AccessRequest>> {
    const stored = await this.deps.ledger.get(id);
    if (!stored || !this.canSee(caller, stored.request)) return notFound(id);
    if (!mayRevoke(this.deps.policy, caller, stored.request)) {
      return problem(403, 'not-allowed-to-revoke', 'Only the requester, the grantee or an HSM administrator can revoke');
    }
    // A repeated revoke (a retry after a lost answer) answers as the first did, once the access is gone.
    if (stored.request.status === 'Revoked') return success(await this.removeOrFail(stored.request));
    if (stored.request.status !== 'Active' && stored.request.status !== 'Approved') {
      return problem(409, 'invalid-transition', `cannot revoke a request that is ${stored.request.status}`);
    }
    const revocation: RequestEvent = { type: 'revoke', by: caller.objectId, reason: reason?.trim() || 'revoked on request' };
    // The intent is recorded before the access is touched, so a grant step racing it (here or in
    // another process) reads Revoked and takes back what it made; the follow-up finishes the
    // removal if this process dies after the commit.
    await this.followUp(id);
    const recorded = await this.mutate(id, (current) => success(current.status === 'Revoked' ? [] : [revocation]));
    if (!recorded.ok) return recorded;
    return success(await this.removeOrFail(recorded.value.after));
  }

  /**
   * A queue message's wake-up: completes a stalled grant, ends a grant that is due (or sends its
   * capped message on), and on a follow-up makes sure an ended grant's access is gone.
   */
  async wake(id: string, reason: WakeReason = 'expiry', meantFor?: Date): Promise<AccessRequest | undefined> {
    const stored = await this.deps.ledger.get(id);
    if (!stored) return undefined;
    const { request } = stored;
    if (request.status === 'Approved') return this.provision(id);
    if (request.status === 'Active') {
      const early = reason !== 'follow-up' && meantFor !== undefined && meantFor.getTime() > this.deps.clock.now().getTime();
      // A message woken before its time (queues hide one for at most seven days) goes on as it was; an
      // extension schedules its own, and the sweep catches one it lost.
      if (early) await this.deps.scheduler.schedule(id, meantFor, reason === 'expiry' ? 'expiry' : 'backstop');
      return this.expireIfDue(id, false);
    }
    if (reason === 'follow-up' && (request.status === 'Revoked' || request.status === 'Failed')) await this.removeWithRetries(request);
    return request;
  }

  /** Ends the grant if it is due; otherwise (when `reschedule`) waits for its expiry again. */
  async expireIfDue(id: string, reschedule = true): Promise<AccessRequest | undefined> {
    const stored = await this.deps.ledger.get(id);
    if (!stored || stored.request.status !== 'Active' || !stored.request.expiresAt) return stored?.request;
    const expiresAt = new Date(stored.request.expiresAt);
    if (expiresAt.getTime() > this.deps.clock.now().getTime()) {
      if (reschedule) await this.deps.scheduler.schedule(id, expiresAt);
      return stored.request;
    }
    const ended = await this.end(stored, { type: 'expire' });
    return ended.ok ? ended.value.request : undefined;
  }

  /** A wake-up soon, sent before a step's commit: whichever process dies, a live one finishes the step. */
  private followUp(id: string): Promise<void> {
    return this.deps.scheduler.schedule(id, new Date(this.deps.clock.now().getTime() + FOLLOW_UP_MS), 'follow-up');
  }

  /**
   * Puts the assignment in place for an Approved request and makes it Active. Safe to repeat: the
   * assignment's name is derived from the request, so a retry finds its own assignment. It reads the
   * request again after creating: a revocation committed meanwhile makes it take the assignment back.
   */
  async provision(id: string): Promise<AccessRequest> {
    const stored = await this.deps.ledger.get(id);
    if (!stored) throw new Error(`No request ${id}`);
    const request = stored.request;
    if (request.status !== 'Approved') return request;
    const name = assignmentNameFor(request.id, request.hsm, request.scope, request.principalId, request.roleId);
    let created: Awaited<ReturnType<AssignmentPort['create']>>;
    try {
      created = await this.portFor(request).create({ name, scope: request.scope, roleId: request.roleId, principalId: request.principalId, durationIso: request.duration });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      const transient = status === undefined || status === 408 || status === 429 || status >= 500;
      this.deps.log.error(`Request ${id}: the assignment could not be created (${status ?? 'no answer'}): ${(error as Error).message}`);
      if (transient) return request;
      const failed = await this.mutate(id, () => success([{ type: 'fail', reason: `the HSM refused the assignment (${status})` } as RequestEvent]));
      if (failed.ok) await this.deps.onFailed?.(failed.value.after);
      return failed.ok ? failed.value.after : request;
    }
    // After a crash the assignment may have been in place since approval: the clock starts then, never later.
    const approvedAt = [...request.history].reverse().find((entry) => entry.to === 'Approved')?.at;
    const at = created.outcome === 'existed' && approvedAt ? new Date(approvedAt) : this.deps.clock.now();
    const result = await this.mutate(id, (current) => (current.status === 'Approved' ? success([{ type: 'granted', assignmentName: name, at }]) : success([])), created.hsmRequestId);
    if (!result.ok) throw new Error(`Request ${id}: ${result.detail}`);
    const after = result.value.after;
    if (after.status === 'Active' && after.expiresAt) {
      await this.deps.scheduler.schedule(id, new Date(after.expiresAt));
      this.deps.log.info(`Request ${id}: ${after.role} on ${after.scope} for ${after.principalId} active until ${after.expiresAt}`);
    } else if (after.status !== 'Active') {
      // Revoked or failed while the assignment was being made: take it away again. Should that fail,
      // the revocation's follow-up removes it.
      await this.removeWithRetries(after).catch((error: Error) => this.deps.log.error(`Request ${id}: the assignment made while it ended is still to be removed: ${error.message}`));
    }
    return after;
  }

  /**
   * Removes the access first, then records the end: a crash in between leaves an Active grant that the
   * next try ends again. `stored` is the request as just read; the end is recorded only if its status
   * is still the same (else whatever changed it has ended it already: only Active grants expire).
   */
  private async end(stored: StoredRequest, event: RequestEvent): Promise<Outcome<{ request: AccessRequest; changed: boolean }>> {
    const id = stored.request.id;
    const check = applyEvent(stored.request, event, this.deps.clock.now());
    if (!check.ok) return problem(409, 'invalid-transition', check.detail);
    let removalError: Error | undefined;
    let hsmRequestId: string | undefined;
    try {
      hsmRequestId = (await this.removeWithRetries(stored.request)).hsmRequestId;
    } catch (error) {
      removalError = error as Error;
    }
    const events: RequestEvent[] = removalError ? [event, { type: 'fail', reason: `the assignment could not be removed: ${removalError.message}` }] : [event];
    const result = await this.mutate(id, (current) => (current.status === stored.request.status ? success(events) : success([])), hsmRequestId);
    if (!result.ok) return result;
    if (removalError) await this.removalFailed(result.value.after, removalError);
    const changed = result.value.before !== result.value.after;
    if (changed && !removalError) this.deps.log.info(`Request ${id}: ${result.value.after.status}`);
    return success({ request: result.value.after, changed });
  }

  /** Takes the access of a recorded end away; when that keeps failing, records the failure (and alerts). */
  private async removeOrFail(ended: AccessRequest): Promise<AccessRequest> {
    try {
      const { hsmRequestId } = await this.removeWithRetries(ended);
      this.deps.log.info(`Request ${ended.id}: ${ended.status}${hsmRequestId ? ` (HSM request ${hsmRequestId})` : ''}`);
      return ended;
    } catch (error) {
      const reason = `the assignment could not be removed: ${(error as Error).message}`;
      const failed = await this.mutate(ended.id, (current) => success(current.status === ended.status ? [{ type: 'fail', reason } as RequestEvent] : []));
      const after = failed.ok ? failed.value.after : ended;
      await this.removalFailed(after, error as Error);
      return after;
    }
  }

  private async removalFailed(request: AccessRequest, error: Error): Promise<void> {
    this.deps.log.error(`Request ${request.id}: FAILED to remove the assignment of ${request.principalId} (${request.role} on ${request.scope}): ${error.message}`);
    await this.deps.onFailed?.(request);
  }

  private async removeWithRetries(request: AccessRequest): Promise<{ hsmRequestId?: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.removeAccess(request);
      } catch (error) {
        if (attempt >= REMOVAL_BACKOFF_MS.length) throw error;
        await this.sleep(REMOVAL_BACKOFF_MS[attempt]);
      }
    }
  }

  /**
   * Takes away what this grant gave, unless another running grant or a standing assignment still
   * justifies the same access. Removes only assignments this service made (names derived from its
   * requests), never a standing one, and reads back to verify. A grant that started meanwhile and
   * relied on the removed assignment (the HSM said 'covered') gets it back under its own name.
   */
  private async removeAccess(request: AccessRequest): Promise<{ hsmRequestId?: string }> {
    const access: AccessKey & { requestId: string } = { hsm: request.hsm, principalId: request.principalId, roleId: request.roleId, scope: request.scope, requestId: request.id };
    const related = await this.requestsFor(request.principalId);
    if (this.justifiedBeyond(request, related)) return {};
    const ours = new Set(
      related.filter((other) => sameAccess(other, access)).map((other) => assignmentNameFor(other.id, other.hsm, other.scope, other.principalId, other.roleId)),
    );
    const port = this.portFor(request);
    const matching = (await port.listFor(request.scope, request.principalId)).filter((a) => ours.has(a.name) && a.roleId.toLowerCase() === request.roleId.toLowerCase());
    if (matching.length === 0) return {};
    let hsmRequestId: string | undefined;
    for (const assignment of matching) hsmRequestId = (await port.remove(request.scope, assignment.name)).hsmRequestId ?? hsmRequestId;
    const left = (await port.listFor(request.scope, request.principalId)).filter((a) => ours.has(a.name));
    if (left.length > 0) throw new Error(`assignment ${left[0].name} is still on the HSM after removal`);
    await this.restoreForLateGrants(request);
    return hsmRequestId ? { hsmRequestId } : {};
  }

  /** Whether another running grant (or one about to start) or a standing assignment still justifies this grant's access. */
  private justifiedBeyond(request: AccessRequest, related: readonly AccessRequest[]): boolean {
    const now = this.deps.clock.now();
    const leases: Lease[] = related
      .filter((other) => other.id !== request.id && (other.status === 'Active' || other.status === 'Approved'))
      .map((other) => ({
        hsm: other.hsm, principalId: other.principalId, roleId: other.roleId, scope: other.scope, requestId: other.id,
        // An Approved grant is about to start: it keeps the access alive as a running one would.
        expiresAt: other.expiresAt ?? new Date(now.getTime() + other.durationMs + STALLED_PROVISIONING_MS).toISOString(),
      }));
    const standing = request.plane === AZURE_RBAC_PLANE
      ? (this.deps.policy.azureRbac?.standing ?? []).map((s) => ({ hsm: AZURE_RBAC_PLANE, principalId: s.principalId, roleId: s.role.id, scope: s.scope }))
      : this.deps.policy.standing.map((s) => ({ hsm: s.hsm, principalId: s.principalId, roleId: s.role.id, scope: s.scope }));
    return assignmentStillJustified({ ...request, requestId: request.id }, leases, standing, now) !== undefined;
  }

  /**
   * Read after a removal: a grant that was approved or started while it ran may have found the
   * removed assignment in place and relied on it. Each such grant gets its own assignment back.
   */
  private async restoreForLateGrants(removed: AccessRequest): Promise<void> {
    const running = await listAll(this.deps.ledger, { principalId: removed.principalId.toLowerCase(), statuses: ['Approved', 'Active'], pageSize: 500 });
    const now = this.deps.clock.now().getTime();
    for (const { request: other } of running) {
      if (other.id === removed.id || !sameAccess(other, removed) || (other.expiresAt !== undefined && Date.parse(other.expiresAt) <= now)) continue;
      const name = assignmentNameFor(other.id, other.hsm, other.scope, other.principalId, other.roleId);
      await this.portFor(other).create({ name, scope: other.scope, roleId: other.roleId, principalId: other.principalId, durationIso: other.duration });
      this.deps.log.warn(`Request ${other.id}: its access was removed with request ${removed.id}'s and is back`);
      return;
    }
  }

  /** The HSM's port, or Azure RBAC's for a management-plane request; without ARM settings such a grant fails closed. */
  private portFor(request: AccessRequest): AssignmentPort {
    if (request.plane !== AZURE_RBAC_PLANE) return this.deps.hsm(request.hsm);
    if (!this.deps.azureRbac) throw new Error('management-plane request, but the app has no Azure RBAC settings (ARM_SUBSCRIPTION_ID)');
    return this.deps.azureRbac;
  }

  private async requestsFor(principalId: string): Promise<AccessRequest[]> {
    return (await listAll(this.deps.ledger, { principalId: principalId.toLowerCase(), pageSize: 500 })).map((stored) => stored.request);
  }

  /**
   * The sweep, at start-up and every few seconds: catches what a lost message or a crash left
   * behind. Ends grants past expiry, completes stalled grants (a few at a time each), times out
   * undecided requests. Returns what it did, for the log.
   */
  async sweep(): Promise<{ expired: number; provisioned: number; timedOut: number }> {
    const now = this.deps.clock.now();
    const counts = { expired: 0, provisioned: 0, timedOut: 0 };
    const [due, approved, pending] = await Promise.all([this.allWith(['Active'], now.toISOString()), this.allWith(['Approved']), this.allWith(['Pending'])]);
    const stalled = approved.filter((stored) => now.getTime() - Date.parse(stored.request.history[stored.request.history.length - 1].at) >= STALLED_PROVISIONING_MS);
    await Promise.all([
      forEachLimited(due, SWEEP_CONCURRENCY, async (listed) => {
        // Read again: another instance may have ended it since the list.
        const stored = await this.deps.ledger.get(listed.request.id);
        const ended = stored && (await this.end(stored, { type: 'expire' }));
        if (ended && ended.ok && ended.value.changed) counts.expired++;
      }),
      forEachLimited(stalled, SWEEP_CONCURRENCY, async (stored) => {
        if ((await this.provision(stored.request.id)).status === 'Active') counts.provisioned++;
      }),
    ]);
    for (const stored of pending) {
      if (Date.parse(stored.request.pendingUntil) > now.getTime()) continue;
      const result = await this.mutate(stored.request.id, (current) => (current.status === 'Pending' ? success([{ type: 'timeout' } as RequestEvent]) : success([])));
      if (result.ok && result.value.after.status === 'TimedOut') counts.timedOut++;
    }
    return counts;
  }

  private allWith(statuses: RequestStatus[], expiresBefore?: string): Promise<StoredRequest[]> {
    return listAll(this.deps.ledger, { statuses, ...(expiresBefore ? { expiresBefore } : {}), pageSize: 500 });
  }

  async audit(caller: Caller, range: { from?: string; to?: string }): Promise<Outcome<ChainedAuditRecord[]>> {
    if (!mayReadAuditTrail(this.deps.policy, caller)) return problem(403, 'not-an-auditor', 'The audit trail is for HSM administrators and auditors');
    return success(await this.deps.ledger.audit(range));
  }

  /** Checks the whole chain, and that its last record is the one the head points at (a deleted tail shows). */
  async verifyAudit(): Promise<ChainVerification> {
    const records = await this.deps.ledger.audit();
    const result = verifyAuditChain(records);
    if (!result.ok) return result;
    const head = await this.deps.ledger.auditHead();
    const last = records[records.length - 1];
    if ((head?.hash ?? undefined) !== (last?.hash ?? undefined)) {
      return { ok: false, brokenAtSeq: (last?.seq ?? 0) + 1, reason: `the chain ends at ${last?.seq ?? 0} but its head is at ${head?.seq ?? 0}` };
    }
    return result;
  }
}
