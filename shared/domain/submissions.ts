/**
 * What makes two submissions the same (an idempotent replay) and two requests the same access (a
 * duplicate). The ledger keeps one index row per key, committed with the request it names.
 */
import { AZURE_RBAC_PLANE, normalizeArmScope, resolveAzureRole, sameArmScope } from './azureRbac';
import { parseIsoDuration } from './duration';
import { resolveHsm, type Caller, type RequestInput } from './eligibility';
import type { SubmissionOrigin } from './events';
import type { AccessRequest } from './lifecycle';
import type { Policy } from './policy/types';
import { resolveRole } from './roles';
import { normalizeScope } from './scope';

/** Names a submission over HTTP: the requester and its Idempotency-Key. */
export function idempotencyKeyOf(requesterObjectId: string, idempotencyKey: string): string {
  return `http\n${requesterObjectId.toLowerCase()}\n${idempotencyKey}`;
}

/** Names a submission raised as an event: its CloudEvents source and id. */
export function eventSubmissionKeyOf(origin: SubmissionOrigin): string {
  return `event\n${origin.source}\n${origin.id}`;
}

/**
 * The access a request opens: plane (or HSM), grantee, role and scope. At most one open request
 * (Pending, Approved or Active) holds it at a time.
 */
export function openAccessKeyOf(request: Pick<AccessRequest, 'plane' | 'hsm' | 'principalId' | 'roleId' | 'scope'>): string {
  const where = request.plane === AZURE_RBAC_PLANE ? AZURE_RBAC_PLANE : `hsm:${request.hsm.toLowerCase()}`;
  return `${where}\n${request.principalId.toLowerCase()}\n${request.roleId.toLowerCase()}\n${request.scope.toLowerCase()}`;
}

/**
 * Whether `input` from `caller` asks for exactly what `request` holds, after normalization: the
 * role by any of its names, the scope in any accepted spelling, the grantee defaulting to the
 * caller, a missing duration as the rule's default, justification and ticket trimmed, the HSM
 * defaulting to the policy's.
 */
export function sameSubmission(policy: Policy, request: AccessRequest, caller: Caller, input: RequestInput): boolean {
  const arm = request.plane === AZURE_RBAC_PLANE;
  const role = arm ? resolveAzureRole(input.role) : typeof input.role === 'string' ? resolveRole(input.role, policy.customRoles) : undefined;
  const scope = arm ? normalizeArmScope(input.scope) : normalizeScope(input.scope);
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  const durationMs = input.duration === undefined ? rule?.defaultDurationMs : parseIsoDuration(input.duration);
  const hsm = arm ? (input.hsm === undefined ? AZURE_RBAC_PLANE : undefined) : resolveHsm(policy, input.hsm)?.name;
  const ticket = typeof input.ticket === 'string' ? input.ticket.trim() : '';
  return role?.id === request.roleId
    && scope.ok && (arm ? sameArmScope(scope.scope, request.scope) : scope.scope === request.scope)
    && (input.principalId ?? caller.objectId).toLowerCase() === request.principalId
    && durationMs === request.durationMs
    && (typeof input.justification === 'string' ? input.justification.trim() : '') === request.justification
    && ticket === (request.ticket ?? '')
    && hsm === request.hsm;
}

/** The refusal of a request for access that an open request already holds. */
export function duplicateDetail(open: AccessRequest): string {
  const what = `${open.role} on ${open.scope} for ${open.principalId}`;
  if (open.status === 'Active') {
    return `request ${open.id} already grants ${what} until ${open.expiresAt ?? 'its expiry'}: ask for more time with POST /api/requests/${open.id}/extend instead`;
  }
  if (open.status === 'Approved') return `request ${open.id} (Approved, being granted) already gives ${what}: once it is Active, ask for more time with POST /api/requests/${open.id}/extend`;
  return `request ${open.id} (Pending) already asks for ${what}: wait for its decision, or have its requester cancel it first`;
}
