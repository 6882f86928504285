/** The small interfaces the application services drive; adapters implement them. */
import type { AccessRequest, AuditFilter, AuditRecord, ChainedAuditRecord, NotificationIntent, OutboundEvent, PartitionedAudit, RequestStatus } from '../domain';

export type AuditEntry = Omit<AuditRecord, 'seq'>;

export interface StoredRequest {
  request: AccessRequest;
  /** Optimistic concurrency token: every update must present the one it read. */
  etag: string;
}

export interface RequestQuery {
  statuses?: readonly RequestStatus[];
  requestedBy?: string;
  principalId?: string;
  /** Only requests with an expiry at or before this instant (ISO 8601). */
  expiresBefore?: string;
  continuation?: string;
  pageSize?: number;
}

export interface RequestPage {
  items: StoredRequest[];
  continuation?: string;
}

/**
 * Requests and the audit chain, changed together or not at all. `events` go into the outbox in the
 * same transaction (published later by the outbox drainer); they need at least one audit entry,
 * whose place in the chain orders them.
 */
/** Index rows a new request claims in its own transaction (see `shared/domain/submissions.ts`). */
export interface RequestClaims {
  /** Names the submission (requester and Idempotency-Key, or event source and id): a replay finds the request. */
  readonly submissionKey?: string;
  /** The access the request opens: refused while another open request holds it. */
  readonly openAccessKey?: string;
}

export type CreateOutcome =
  | { readonly outcome: 'created' }
  /** The submission key already names a request: this one. */
  | { readonly outcome: 'replayed'; readonly requestId: string }
  /** An open request (Pending, Approved or Active) already holds the access. */
  | { readonly outcome: 'duplicate'; readonly open: AccessRequest };

export interface LedgerPort {
  /**
   * Stores a new request with its audit records, events and index rows, all or nothing. Two
   * instances claiming the same key at once: exactly one stores its request.
   */
  create(request: AccessRequest, audit: readonly AuditEntry[], events?: readonly OutboundEvent[], claims?: RequestClaims, notices?: readonly NotificationIntent[]): Promise<CreateOutcome>;
  /** The id of the request a submission key names, if any. */
  requestIdForSubmission(submissionKey: string): Promise<string | undefined>;
  get(id: string): Promise<StoredRequest | undefined>;
  /**
   * 'conflict' when the request changed since `etag` was read: re-read and decide again. `notices`
   * (as for `create`): the notifications the change owes, stored with it as outbox rows together
   * with the request as it is after the change, sent later by the notice drainer (NoticeStore).
   */
  update(request: AccessRequest, etag: string, audit: readonly AuditEntry[], events?: readonly OutboundEvent[], notices?: readonly NotificationIntent[]): Promise<'updated' | 'conflict'>;
  list(query: RequestQuery): Promise<RequestPage>;
  /** Audit records of actions that change no request (reconciliation, rejected submissions), chained like the others. */
  appendAudit(audit: readonly AuditEntry[], events?: readonly OutboundEvent[]): Promise<void>;
  /**
   * `appendAudit` at most once for `key`: a mark row keyed by it commits in the same transaction, so
   * a redo after a crash finds the mark ('exists') instead of writing the records and events again.
   */
  appendAuditOnce(key: string, audit: readonly AuditEntry[], events?: readonly OutboundEvent[]): Promise<'appended' | 'exists'>;
  audit(range?: { from?: string; to?: string }): Promise<ChainedAuditRecord[]>;
  /** One page of the records `filter` selects, in chain order; `continuation` (digits) asks for the next. */
  auditPage(query: AuditPageQuery): Promise<AuditPage>;
  auditHead(): Promise<ChainedAuditRecord | undefined>;
  /** Every chain as stored, with its head row, and the anchor chain: what a verifier checks (docs/ledger.md). */
  auditTrail(): Promise<PartitionedAudit>;
}

/** A notification a committed change owes, as its outbox row holds it. */
export interface NoticeEntry {
  /** The row's key, in commit order within its partition. */
  readonly key: string;
  readonly intent: NotificationIntent;
  /** The request as the change left it: what the message tells. */
  readonly request: AccessRequest;
}

/** The notice rows of one ledger partition. */
export interface NoticeStore {
  /** The oldest waiting notices, in commit order. */
  waiting(limit: number): Promise<NoticeEntry[]>;
  /** Deletes a notice that went out (one already deleted counts as deleted). */
  remove(entry: NoticeEntry): Promise<void>;
}

export interface AuditPageQuery {
  readonly filter: AuditFilter;
  readonly limit: number;
  readonly continuation?: string;
}

export interface AuditPage {
  readonly records: ChainedAuditRecord[];
  readonly continuation?: string;
}

/** Every request matching `query`, following the continuation to the last page. */
export async function listAll(ledger: LedgerPort, query: Omit<RequestQuery, 'continuation'>): Promise<StoredRequest[]> {
  const all: StoredRequest[] = [];
  let continuation: string | undefined;
  do {
    const page = await ledger.list({ ...query, ...(continuation ? { continuation } : {}) });
    all.push(...page.items);
    continuation = page.continuation;
  } while (continuation);
  return all;
}

export interface HsmAssignment {
  name: string;
  scope: string;
  roleId: string;
  principalId: string;
  /** How long the grant lasts (ISO 8601), for ports whose platform ends it by itself (PIM); others ignore it. */
  durationIso?: string;
}

/** Role assignments on the governed HSM, as the service's own identity. */
export interface AssignmentPort {
  /** 'existed': this very assignment was already there; 'covered': the HSM holds the same access under another name. */
  create(assignment: HsmAssignment): Promise<{ outcome: 'created' | 'existed' | 'covered'; hsmRequestId?: string }>;
  /** Idempotent: an assignment that is already gone counts as removed. */
  remove(scope: string, name: string): Promise<{ hsmRequestId?: string }>;
  /** The assignments made exactly at `scope` for one principal. */
  listFor(scope: string, principalId: string): Promise<HsmAssignment[]>;
}

/**
 * Why the service is woken about a request: its expiry, the backstop a little after it (for when
 * the instance that took the expiry died with it), or a follow-up on a step another instance may not
 * finish (a grant after approval, a removal after a revocation).
 */
export type WakeReason = 'expiry' | 'backstop' | 'follow-up';

/** Wakes the service about a request at `at` (a queue message made visible then), on whichever instance is alive. */
export interface RevocationScheduler {
  /** An 'expiry' (the default) also schedules its 'backstop'. */
  schedule(requestId: string, at: Date, reason?: WakeReason, hop?: number): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Facts a log line carries besides its words (a request id, a run id), for queries over the logs. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface ServiceLog {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}
