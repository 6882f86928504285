/** Who may decide a pending request (or a pending extension), and when it counts as approved. */
import { formatIsoDuration } from './duration';
import { callerMatches, groupPrincipalRefusal, type Caller, type Refusal } from './eligibility';
import { approvalCount, grantedTotalMs, type AccessRequest, type Decision } from './lifecycle';
import type { EligibilityRule, Policy } from './policy/types';

export type DecisionRefusalCode = 'self-approval' | 'not-an-approver' | 'already-decided' | 'not-pending' | 'group-principal' | 'duration-too-long';

export interface DecisionAccepted {
  readonly ok: true;
  /** Whether the decision is about the request itself or about its pending extension. */
  readonly target: 'request' | 'extension';
  /** The lifecycle event type to apply. */
  readonly event: 'decide' | 'decideExtension';
  /** What the request becomes once this decision is applied. */
  readonly outcome: 'approved' | 'denied' | 'pending';
  readonly rule: EligibilityRule;
}

export type DecisionResult = DecisionAccepted | Refusal<DecisionRefusalCode>;

function refuse(status: 403 | 409 | 422, code: DecisionRefusalCode, detail: string): Refusal<DecisionRefusalCode> {
  return { ok: false, status, code, detail };
}

/** Whether this person is an approver of the rule (directly, or through a group in their token). */
export function isApproverFor(rule: EligibilityRule, approver: Caller): boolean {
  return rule.approval.count > 0 && callerMatches(approver, rule.approval.approverObjectIds);
}

/** Checks a decision; apply it with lifecycle.applyEvent({type: result.event, ...}). */
export function evaluateDecision(policy: Policy, request: AccessRequest, approver: Caller, decision: Decision): DecisionResult {
  let target: 'request' | 'extension';
  let decisions: AccessRequest['decisions'];
  let required: number;
  if (request.status === 'Pending') {
    target = 'request';
    decisions = request.decisions;
    required = request.approvalsRequired;
  } else if (request.status === 'Active' && request.extension?.status === 'Pending') {
    target = 'extension';
    decisions = request.extension.decisions;
    required = request.extension.approvalsRequired;
  } else {
    return refuse(409, 'not-pending', `the request is ${request.status} and has nothing awaiting a decision`);
  }
  const self = selfDecision(request, approver, target);
  if (self) return self;
  // A request stored before groups were refused as requesters and grantees is never approved.
  const group = groupPrincipalRefusal(policy, request.requestedBy, request.principalId);
  if (group && decision === 'approve') return { ...group, code: 'group-principal' };
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  if (!rule) return refuse(403, 'not-an-approver', `rule '${request.ruleId}' is no longer in the policy`);
  if (!isApproverFor(rule, approver)) return refuse(403, 'not-an-approver', `you are not an approver for rule '${rule.id}'`);
  const me = approver.objectId.toLowerCase();
  if (decisions.some((d) => d.by.toLowerCase() === me)) return refuse(409, 'already-decided', 'you have already decided this request');
  const outcome = decision === 'deny' ? 'denied' : approvalCount(decisions) + 1 >= required ? 'approved' : 'pending';
  // The cap is checked again when an extension is approved: the policy may have changed since it was asked for.
  if (target === 'extension' && outcome === 'approved' && request.extension) {
    const tooLong = totalCapRefusal(rule, request, request.extension.durationMs);
    if (tooLong) return tooLong;
  }
  return { ok: true, target, event: target === 'request' ? 'decide' : 'decideExtension', outcome, rule };
}

/**
 * An approver is never the requester or the grantee, nor a member (by their token) of either, nor
 * whoever asked for the extension being decided.
 */
function selfDecision(request: AccessRequest, approver: Caller, target: 'request' | 'extension'): Refusal<DecisionRefusalCode> | undefined {
  const me = approver.objectId.toLowerCase();
  const groups = approver.groups.map((g) => g.toLowerCase());
  const requester = request.requestedBy.toLowerCase();
  const grantee = request.principalId.toLowerCase();
  if (me === requester || groups.includes(requester)) return refuse(403, 'self-approval', 'you cannot decide your own request');
  if (me === grantee || groups.includes(grantee)) return refuse(403, 'self-approval', 'you cannot decide a request that grants access to you');
  if (target === 'extension' && me === request.extension?.requestedBy.toLowerCase()) return refuse(403, 'self-approval', 'you cannot decide your own extension');
  return undefined;
}

/** Refuses an extension that would make the grant, from its start to its new expiry, outlast the rule's maximum. */
export function totalCapRefusal(rule: EligibilityRule, request: AccessRequest, extensionMs: number): Refusal<'duration-too-long'> | undefined {
  const sofar = grantedTotalMs(request);
  if (sofar + extensionMs <= rule.maxDurationMs) return undefined;
  const left = Math.max(0, rule.maxDurationMs - sofar);
  return {
    ok: false, status: 422, code: 'duration-too-long',
    detail: `the grant would last ${formatIsoDuration(sofar + extensionMs)} in all (${formatIsoDuration(sofar)} so far + ${formatIsoDuration(extensionMs)}), longer than the maximum ${rule.maxDuration} of rule '${rule.id}'; `
      + (left > 0 ? `at most ${formatIsoDuration(left)} more can be asked for` : 'no more time can be asked for: submit a new request when this one ends'),
  };
}

export type ExtensionRefusalCode = 'not-eligible' | 'group-principal' | 'duration-too-long';

/**
 * Whether more time may be asked for on this grant (the caller's right to ask is checked apart):
 * neither requester nor grantee is a group, and the whole grant stays within the rule's maximum.
 */
export function evaluateExtension(policy: Policy, request: AccessRequest, caller: Caller, extensionMs: number): { ok: true; rule: EligibilityRule } | Refusal<ExtensionRefusalCode> {
  const group = groupPrincipalRefusal(policy, caller.objectId, request.principalId) ?? groupPrincipalRefusal(policy, request.requestedBy, request.principalId);
  if (group) return { ...group, code: 'group-principal' };
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  if (!rule) return { ok: false, status: 403, code: 'not-eligible', detail: `Rule '${request.ruleId}' is no longer in the policy` };
  return totalCapRefusal(rule, request, extensionMs) ?? { ok: true, rule };
}

/** Approvals still needed before the request (or its pending extension) is approved. */
export function approvalsNeeded(_policy: Policy, request: AccessRequest): number {
  if (request.status === 'Active' && request.extension?.status === 'Pending') {
    return Math.max(0, request.extension.approvalsRequired - approvalCount(request.extension.decisions));
  }
  return Math.max(0, request.approvalsRequired - approvalCount(request.decisions));
}

/** Whether the request's decisions meet its approval rule (no denial, enough distinct approvals). */
export function isApproved(request: AccessRequest): boolean {
  if (request.decisions.some((d) => d.decision === 'deny')) return false;
  const distinct = new Set(request.decisions.filter((d) => d.decision === 'approve').map((d) => d.by.toLowerCase()));
  return distinct.size >= request.approvalsRequired;
}
