/**
 * The auditors' reports: who can do what on each key, and which keys expire or were not rotated.
 * Built from an inventory (a reconciliation run's) and the requests on record.
 */
import { sameAccess } from './assignmentName';
import { isUntouchable, type DriftItem, type ObservedAssignment } from './drift';
import type { AccessRequest } from './lifecycle';
import type { Policy } from './policy/types';
import { resolveRole } from './roles';

export type AccessBasis = 'standing' | 'just-in-time' | 'protected' | 'drift';

export interface EffectiveAccess {
  readonly principalId: string;
  readonly principal?: string;
  readonly role: string;
  readonly roleId: string;
  /** Where the assignment is made: `/`, `/keys` or the key's own scope. */
  readonly assignedAt: string;
  readonly assignmentName: string;
  readonly dataActions: readonly string[];
  readonly basis: AccessBasis;
  readonly expiresAt?: string;
  readonly requestId?: string;
  readonly driftKind?: DriftItem['kind'];
}

export interface KeyAccess {
  readonly key: string;
  readonly access: readonly EffectiveAccess[];
}

export interface KeyFacts {
  readonly name: string;
  readonly enabled?: boolean;
  readonly createdOn?: string;
  readonly expiresOn?: string;
}

export interface AccessReportInput {
  readonly policy: Policy;
  readonly hsm: string;
  readonly keys: readonly KeyFacts[];
  readonly assignments: readonly ObservedAssignment[];
  readonly roleDefinitions: ReadonlyArray<{ readonly id: string; readonly roleName: string; readonly dataActions: readonly string[] }>;
  readonly requests: readonly AccessRequest[];
  readonly items: readonly DriftItem[];
  readonly serviceObjectId?: string;
  readonly now: Date;
}

function basisOf(assignment: ObservedAssignment, input: AccessReportInput): Pick<EffectiveAccess, 'basis' | 'expiresAt' | 'requestId' | 'driftKind'> {
  const drift = input.items.find((i) => i.assignmentName && i.assignmentName === assignment.name && i.scope === assignment.scope);
  if (drift) return { basis: 'drift', driftKind: drift.kind };
  if (isUntouchable(assignment, input)) return { basis: 'protected' };
  const access = { hsm: input.hsm, principalId: assignment.principalId, roleId: assignment.roleId, scope: assignment.scope };
  if (input.policy.standing.some((s) => sameAccess({ hsm: input.hsm, principalId: s.principalId, roleId: s.role.id, scope: s.scope }, access))) return { basis: 'standing' };
  const grant = input.requests.find((r) => r.status === 'Active' && r.expiresAt && Date.parse(r.expiresAt) > input.now.getTime() && sameAccess(r, access));
  if (grant) return { basis: 'just-in-time', ...(grant.expiresAt ? { expiresAt: grant.expiresAt } : {}), requestId: grant.id };
  // Not drift when the run was made, but nothing justifies it now (a grant ended since).
  return { basis: 'drift' };
}

/** Effective access per key: the key's own assignments and those it inherits from `/` and `/keys`. */
export function accessReport(input: AccessReportInput): KeyAccess[] {
  const aliases = new Map(Object.values(input.policy.principals).map((p) => [p.objectId, p.alias]));
  const describe = (assignment: ObservedAssignment): EffectiveAccess => {
    const definition = input.roleDefinitions.find((d) => d.id.toLowerCase() === assignment.roleId.toLowerCase());
    const alias = aliases.get(assignment.principalId.toLowerCase());
    return {
      principalId: assignment.principalId,
      ...(alias ? { principal: alias } : {}),
      role: definition?.roleName ?? resolveRole(assignment.roleId, input.policy.customRoles)?.name ?? assignment.roleId,
      roleId: assignment.roleId,
      assignedAt: assignment.scope,
      assignmentName: assignment.name,
      dataActions: definition?.dataActions ?? [],
      ...basisOf(assignment, input),
    };
  };
  const inherited = input.assignments.filter((a) => a.scope === '/' || a.scope === '/keys').map(describe);
  const byScope = new Map<string, ObservedAssignment[]>();
  for (const a of input.assignments) byScope.set(a.scope, [...(byScope.get(a.scope) ?? []), a]);
  return [...input.keys]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((key) => ({ key: key.name, access: [...inherited, ...(byScope.get(`/keys/${key.name}`) ?? []).map(describe)] }));
}

export interface KeysReport {
  readonly expiringWithinDays: number;
  readonly rotationPeriodDays: number;
  readonly expiringSoon: ReadonlyArray<{ readonly name: string; readonly expiresOn: string; readonly daysLeft: number }>;
  readonly expired: ReadonlyArray<{ readonly name: string; readonly expiresOn: string }>;
  readonly withoutExpiry: readonly string[];
  readonly notRotated: ReadonlyArray<{ readonly name: string; readonly createdOn: string; readonly ageDays: number }>;
}

const DAY_MS = 86_400_000;

/** Keys expiring within `withinDays`, already expired, without an expiry, or older than the rotation period. */
export function keysReport(keys: readonly KeyFacts[], withinDays: number, rotationPeriodMs: number, now: Date): KeysReport {
  const at = now.getTime();
  const sorted = [...keys].sort((a, b) => a.name.localeCompare(b.name));
  const expiringSoon: Array<{ name: string; expiresOn: string; daysLeft: number }> = [];
  const expired: Array<{ name: string; expiresOn: string }> = [];
  for (const key of sorted) {
    if (!key.expiresOn) continue;
    const left = Date.parse(key.expiresOn) - at;
    if (left <= 0) expired.push({ name: key.name, expiresOn: key.expiresOn });
    else if (left <= withinDays * DAY_MS) expiringSoon.push({ name: key.name, expiresOn: key.expiresOn, daysLeft: Math.floor(left / DAY_MS) });
  }
  return {
    expiringWithinDays: withinDays,
    rotationPeriodDays: Math.round(rotationPeriodMs / DAY_MS),
    expiringSoon: expiringSoon.sort((a, b) => a.expiresOn.localeCompare(b.expiresOn)),
    expired,
    withoutExpiry: sorted.filter((k) => !k.expiresOn).map((k) => k.name),
    notRotated: sorted
      .filter((k) => k.createdOn && at - Date.parse(k.createdOn) > rotationPeriodMs)
      .map((k) => ({ name: k.name, createdOn: k.createdOn as string, ageDays: Math.floor((at - Date.parse(k.createdOn as string)) / DAY_MS) })),
  };
}
