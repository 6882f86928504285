import { applyEvent, notificationsForTransition, requestEventsBetween, type AccessRequest, type GrantUsage, type HistoryEntry, type NotificationIntent, type OutboundEvent, type RequestEvent } from '../../domain';
import type { AuditEntry, Clock, CreateOutcome, LedgerPort, RequestClaims, ServiceLog } from '../ports';
import { notFound, problem, success, type Outcome } from './outcome';

const MAX_CONFLICT_RETRIES = 30;

export interface WriterDependencies {
  ledger: LedgerPort;
  clock: Clock;
  log: ServiceLog;
  onTransition?(before: AccessRequest | undefined, after: AccessRequest): Promise<void>;
  eventSource?: string;
  /** Store the notifications a change owes with it (notice rows, sent after the commit by the notice drainer). */
  notices?: boolean;
  usageOf?(request: AccessRequest): Promise<GrantUsage>;
}

/** A grant's end: its record carries what the grantee did under it. */
const ENDS: ReadonlySet<string> = new Set(['Expired', 'Revoked']);

/** The audit records of the history entries `after` has beyond `before`. */
function historyAudit(before: AccessRequest | undefined, after: AccessRequest, hsmRequestId?: string, usage?: GrantUsage): AuditEntry[] {
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
    details: {
      role: after.role, scope: after.scope, principalId: after.principalId, hsm: after.hsm,
      ...(usage && ENDS.has(entry.to) && entry.from !== entry.to ? { usage: { used: usage.used, operations: usage.operations, ...(usage.firstUse ? { firstUse: usage.firstUse } : {}), ...(usage.lastUse ? { lastUse: usage.lastUse } : {}) } } : {}),
    },
  }));
}

/**
 * The one write path of requests: every change is saved with its audit records and lifecycle events
 * in one transaction, with optimistic concurrency, and then told to the onTransition hook.
 */
export class RequestWriter {
  constructor(private readonly deps: WriterDependencies) {}

  /** Stores a new request with its audit, events and index rows; the hook hears of it only once it is stored. */
  async create(request: AccessRequest, claims: RequestClaims): Promise<CreateOutcome> {
    const { stored, announce } = await this.createThenAnnounce(request, claims);
    await announce();
    return stored;
  }

  /** As create, with the hook run when the caller calls `announce` (after an auto-approved grant, say). */
  async createThenAnnounce(request: AccessRequest, claims: RequestClaims): Promise<{ stored: CreateOutcome; announce: () => Promise<void> }> {
    const stored = await this.deps.ledger.create(request, historyAudit(undefined, request), this.eventsBetween(undefined, request), claims, this.noticesBetween(undefined, request));
    if (stored.outcome !== 'created') return { stored, announce: async () => undefined };
    this.deps.log.info(`Request ${request.id}: ${request.role} on ${request.scope} for ${request.principalId}, ${request.status}`, { requestId: request.id });
    return { stored, announce: () => this.transitioned(undefined, request) };
  }

  /**
   * Reads, decides and saves until the save wins: a concurrent change makes it read again, so a
   * decision is always taken on the current state and never overwrites another.
   */
  async mutate(
    id: string,
    decide: (request: AccessRequest) => Outcome<RequestEvent[]>,
    hsmRequestId?: string,
  ): Promise<Outcome<{ before: AccessRequest; after: AccessRequest }>> {
    const result = await this.mutateThenAnnounce(id, decide, hsmRequestId);
    if (!result.ok) return result;
    await result.value.announce();
    return success({ before: result.value.before, after: result.value.after });
  }

  /**
   * As mutate, but the hook (which notifies people, and may take a while) runs only when the caller
   * calls `announce`: a step whose work comes after the commit (the grant after an approval, the
   * expiry message after a grant) does it first, so that nobody's access waits for a message.
   */
  async mutateThenAnnounce(
    id: string,
    decide: (request: AccessRequest) => Outcome<RequestEvent[]>,
    hsmRequestId?: string,
  ): Promise<Outcome<{ before: AccessRequest; after: AccessRequest; announce: () => Promise<void> }>> {
    const quiet = async (): Promise<void> => undefined;
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
      if (next === stored.request) return success({ before: stored.request, after: next, announce: quiet });
      const usage = await this.usageAtEnd(stored.request, next);
      const saved = await this.deps.ledger.update(next, stored.etag, historyAudit(stored.request, next, hsmRequestId, usage), this.eventsBetween(stored.request, next), this.noticesBetween(stored.request, next));
      const before = stored.request;
      if (saved === 'updated') return success({ before, after: next, announce: () => this.transitioned(before, next) });
    }
    return problem(409, 'concurrent-update', `Request ${id} kept changing; try again`);
  }

  /** The usage a grant that ends now was put to; none when the evidence cannot be read (the end is never held up for it). */
  private async usageAtEnd(before: AccessRequest, after: AccessRequest): Promise<GrantUsage | undefined> {
    if (!this.deps.usageOf || !ENDS.has(after.status) || before.status === after.status || !after.grantedAt || after.plane === 'azure-rbac') return undefined;
    try {
      return await this.deps.usageOf(after);
    } catch (error) {
      this.deps.log.warn(`Request ${after.id}: its usage could not be read for its ${after.status} record: ${(error as Error).message}`, { requestId: after.id });
      return undefined;
    }
  }

  private eventsBetween(before: AccessRequest | undefined, after: AccessRequest): OutboundEvent[] {
    return this.deps.eventSource ? requestEventsBetween(before, after, this.deps.eventSource) : [];
  }

  private noticesBetween(before: AccessRequest | undefined, after: AccessRequest): NotificationIntent[] {
    return this.deps.notices ? notificationsForTransition(before, after) : [];
  }

  /** The onTransition hook: whatever it does, the workflow goes on. */
  private async transitioned(before: AccessRequest | undefined, after: AccessRequest): Promise<void> {
    try {
      await this.deps.onTransition?.(before, after);
    } catch (error) {
      this.deps.log.error(`Request ${after.id}: onTransition failed: ${(error as Error).message}`, { requestId: after.id });
    }
  }
}
