/**
 * What a policy change would do before it is deployed: the open requests the new policy would
 * refuse, the running grants it would no longer justify, and the standing assignments that would
 * become drift (or become missing) at the next reconciliation.
 */
import { evaluateRequest, type Caller } from '../eligibility';
import type { AccessRequest } from '../lifecycle';
import type { Policy, StandingAssignment } from './types';

export interface RequestImpact {
  readonly requestId: string;
  readonly status: AccessRequest['status'];
  readonly role: string;
  readonly scope: string;
  readonly principalId: string;
  readonly code: string;
  readonly detail: string;
}

export interface StandingImpact {
  /** `unexpected`: the HSM holds it and the new policy no longer declares it; `missing`: newly declared, not yet on the HSM. */
  readonly kind: 'unexpected' | 'missing';
  readonly hsm: string;
  readonly principal: string;
  readonly principalId: string;
  readonly role: string;
  readonly scope: string;
  readonly detail: string;
}

export interface PolicyDiff {
  readonly refusedRequests: readonly RequestImpact[];
  readonly unjustifiedGrants: readonly RequestImpact[];
  readonly standing: readonly StandingImpact[];
}

const OPEN = new Set<AccessRequest['status']>(['Pending', 'Approved']);

/** The requester as the new policy knows them: the declared groups that list them as a member. */
function callerFromPolicy(policy: Policy, objectId: string): Caller {
  const id = objectId.toLowerCase();
  const alias = Object.values(policy.principals).find((p) => p.objectId === id)?.alias;
  const groups = Object.values(policy.principals)
    .filter((p) => p.type === 'Group' && alias !== undefined && p.members.includes(alias))
    .map((p) => p.objectId);
  return { objectId: id, groups };
}

/** Re-asks for a request under the policy, as its requester would; undefined when still allowed. */
function refusalUnder(policy: Policy, request: AccessRequest, now: Date): { code: string; detail: string } | undefined {
  const result = evaluateRequest(
    policy,
    callerFromPolicy(policy, request.requestedBy),
    { role: request.roleId, scope: request.scope, principalId: request.principalId, duration: request.duration, justification: request.justification || 'policy diff', ...(request.ticket ? { ticket: request.ticket } : {}), hsm: request.hsm },
    now,
  );
  return result.ok ? undefined : { code: result.code, detail: result.detail };
}

function impactOf(request: AccessRequest, refusal: { code: string; detail: string }): RequestImpact {
  return { requestId: request.id, status: request.status, role: request.role, scope: request.scope, principalId: request.principalId, ...refusal };
}

const standingKey = (s: StandingAssignment): string => `${s.hsm}|${s.principalId}|${s.role.id}|${s.scope}`;

function standingImpact(kind: StandingImpact['kind'], s: StandingAssignment, detail: string): StandingImpact {
  return { kind, hsm: s.hsm, principal: s.principal, principalId: s.principalId, role: s.role.name, scope: s.scope, detail };
}

function standingChanges(current: Policy, next: Policy): StandingImpact[] {
  const nextKeys = new Set(next.standing.map(standingKey));
  const currentKeys = new Set(current.standing.map(standingKey));
  const impacts: StandingImpact[] = [];
  for (const s of current.standing) {
    if (nextKeys.has(standingKey(s))) continue;
    impacts.push(standingImpact('unexpected', s, `'${s.principal}' holds ${s.role.name} at ${s.scope} as a standing assignment the new policy no longer declares: reconciliation would report it as drift (and remove it in enforce mode)`));
  }
  // A policy that forbids one of its own standing grantees does not parse, so there is no third kind.
  for (const s of next.standing) {
    if (!currentKeys.has(standingKey(s))) impacts.push(standingImpact('missing', s, `the new policy declares ${s.role.name} at ${s.scope} for '${s.principal}': reconciliation would report it missing until it is created`));
  }
  return impacts;
}

/**
 * The effect of replacing `current` by `next`, given the service's requests (any status; only open
 * and running ones matter). Pure: `now` is a parameter.
 */
export function diffPolicy(current: Policy, next: Policy, requests: readonly AccessRequest[], now: Date): PolicyDiff {
  const refusedRequests: RequestImpact[] = [];
  const unjustifiedGrants: RequestImpact[] = [];
  for (const request of requests) {
    const open = OPEN.has(request.status);
    const running = request.status === 'Active' && (!request.expiresAt || Date.parse(request.expiresAt) > now.getTime());
    if (!open && !running) continue;
    const refusal = refusalUnder(next, request, now);
    if (!refusal) continue;
    (open ? refusedRequests : unjustifiedGrants).push(impactOf(request, refusal));
  }
  return { refusedRequests, unjustifiedGrants, standing: standingChanges(current, next) };
}

/** Whether the change affects anything at all. */
export function policyDiffIsEmpty(diff: PolicyDiff): boolean {
  return diff.refusedRequests.length === 0 && diff.unjustifiedGrants.length === 0 && diff.standing.length === 0;
}
