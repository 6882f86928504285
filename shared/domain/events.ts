/**
 * The CloudEvents 1.0 the service publishes (docs/events.md), built from what it stores: a request's
 * history entries, a refused inbound submission, a reconciliation run. Pure: ids are derived from
 * what the event stands for, never random, so building the same event twice gives the same id.
 */
import type { DriftItem } from './drift';
import type { AccessRequest, HistoryEntry } from './lifecycle';

export const REQUEST_EVENT_TYPES = {
  Submitted: 'HsmAccess.Request.Submitted.v1',
  Approved: 'HsmAccess.Request.Approved.v1',
  Denied: 'HsmAccess.Request.Denied.v1',
  Cancelled: 'HsmAccess.Request.Cancelled.v1',
  TimedOut: 'HsmAccess.Request.TimedOut.v1',
  Granted: 'HsmAccess.Request.Granted.v1',
  Extended: 'HsmAccess.Request.Extended.v1',
  Expired: 'HsmAccess.Request.Expired.v1',
  Revoked: 'HsmAccess.Request.Revoked.v1',
  Failed: 'HsmAccess.Request.Failed.v1',
} as const;

export const REJECTED_EVENT_TYPE = 'HsmAccess.Request.Rejected.v1';

export const RECONCILIATION_EVENT_TYPES = {
  Completed: 'HsmAccess.Reconciliation.Completed.v1',
  DriftDetected: 'HsmAccess.Drift.Detected.v1',
  DriftRepaired: 'HsmAccess.Drift.Repaired.v1',
} as const;

/** What the HSM's own audit log shows (docs/evidence.md). */
export const EVIDENCE_EVENT_TYPES = {
  AssignmentChanged: 'HsmAccess.Evidence.AssignmentChanged.v1',
  UseOutsideGrant: 'HsmAccess.Evidence.UseOutsideGrant.v1',
  RefusedAttempts: 'HsmAccess.Evidence.RefusedAttempts.v1',
} as const;

export type EvidenceEventType = (typeof EVIDENCE_EVENT_TYPES)[keyof typeof EVIDENCE_EVENT_TYPES];

/** What other systems publish to ask for access (inbound; see `functions/events.ts`). */
export const SUBMIT_EVENT_TYPE = 'HsmAccess.Request.Submit.v1';

export type LifecycleEventType = (typeof REQUEST_EVENT_TYPES)[keyof typeof REQUEST_EVENT_TYPES];
export type OutboundEventType = LifecycleEventType | typeof REJECTED_EVENT_TYPE | (typeof RECONCILIATION_EVENT_TYPES)[keyof typeof RECONCILIATION_EVENT_TYPES] | EvidenceEventType;

/** Every type the service publishes, each with a schema in docs/events/{type}.schema.json. */
export const OUTBOUND_EVENT_TYPES: readonly OutboundEventType[] = [...Object.values(REQUEST_EVENT_TYPES), REJECTED_EVENT_TYPE, ...Object.values(RECONCILIATION_EVENT_TYPES), ...Object.values(EVIDENCE_EVENT_TYPES)];

/** A CloudEvents 1.0 event in its JSON form, as stored in the outbox and published. */
export interface OutboundEvent {
  readonly specversion: '1.0';
  readonly id: string;
  /** This service instance, e.g. `/hsm-access-governor/contoso-hsm` (EVENT_SOURCE). */
  readonly source: string;
  readonly type: OutboundEventType;
  readonly subject: string;
  /** ISO 8601 UTC: when the change happened (the history entry's time), not when it was published. */
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: Readonly<Record<string, unknown>>;
}

export const requestSubject = (hsm: string, requestId: string): string => `/hsms/${hsm}/requests/${requestId}`;
export const hsmSubject = (hsm: string): string => `/hsms/${hsm}`;

function cloudEvent(source: string, type: OutboundEventType, id: string, subject: string, time: string, data: Record<string, unknown>): OutboundEvent {
  return { specversion: '1.0', id, source, type, subject, time, datacontenttype: 'application/json', data };
}

/**
 * The event type a history entry stands for, or undefined (an approval still short of the count,
 * an extension asked for or denied). An extension entry says 'extended by ...' exactly when the
 * grant's end moved.
 */
function eventTypeFor(entry: HistoryEntry): LifecycleEventType | undefined {
  if (entry.from === null) return REQUEST_EVENT_TYPES.Submitted;
  if (entry.from === entry.to) return entry.to === 'Active' && entry.reason.startsWith('extended by ') ? REQUEST_EVENT_TYPES.Extended : undefined;
  switch (entry.to) {
    case 'Approved': return REQUEST_EVENT_TYPES.Approved;
    case 'Denied': return REQUEST_EVENT_TYPES.Denied;
    case 'Active': return REQUEST_EVENT_TYPES.Granted;
    case 'Expired': return REQUEST_EVENT_TYPES.Expired;
    case 'Revoked': return REQUEST_EVENT_TYPES.Revoked;
    case 'Failed': return REQUEST_EVENT_TYPES.Failed;
    case 'Cancelled': return REQUEST_EVENT_TYPES.Cancelled;
    case 'TimedOut': return REQUEST_EVENT_TYPES.TimedOut;
    default: return undefined;
  }
}

/** `{requestId}.{historyIndex}`: one history entry is at most one event, and a redo rebuilds the same id. */
const requestEventId = (requestId: string, historyIndex: number): string => `${requestId}.${historyIndex}`;

/** The event of one history entry; request-level fields (expiresAt, ...) are those after the change that stored it. */
function requestEventFor(request: AccessRequest, historyIndex: number, source: string): OutboundEvent | undefined {
  const entry = request.history[historyIndex];
  if (!entry) return undefined;
  const type = eventTypeFor(entry);
  if (!type) return undefined;
  const data: Record<string, unknown> = {
    requestId: request.id,
    hsm: request.hsm,
    status: entry.to,
    previousStatus: entry.from,
    actor: entry.by,
    reason: entry.reason,
    role: request.role,
    roleId: request.roleId,
    scope: request.scope,
    principalId: request.principalId,
    requestedBy: request.requestedBy,
    ruleId: request.ruleId,
    duration: request.duration,
    justification: request.justification,
    approvalsRequired: request.approvalsRequired,
    ...(request.ticket !== undefined ? { ticket: request.ticket } : {}),
    ...(request.grantedAt !== undefined ? { grantedAt: request.grantedAt } : {}),
    ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
    ...(request.assignmentName !== undefined ? { assignmentName: request.assignmentName } : {}),
  };
  return cloudEvent(source, type, requestEventId(request.id, historyIndex), requestSubject(request.hsm, request.id), entry.at, data);
}

/** The events of the history entries `after` has and `before` had not (all of them for a new request). */
export function requestEventsBetween(before: AccessRequest | undefined, after: AccessRequest, source: string): OutboundEvent[] {
  const events: OutboundEvent[] = [];
  for (let index = before?.history.length ?? 0; index < after.history.length; index++) {
    const event = requestEventFor(after, index, source);
    if (event) events.push(event);
  }
  return events;
}

/** Where an inbound submission came from: its CloudEvent `source` and `id`. */
export interface SubmissionOrigin {
  readonly source: string;
  readonly id: string;
}

export interface RejectedSubmission {
  readonly origin: SubmissionOrigin;
  /** A random id naming the rejection (no request exists). */
  readonly requestId: string;
  readonly hsm: string;
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly at: string;
  /** What the submission asked for, as far as it could be read. */
  readonly submitted: Readonly<Record<string, string>>;
}

export function rejectedSubmissionEvent(rejection: RejectedSubmission, source: string): OutboundEvent {
  const { origin, requestId, hsm, status, code, detail, submitted } = rejection;
  return cloudEvent(source, REJECTED_EVENT_TYPE, `${requestId}.rejected`, requestSubject(hsm, requestId), rejection.at, {
    requestId, hsm, code, status, detail, submissionSource: origin.source, submissionId: origin.id, submitted,
  });
}

export interface ReconciliationRunSummary {
  readonly runId: string;
  readonly hsm: string;
  readonly mode: 'plan' | 'apply';
  readonly completedAt: string;
  /** Findings by drift kind, and what an apply did. */
  readonly counts: Readonly<Record<string, number>>;
  /** Actions an apply took (created, removed, skipped or failed), on every plane. */
  readonly actions: number;
}

/** What a drift event tells of its item (`id` becomes the event's `driftId`; no `plane` means the HSM's local RBAC). */
export type DriftEventItem = Pick<DriftItem, 'id' | 'kind' | 'principalId' | 'role' | 'roleId' | 'scope' | 'assignmentName' | 'reason' | 'action' | 'plane'>;

/** The run a drift event belongs to. */
export type DriftEventRun = Pick<ReconciliationRunSummary, 'runId' | 'hsm' | 'mode'>;

/** The HSM's own RBAC in an event's `plane`, beside the management plane's `azure-rbac`. */
export const HSM_PLANE = 'hsm';

export function reconciliationCompletedEvent(run: ReconciliationRunSummary, source: string): OutboundEvent {
  return cloudEvent(source, RECONCILIATION_EVENT_TYPES.Completed, `${run.runId}.completed`, hsmSubject(run.hsm), run.completedAt, {
    runId: run.runId, hsm: run.hsm, mode: run.mode, counts: run.counts, actions: run.actions,
  });
}

function driftData(run: DriftEventRun, item: DriftEventItem): Record<string, unknown> {
  return {
    runId: run.runId, hsm: run.hsm, mode: run.mode, plane: item.plane ?? HSM_PLANE, driftId: item.id, kind: item.kind, principalId: item.principalId, role: item.role,
    roleId: item.roleId, scope: item.scope, assignmentName: item.assignmentName, reason: item.reason, action: item.action,
  };
}

export function driftDetectedEvent(run: DriftEventRun, item: DriftEventItem, at: string, source: string): OutboundEvent {
  return cloudEvent(source, RECONCILIATION_EVENT_TYPES.DriftDetected, `${run.runId}.detected.${item.id}`, hsmSubject(run.hsm), at, driftData(run, item));
}

export function driftRepairedEvent(run: DriftEventRun, item: DriftEventItem, at: string, source: string): OutboundEvent {
  return cloudEvent(source, RECONCILIATION_EVENT_TYPES.DriftRepaired, `${run.runId}.repaired.${item.id}`, hsmSubject(run.hsm), at, driftData(run, item));
}

/**
 * Events per outbox transaction when a run's completion is published: an entity-group transaction
 * holds 100 actions, and each also carries its audit record, the chain's head and its once-mark.
 */
export const COMPLETION_EVENTS_PER_TRANSACTION = 90;

/**
 * A completed run's events in the order they are committed: one Detected per item (time: the
 * run's end), then Completed, so that a consumer that sees Completed has seen every Detected.
 * Cut into transactions of at most `perTransaction`. Built again after a crash, the same run
 * gives the same events with the same ids in the same chunks.
 */
export function reconciliationCompletionEvents(run: ReconciliationRunSummary, items: readonly DriftEventItem[], source: string, perTransaction = COMPLETION_EVENTS_PER_TRANSACTION): OutboundEvent[][] {
  if (perTransaction < 1) throw new Error('perTransaction must be at least 1');
  const events = [...items.map((item) => driftDetectedEvent(run, item, run.completedAt, source)), reconciliationCompletedEvent(run, source)];
  const chunks: OutboundEvent[][] = [];
  for (let i = 0; i < events.length; i += perTransaction) chunks.push(events.slice(i, i + perTransaction));
  return chunks;
}
