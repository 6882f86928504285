/** Who may decide a pending request (or a pending extension), and when it counts as approved. */
import { callerMatches, type Caller, type Refusal } from './eligibility';
import { approvalCount, type AccessRequest, type Decision } from './lifecycle';
import type { EligibilityRule, Policy } from './policy/types';

export type DecisionRefusalCode = 'self-approval' | 'not-an-approver' | 'already-decided' | 'not-pending';

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

function refuse(status: 403 | 409, code: DecisionRefusalCode, detail: string): Refusal<DecisionRefusalCode> {
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
  const me = approver.objectId.toLowerCase();
  if (me === request.requestedBy.toLowerCase()) return refuse(403, 'self-approval', 'you cannot decide your own request');
  if (me === request.principalId.toLowerCase()) return refuse(403, 'self-approval', 'you cannot decide a request that grants access to you');
  if (target === 'extension' && me === request.extension?.requestedBy.toLowerCase()) return refuse(403, 'self-approval', 'you cannot decide your own extension');
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  if (!rule) return refuse(403, 'not-an-approver', `rule '${request.ruleId}' is no longer in the policy`);
  if (!isApproverFor(rule, approver)) return refuse(403, 'not-an-approver', `you are not an approver for rule '${rule.id}'`);
  if (decisions.some((d) => d.by.toLowerCase() === me)) return refuse(409, 'already-decided', 'you have already decided this request');
  const outcome = decision === 'deny' ? 'denied' : approvalCount(decisions) + 1 >= required ? 'approved' : 'pending';
  return { ok: true, target, event: target === 'request' ? 'decide' : 'decideExtension', outcome, rule };
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
