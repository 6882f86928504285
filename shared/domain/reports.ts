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
  /**
   * Where the row comes from: the HSM's inventory as of the last reconciliation, or a grant the
   * service's own records show running now whose assignment that inventory predates.
   */
  readonly source: 'inventory' | 'running-grant';
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
  /** The requests on record at the time of the report (both planes): its running grants are as of now. */
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

function roleDefinition(input: AccessReportInput, roleId: string): AccessReportInput['roleDefinitions'][number] | undefined {
  return input.roleDefinitions.find((d) => d.id.toLowerCase() === roleId.toLowerCase());
}

/** Grants running at `now` by the service's own records; `plane` absent: the HSM's local RBAC. */
export function runningGrants(requests: readonly AccessRequest[], now: Date, plane: 'hsm' | 'azure-rbac'): AccessRequest[] {
  return requests.filter((r) => r.status === 'Active' && r.expiresAt !== undefined && Date.parse(r.expiresAt) > now.getTime() && (plane === 'hsm' ? !r.plane : r.plane === plane));
}

/**
 * Effective access per key: the key's own assignments and those it inherits from `/` and `/keys`,
 * as the last reconciliation's inventory saw them, plus the data-plane grants running now whose
 * assignments that inventory predates.
 */
export function accessReport(input: AccessReportInput): KeyAccess[] {
  const aliases = new Map(Object.values(input.policy.principals).map((p) => [p.objectId, p.alias]));
  const principal = (id: string): { principal?: string } => {
    const alias = aliases.get(id.toLowerCase());
    return alias ? { principal: alias } : {};
  };
  const describe = (assignment: ObservedAssignment): EffectiveAccess => {
    const definition = roleDefinition(input, assignment.roleId);
    return {
      principalId: assignment.principalId,
      ...principal(assignment.principalId),
      role: definition?.roleName ?? resolveRole(assignment.roleId, input.policy.customRoles)?.name ?? assignment.roleId,
      roleId: assignment.roleId,
      assignedAt: assignment.scope,
      assignmentName: assignment.name,
      dataActions: definition?.dataActions ?? [],
      ...basisOf(assignment, input),
      source: 'inventory',
    };
  };
  const observed = (grant: AccessRequest): boolean => input.assignments.some((a) => sameAccess({ ...a, hsm: input.hsm }, grant));
  const unseen: EffectiveAccess[] = runningGrants(input.requests, input.now, 'hsm').filter((grant) => !observed(grant)).map((grant) => ({
    principalId: grant.principalId,
    ...principal(grant.principalId),
    role: grant.role,
    roleId: grant.roleId,
    assignedAt: grant.scope,
    assignmentName: grant.assignmentName ?? '',
    dataActions: roleDefinition(input, grant.roleId)?.dataActions ?? [],
    basis: 'just-in-time',
    ...(grant.expiresAt ? { expiresAt: grant.expiresAt } : {}),
    requestId: grant.id,
    source: 'running-grant',
  }));
  const inherited = [...input.assignments.filter((a) => a.scope === '/' || a.scope === '/keys').map(describe), ...unseen.filter((a) => a.assignedAt === '/' || a.assignedAt === '/keys')];
  const byScope = new Map<string, EffectiveAccess[]>();
  for (const row of [...input.assignments.map(describe), ...unseen]) byScope.set(row.assignedAt.toLowerCase(), [...(byScope.get(row.assignedAt.toLowerCase()) ?? []), row]);
  return [...input.keys]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((key) => ({ key: key.name, access: [...inherited, ...(byScope.get(`/keys/${key.name}`.toLowerCase()) ?? [])] }));
}

/** A management-plane grant running now: an Azure role on an ARM scope. */
export interface AzureRbacGrant {
  readonly principalId: string;
  readonly principal?: string;
  readonly role: string;
  readonly scope: string;
  readonly grantedAt?: string;
  readonly expiresAt?: string;
  readonly requestId: string;
}

/** The management plane's (Azure RBAC) grants running now, by the service's own records. */
export function azureRbacGrants(policy: Policy, requests: readonly AccessRequest[], now: Date): AzureRbacGrant[] {
  const aliases = new Map(Object.values(policy.principals).map((p) => [p.objectId, p.alias]));
  return runningGrants(requests, now, 'azure-rbac').map((grant) => {
    const alias = aliases.get(grant.principalId.toLowerCase());
    return {
      principalId: grant.principalId, ...(alias ? { principal: alias } : {}), role: grant.role, scope: grant.scope,
      ...(grant.grantedAt ? { grantedAt: grant.grantedAt } : {}), ...(grant.expiresAt ? { expiresAt: grant.expiresAt } : {}), requestId: grant.id,
    };
  });
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
