/**
 * The access request record and its pure state machine.
 *
 *   Pending ──approve (enough)──▶ Approved ──granted──▶ Active ──expire──▶ Expired
 *      │ ╲──deny──▶ Denied           │  ╲──revoke──▶ Revoked   │ ╲──revoke──▶ Revoked
 *      │ ╲──cancel──▶ Cancelled      ╲──fail──▶ Failed         ╲──fail──▶ Failed
 *      ╲──timeout──▶ TimedOut
 *   Expired/Revoked ──fail──▶ Failed (the assignment could not be removed)
 *   Active ──requestExtension / decideExtension──▶ Active (expiresAt moves, no gap)
 *
 * applyEvent never mutates its input; every accepted event appends one history entry.
 */
import type { RequestPlane } from './azureRbac';
import { formatIsoDuration } from './duration';
import type { EligibleRequest } from './eligibility';
import type { Policy } from './policy/types';

export type RequestStatus = 'Pending' | 'Approved' | 'Active' | 'Expired' | 'Revoked' | 'Denied' | 'Cancelled' | 'TimedOut' | 'Failed';

export const REQUEST_STATUSES: readonly RequestStatus[] = ['Pending', 'Approved', 'Active', 'Expired', 'Revoked', 'Denied', 'Cancelled', 'TimedOut', 'Failed'];
export const TERMINAL_STATUSES: readonly RequestStatus[] = ['Expired', 'Revoked', 'Denied', 'Cancelled', 'TimedOut', 'Failed'];

/** The actor recorded for transitions the service makes on its own (timeouts, expiry). */
export const SYSTEM_ACTOR = 'system';

export type Decision = 'approve' | 'deny';

export interface DecisionRecord {
  readonly by: string;
  readonly decision: Decision;
  readonly comment?: string;
  readonly at: string;
}

export type ExtensionStatus = 'Pending' | 'Approved' | 'Denied';

export interface ExtensionRecord {
  readonly durationMs: number;
  readonly duration: string;
  readonly requestedAt: string;
  readonly requestedBy: string;
  readonly justification?: string;
  readonly status: ExtensionStatus;
  readonly approvalsRequired: number;
  readonly decisions: readonly DecisionRecord[];
  readonly decidedAt?: string;
}

/** One extension as asked for and decided: the request's `extensions` lists them all, oldest first. */
export interface ExtensionEntry {
  /** When it was asked for. */
  readonly at: string;
  readonly by: string;
  readonly duration: string;
  readonly durationMs: number;
  readonly justification?: string;
  /** Approved at once when the rule needs no approval. */
  readonly decision: ExtensionStatus;
  readonly decidedAt?: string;
  /** Who approved or denied it (empty when no approval was needed). */
  readonly decisions: readonly DecisionRecord[];
}

export interface HistoryEntry {
  readonly at: string;
  /** null for the creation entry. */
  readonly from: RequestStatus | null;
  readonly to: RequestStatus;
  readonly by: string;
  readonly reason: string;
}

export interface AccessRequest {
  readonly id: string;
  /** The HSM of a data-plane request; `azure-rbac` for the management plane. */
  readonly hsm: string;
  /** Set for the management plane: an Azure role on an ARM scope. Absent: the HSM's local RBAC. */
  readonly plane?: RequestPlane;
  readonly status: RequestStatus;
  /** Role name, e.g. 'Managed HSM Crypto User'. */
  readonly role: string;
  readonly roleId: string;
  readonly scope: string;
  readonly principalId: string;
  readonly requestedBy: string;
  /** ISO 8601 duration of the grant. */
  readonly duration: string;
  readonly durationMs: number;
  readonly justification: string;
  readonly ticket?: string;
  readonly ruleId: string;
  readonly approvalsRequired: number;
  readonly createdAt: string;
  readonly pendingUntil: string;
  readonly decisions: readonly DecisionRecord[];
  readonly grantedAt?: string;
  readonly expiresAt?: string;
  readonly assignmentName?: string;
  readonly endedAt?: string;
  readonly endReason?: string;
  /** The extension asked for last (kept for its pending decision); every one is in `extensions`. */
  readonly extension?: ExtensionRecord;
  /** Every extension asked for, in order. */
  readonly extensions: readonly ExtensionEntry[];
  /** How long the grant lasts in all: `duration` plus every approved extension (grant to expiry once Active). */
  readonly totalDurationMs: number;
  /** ISO 8601 text of totalDurationMs. */
  readonly totalDuration: string;
  readonly history: readonly HistoryEntry[];
}

export type RequestEvent =
  | { readonly type: 'decide'; readonly by: string; readonly decision: Decision; readonly comment?: string }
  | { readonly type: 'cancel'; readonly by: string; readonly reason?: string }
  | { readonly type: 'timeout' }
  | { readonly type: 'granted'; readonly assignmentName: string; /** When the assignment was in place; defaults to now. */ readonly at?: Date }
  | { readonly type: 'expire' }
  | { readonly type: 'revoke'; readonly by: string; readonly reason: string }
  | { readonly type: 'fail'; readonly reason: string; readonly by?: string }
  | { readonly type: 'requestExtension'; readonly by: string; readonly durationMs: number; readonly justification?: string }
  | { readonly type: 'decideExtension'; readonly by: string; readonly decision: Decision; readonly comment?: string };

export interface TransitionRefusal {
  readonly ok: false;
  readonly code: 'invalid-transition';
  readonly detail: string;
}

export type TransitionResult = { readonly ok: true; readonly request: AccessRequest } | TransitionRefusal;

export interface NewRequestFields {
  readonly id: string;
  readonly requestedBy: string;
}

/**
 * A new request from a successful evaluation: Pending, or Approved at once when the rule needs no
 * approval.
 */
export function createRequest(policy: Policy, evaluation: EligibleRequest, fields: NewRequestFields, now: Date): AccessRequest {
  const at = now.toISOString();
  const requestedBy = fields.requestedBy.toLowerCase();
  const base: AccessRequest = {
    id: fields.id,
    hsm: evaluation.hsm.name,
    status: 'Pending',
    role: evaluation.role.name,
    roleId: evaluation.roleId,
    scope: evaluation.scope,
    principalId: evaluation.principalId,
    requestedBy,
    duration: evaluation.duration,
    durationMs: evaluation.durationMs,
    justification: evaluation.justification,
    ...(evaluation.ticket !== undefined ? { ticket: evaluation.ticket } : {}),
    ruleId: evaluation.rule.id,
    approvalsRequired: evaluation.approvalsRequired,
    ...(evaluation.plane ? { plane: evaluation.plane } : {}),
    createdAt: at,
    pendingUntil: new Date(now.getTime() + policy.defaults.pendingLifetimeMs).toISOString(),
    decisions: [],
    extensions: [],
    totalDurationMs: evaluation.durationMs,
    totalDuration: evaluation.duration,
    history: [{ at, from: null, to: 'Pending', by: requestedBy, reason: 'requested' }],
  };
  if (evaluation.approvalsRequired > 0) return base;
  return {
    ...base,
    status: 'Approved',
    history: [...base.history, { at, from: 'Pending', to: 'Approved', by: SYSTEM_ACTOR, reason: `rule '${evaluation.rule.id}' needs no approval` }],
  };
}

function invalid(request: AccessRequest, event: RequestEvent, why?: string): TransitionRefusal {
  return { ok: false, code: 'invalid-transition', detail: `cannot ${event.type} a request that is ${request.status}${why ? `: ${why}` : ''}` };
}

function move(request: AccessRequest, to: RequestStatus, by: string, reason: string, now: Date, changes: Partial<AccessRequest> = {}): TransitionResult {
  const entry: HistoryEntry = { at: now.toISOString(), from: request.status, to, by, reason };
  return { ok: true, request: { ...request, ...changes, status: to, history: [...request.history, entry] } };
}

export function approvalCount(decisions: readonly DecisionRecord[]): number {
  return decisions.filter((d) => d.decision === 'approve').length;
}

function decisionRecord(event: { by: string; decision: Decision; comment?: string }, now: Date): DecisionRecord {
  return { by: event.by.toLowerCase(), decision: event.decision, ...(event.comment !== undefined ? { comment: event.comment } : {}), at: now.toISOString() };
}

function isPast(iso: string | undefined, now: Date): boolean {
  return iso !== undefined && now.getTime() >= Date.parse(iso);
}

/** Applies one event. Authorization (who may decide, revoke) is checked by the caller; this checks state. */
export function applyEvent(request: AccessRequest, event: RequestEvent, now: Date): TransitionResult {
  const at = now.toISOString();
  switch (event.type) {
    case 'decide': {
      if (request.status !== 'Pending') return invalid(request, event);
      if (isPast(request.pendingUntil, now)) return invalid(request, event, 'the request has timed out');
      const by = event.by.toLowerCase();
      if (request.decisions.some((d) => d.by === by)) return invalid(request, event, `${by} has already decided`);
      const decisions = [...request.decisions, decisionRecord(event, now)];
      const comment = event.comment ? `: ${event.comment}` : '';
      if (event.decision === 'deny') return move(request, 'Denied', by, `denied${comment}`, now, { decisions, endedAt: at, endReason: 'denied' });
      const approvals = approvalCount(decisions);
      if (approvals >= request.approvalsRequired) return move(request, 'Approved', by, `approved (${approvals}/${request.approvalsRequired})${comment}`, now, { decisions });
      return move(request, 'Pending', by, `approval recorded (${approvals}/${request.approvalsRequired})${comment}`, now, { decisions });
    }
    case 'cancel': {
      if (request.status !== 'Pending') return invalid(request, event);
      if (event.by.toLowerCase() !== request.requestedBy) return invalid(request, event, 'only the requester can cancel');
      return move(request, 'Cancelled', request.requestedBy, event.reason ? `cancelled: ${event.reason}` : 'cancelled by the requester', now, { endedAt: at, endReason: 'cancelled' });
    }
    case 'timeout': {
      if (request.status !== 'Pending') return invalid(request, event);
      if (!isPast(request.pendingUntil, now)) return invalid(request, event, `pending until ${request.pendingUntil}`);
      return move(request, 'TimedOut', SYSTEM_ACTOR, 'not decided in time', now, { endedAt: at, endReason: 'timed out' });
    }
    case 'granted': {
      if (request.status !== 'Approved') return invalid(request, event);
      const grantedAt = event.at ?? now;
      const expiresAt = new Date(grantedAt.getTime() + request.durationMs).toISOString();
      return move(request, 'Active', SYSTEM_ACTOR, `assignment ${event.assignmentName} in place until ${expiresAt}`, now, {
        grantedAt: grantedAt.toISOString(), expiresAt, assignmentName: event.assignmentName,
      });
    }
    case 'expire': {
      if (request.status !== 'Active') return invalid(request, event);
      if (!isPast(request.expiresAt, now)) return invalid(request, event, `active until ${request.expiresAt}`);
      return move(request, 'Expired', SYSTEM_ACTOR, 'expired', now, { endedAt: at, endReason: 'expired' });
    }
    case 'revoke': {
      if (request.status !== 'Active' && request.status !== 'Approved') return invalid(request, event);
      return move(request, 'Revoked', event.by.toLowerCase(), `revoked: ${event.reason}`, now, { endedAt: at, endReason: event.reason });
    }
    case 'fail': {
      if (!(['Approved', 'Active', 'Expired', 'Revoked'] as RequestStatus[]).includes(request.status)) return invalid(request, event);
      return move(request, 'Failed', event.by?.toLowerCase() ?? SYSTEM_ACTOR, `failed: ${event.reason}`, now, {
        endedAt: request.endedAt ?? at, endReason: `failed: ${event.reason}`,
      });
    }
    case 'requestExtension': {
      if (request.status !== 'Active') return invalid(request, event);
      if (isPast(request.expiresAt, now)) return invalid(request, event, 'the grant has already expired');
      if (request.extension?.status === 'Pending') return invalid(request, event, 'an extension is already pending');
      if (!Number.isSafeInteger(event.durationMs) || event.durationMs <= 0) return invalid(request, event, 'the extension must be longer than zero');
      const by = event.by.toLowerCase();
      const extension: ExtensionRecord = {
        durationMs: event.durationMs, duration: formatIsoDuration(event.durationMs), requestedAt: at, requestedBy: by,
        ...(event.justification !== undefined ? { justification: event.justification } : {}),
        status: request.approvalsRequired > 0 ? 'Pending' : 'Approved',
        approvalsRequired: request.approvalsRequired, decisions: [],
        ...(request.approvalsRequired > 0 ? {} : { decidedAt: at }),
      };
      const entry: ExtensionEntry = {
        at, by, duration: extension.duration, durationMs: extension.durationMs,
        ...(event.justification !== undefined ? { justification: event.justification } : {}),
        decision: extension.status, ...(extension.decidedAt ? { decidedAt: extension.decidedAt } : {}), decisions: [],
      };
      const extensions = [...(request.extensions ?? []), entry];
      if (request.approvalsRequired > 0) return move(request, 'Active', by, `extension by ${extension.duration} requested`, now, { extension, extensions });
      const expiresAt = new Date(Date.parse(request.expiresAt as string) + event.durationMs).toISOString();
      return move(request, 'Active', by, `extended by ${extension.duration} until ${expiresAt} (no approval needed)`, now, { extension, extensions, expiresAt, ...totalsAfter(request, event.durationMs) });
    }
    case 'decideExtension': {
      const ext = request.extension;
      if (request.status !== 'Active' || !ext || ext.status !== 'Pending') return invalid(request, event, 'no extension is pending');
      if (isPast(request.expiresAt, now)) return invalid(request, event, 'the grant has already expired');
      const by = event.by.toLowerCase();
      if (ext.decisions.some((d) => d.by === by)) return invalid(request, event, `${by} has already decided`);
      const decisions = [...ext.decisions, decisionRecord(event, now)];
      if (event.decision === 'deny') {
        return move(request, 'Active', by, 'extension denied', now, {
          extension: { ...ext, decisions, status: 'Denied', decidedAt: at }, extensions: withLastExtension(request, { decisions, decision: 'Denied', decidedAt: at }),
        });
      }
      const approvals = approvalCount(decisions);
      if (approvals < ext.approvalsRequired) {
        return move(request, 'Active', by, `extension approval recorded (${approvals}/${ext.approvalsRequired})`, now, {
          extension: { ...ext, decisions }, extensions: withLastExtension(request, { decisions }),
        });
      }
      const expiresAt = new Date(Date.parse(request.expiresAt as string) + ext.durationMs).toISOString();
      return move(request, 'Active', by, `extended by ${ext.duration} until ${expiresAt}`, now, {
        extension: { ...ext, decisions, status: 'Approved', decidedAt: at }, expiresAt,
        extensions: withLastExtension(request, { decisions, decision: 'Approved', decidedAt: at }), ...totalsAfter(request, ext.durationMs),
      });
    }
  }
}

/**
 * How long the grant lasts in all: from the grant to its expiry once Active, else the duration plus
 * the approved extensions. Records stored before totals were kept have no `totalDurationMs`.
 */
export function grantedTotalMs(request: AccessRequest): number {
  if (request.grantedAt && request.expiresAt) return Date.parse(request.expiresAt) - Date.parse(request.grantedAt);
  return request.totalDurationMs ?? request.durationMs;
}

function totalsAfter(request: AccessRequest, extraMs: number): Pick<AccessRequest, 'totalDurationMs' | 'totalDuration'> {
  const totalDurationMs = grantedTotalMs(request) + extraMs;
  return { totalDurationMs, totalDuration: formatIsoDuration(totalDurationMs) };
}

/** The extensions with the last one (the one being decided) changed. */
function withLastExtension(request: AccessRequest, change: Partial<ExtensionEntry>): ExtensionEntry[] {
  const extensions = [...(request.extensions ?? [])];
  const last = extensions[extensions.length - 1];
  if (last) extensions[extensions.length - 1] = { ...last, ...change };
  return extensions;
}

/** A stored record as this version keeps it: totals and the extension list filled in for records stored before them. */
export function withExtensionTotals(request: AccessRequest): AccessRequest {
  if (request.extensions !== undefined && request.totalDurationMs !== undefined) return request;
  const totalDurationMs = grantedTotalMs(request);
  const extensions: readonly ExtensionEntry[] = request.extensions ?? (request.extension ? [{
    at: request.extension.requestedAt, by: request.extension.requestedBy, duration: request.extension.duration, durationMs: request.extension.durationMs,
    ...(request.extension.justification !== undefined ? { justification: request.extension.justification } : {}),
    decision: request.extension.status, ...(request.extension.decidedAt ? { decidedAt: request.extension.decidedAt } : {}), decisions: request.extension.decisions,
  }] : []);
  return { ...request, extensions, totalDurationMs, totalDuration: formatIsoDuration(totalDurationMs) };
}

export function isTerminal(status: RequestStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
