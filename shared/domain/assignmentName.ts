/**
 * Deterministic role assignment names, and whether an assignment is still justified by another
 * lease or a standing assignment when one grant ends.
 */
import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for UUID v5 assignment names. Never change it: existing names derive from it. */
export const ASSIGNMENT_NAMESPACE = '3f0c8f2e-6a1b-5d4e-9c7a-2b8d1e0f4a6c';

/**
 * The role assignment name of a grant: UUID v5 of the request id, HSM, scope, principal and role.
 * Retries and concurrent instances compute the same name, so the HSM refuses a second create.
 */
export function assignmentNameFor(requestId: string, hsm: string, scope: string, principalId: string, roleId: string): string {
  const key = ['hsm-access-governor/v1', requestId, hsm.toLowerCase(), scope, principalId.toLowerCase(), roleId.toLowerCase()].join('\n');
  return uuidv5(key, ASSIGNMENT_NAMESPACE);
}

/** What an assignment gives: a principal, a role, a scope, on an HSM. */
export interface AccessKey {
  readonly hsm: string;
  readonly principalId: string;
  readonly roleId: string;
  readonly scope: string;
}

/** An active time-bound grant. */
export interface Lease extends AccessKey {
  readonly requestId: string;
  /** ISO 8601. */
  readonly expiresAt: string;
  readonly assignmentName?: string;
}

/** Whether two grants give the same access (same HSM, principal, role and scope). */
export function sameAccess(a: AccessKey, b: AccessKey): boolean {
  return a.hsm.toLowerCase() === b.hsm.toLowerCase()
    && a.principalId.toLowerCase() === b.principalId.toLowerCase()
    && a.roleId.toLowerCase() === b.roleId.toLowerCase()
    && a.scope === b.scope;
}

/** Whether a lease, still running at `now`, covers the given access. */
export function leaseCovers(lease: Lease, access: AccessKey, now: Date): boolean {
  return sameAccess(lease, access) && Date.parse(lease.expiresAt) > now.getTime();
}

export interface Justification {
  readonly kind: 'lease' | 'standing';
  /** The other request, for a lease. */
  readonly requestId?: string;
}

/**
 * When the grant `ending` ends, does another active lease (a different request) or a standing
 * assignment still justify the same access? If so, the assignment must not be removed.
 */
export function assignmentStillJustified(
  ending: AccessKey & { readonly requestId: string },
  activeLeases: readonly Lease[],
  standing: readonly AccessKey[],
  now: Date,
): Justification | undefined {
  if (standing.some((s) => sameAccess(s, ending))) return { kind: 'standing' };
  const other = activeLeases.find((l) => l.requestId !== ending.requestId && leaseCovers(l, ending, now));
  return other ? { kind: 'lease', requestId: other.requestId } : undefined;
}
