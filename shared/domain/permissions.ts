/**
 * Who may do what: every authorization decision of the service, as pure functions of the policy,
 * the caller and (where there is one) the request. HSM-wide powers come only from the policy's
 * standing assignments of two built-in roles, matched by role definition id at scope `/`: Managed
 * HSM Administrator (administrators) and Managed HSM Crypto Auditor (auditors). Role names are
 * never matched, so Policy Administrator, Crypto Officer or a custom role named "...Administrator"
 * give nothing here. Approver rules are approval.ts's (`evaluateDecision`, `isApproverFor`).
 */
import { evaluateDecision, isApproverFor, type DecisionResult } from './approval';
import { callerMatches, type Caller } from './eligibility';
import type { AccessRequest, Decision } from './lifecycle';
import type { Policy } from './policy/types';
import { ADMINISTRATOR_ROLE_ID, CRYPTO_AUDITOR_ROLE_ID } from './roles';

/** Holders of a built-in role at `/` of any governed HSM, directly or through a group in their token. */
function holdsAtRoot(policy: Policy, caller: Caller, roleId: string): boolean {
  const holders = policy.standing.filter((s) => s.scope === '/' && s.role.id === roleId).map((s) => s.principalId);
  return callerMatches(caller, holders);
}

export function isAdministrator(policy: Policy, caller: Caller): boolean {
  return holdsAtRoot(policy, caller, ADMINISTRATOR_ROLE_ID);
}

export function isAuditor(policy: Policy, caller: Caller): boolean {
  return holdsAtRoot(policy, caller, CRYPTO_AUDITOR_ROLE_ID);
}

/** Administrators and auditors: they see every request, the audit trail and the reports. */
export function isOverseer(policy: Policy, caller: Caller): boolean {
  return isAdministrator(policy, caller) || isAuditor(policy, caller);
}

const isRequester = (caller: Caller, request: AccessRequest): boolean => caller.objectId.toLowerCase() === request.requestedBy.toLowerCase();
const isGrantee = (caller: Caller, request: AccessRequest): boolean => caller.objectId.toLowerCase() === request.principalId.toLowerCase();

function isApproverOfRequest(policy: Policy, caller: Caller, request: AccessRequest): boolean {
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  return rule !== undefined && isApproverFor(rule, caller);
}

/** The requester, the grantee, an approver of the request's rule, an administrator or an auditor. */
export function maySeeRequest(policy: Policy, caller: Caller, request: AccessRequest): boolean {
  return isRequester(caller, request) || isGrantee(caller, request) || isOverseer(policy, caller) || isApproverOfRequest(policy, caller, request);
}

/** Every request, not only one's own (the list without `mine`). */
export function maySeeAllRequests(policy: Policy, caller: Caller): boolean {
  return isOverseer(policy, caller);
}

/** Only the requester withdraws a request. */
export function mayCancel(_policy: Policy, caller: Caller, request: AccessRequest): boolean {
  return isRequester(caller, request);
}

/** The requester or the grantee asks for more time (approved like the request). */
export function mayExtend(_policy: Policy, caller: Caller, request: AccessRequest): boolean {
  return isRequester(caller, request) || isGrantee(caller, request);
}

/** The requester, the grantee or an administrator ends a grant early. */
export function mayRevoke(policy: Policy, caller: Caller, request: AccessRequest): boolean {
  return isRequester(caller, request) || isGrantee(caller, request) || isAdministrator(policy, caller);
}

/** A decision on the request or its pending extension: the approver rules of approval.ts, as they stand. */
export function decide(policy: Policy, caller: Caller, request: AccessRequest, decision: Decision): DecisionResult {
  return evaluateDecision(policy, request, caller, decision);
}

export function mayDecide(policy: Policy, caller: Caller, request: AccessRequest): boolean {
  return decide(policy, caller, request, 'approve').ok;
}

export function mayReadAuditTrail(policy: Policy, caller: Caller): boolean {
  return isOverseer(policy, caller);
}

export function mayReadReports(policy: Policy, caller: Caller): boolean {
  return isOverseer(policy, caller);
}

export function mayRunReconciliation(policy: Policy, caller: Caller): boolean {
  return isAdministrator(policy, caller);
}

/** Which dependency failed and how: for administrators; everyone else gets the status only. */
export function maySeeHealthDetails(policy: Policy, caller: Caller | undefined): boolean {
  return caller !== undefined && isAdministrator(policy, caller);
}
