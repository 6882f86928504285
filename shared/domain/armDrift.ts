/**
 * Drift on the management plane: Azure role assignments on the governed ARM scopes against the
 * policy's `azureRbac` standing assignments and the running management-plane grants. The kinds and
 * the item shape are the data plane's (drift.ts), so that one report holds both.
 */
import { assignmentNameFor, sameAccess, type AccessKey } from './assignmentName';
import { AZURE_BUILT_IN_ROLES, AZURE_RBAC_PLANE, armScopeWithin, sameArmScope } from './azureRbac';
import { applyRefusal, driftActionFor, driftId, grantFinding, REMOVABLE_KINDS, runningGrantGives, standingAssignmentNameFor, type ApplyRefusal, type DriftItem, type DriftKind } from './drift';
import type { AccessRequest } from './lifecycle';
import { principalByObjectId } from './policy/parse';
import type { AzureProtectedAssignment, Policy } from './policy/types';

/** A role assignment as ARM lists it: `scope` in ARM's spelling, `roleId` the role definition GUID. */
export interface ObservedArmAssignment {
  readonly name: string;
  readonly scope: string;
  readonly roleId: string;
  readonly principalId: string;
  readonly principalType?: string;
}

export interface ArmDriftContext {
  readonly policy: Policy;
  /** Every request on record (any plane, any status); the management plane's are picked out. */
  readonly requests: readonly AccessRequest[];
  /** The service's own identity: its assignments (its means to grant) are never drift. */
  readonly serviceObjectId?: string;
  readonly now: Date;
}

/** A drift item of the management plane. */
export interface ArmDriftItem extends DriftItem {
  readonly plane: typeof AZURE_RBAC_PLANE;
}

function keyOf(assignment: { scope: string; principalId: string; roleId: string }): AccessKey {
  // Scopes compare case-insensitively on ARM: the key holds one spelling.
  return { hsm: AZURE_RBAC_PLANE, principalId: assignment.principalId.toLowerCase(), roleId: assignment.roleId.toLowerCase(), scope: assignment.scope.toLowerCase() };
}

/** Whether an assignment is on a governed scope: inherited ones from above a governed scope are someone else's. */
function isGoverned(assignment: Pick<ObservedArmAssignment, 'scope'>, policy: Policy): boolean {
  return (policy.azureRbac?.scopes ?? []).some((governed) => armScopeWithin(assignment.scope, governed));
}

function protects(entry: AzureProtectedAssignment, assignment: ObservedArmAssignment): boolean {
  return entry.principalId === assignment.principalId.toLowerCase()
    && (entry.role === undefined || entry.role.id === assignment.roleId.toLowerCase())
    && (entry.scope === undefined || sameArmScope(entry.scope, assignment.scope));
}

/** The service's own assignments, the management plane's protected ones and principal-wide protected entries are never touched. */
function isArmUntouchable(assignment: ObservedArmAssignment, context: Pick<ArmDriftContext, 'policy' | 'serviceObjectId'>): boolean {
  const principalId = assignment.principalId.toLowerCase();
  if (context.serviceObjectId && principalId === context.serviceObjectId.toLowerCase()) return true;
  const principalWide = context.policy.protected.filter((entry) => entry.role === undefined && entry.scope === undefined && entry.hsm === undefined);
  return [...principalWide, ...(context.policy.azureRbac?.protected ?? [])].some((entry) => protects(entry, assignment));
}

function roleName(roleId: string): string {
  return AZURE_BUILT_IN_ROLES.find((r) => r.id === roleId.toLowerCase())?.name ?? roleId.toLowerCase();
}

function item(kind: DriftKind, assignment: ObservedArmAssignment, policy: Policy, reason: string, extra: Partial<DriftItem> = {}): ArmDriftItem {
  const action = driftActionFor(kind);
  const principal = principalByObjectId(policy, assignment.principalId)?.alias;
  return {
    id: driftId(kind, assignment.scope.toLowerCase(), assignment.principalId, assignment.roleId, assignment.name),
    kind,
    principalId: assignment.principalId.toLowerCase(),
    ...(principal ? { principal } : {}),
    role: roleName(assignment.roleId),
    roleId: assignment.roleId.toLowerCase(),
    scope: assignment.scope,
    assignmentName: assignment.name,
    reason,
    action,
    plane: AZURE_RBAC_PLANE,
    ...extra,
  };
}

/**
 * Every drift item of the governed ARM scopes: assignments nobody approved (`unexpected`), grants
 * ended but still assigned (`expired-grant`), assignments named for a request they do not match or
 * that was never granted (`orphan`), and standing assignments that are not there (`missing`).
 * `observed` may hold assignments from above the governed scopes (atScope() lists them): they are skipped.
 */
export function computeArmDrift(observed: readonly ObservedArmAssignment[], context: ArmDriftContext): ArmDriftItem[] {
  const { policy, now } = context;
  const grants = context.requests.filter((r) => r.plane === AZURE_RBAC_PLANE);
  const byName = new Map(grants.map((r) => [assignmentNameFor(r.id, r.hsm, r.scope, r.principalId, r.roleId).toLowerCase(), r]));
  const standing = policy.azureRbac?.standing ?? [];
  const seen = new Set<string>();
  const items: ArmDriftItem[] = [];
  for (const assignment of observed) {
    const key = `${assignment.scope.toLowerCase()}\n${assignment.name.toLowerCase()}`;
    if (seen.has(key) || !isGoverned(assignment, policy) || isArmUntouchable(assignment, context)) continue;
    seen.add(key);
    const access = keyOf(assignment);
    if (standing.some((s) => sameAccess(keyOf({ scope: s.scope, principalId: s.principalId, roleId: s.role.id }), access))) continue;
    // A running grant gives exactly this access: under its own name, another grant's (shared), or PIM's (it names what it makes).
    const shared = runningGrantGives(grants, access, now, keyOf);
    const grant = byName.get(assignment.name.toLowerCase());
    if (grant) {
      const matches = sameAccess(keyOf(grant), access);
      const finding = matches && shared ? undefined : grantFinding(grant, matches, now, 'Azure role assignment');
      if (finding) items.push(item(finding.kind, assignment, policy, finding.reason, { requestId: grant.id }));
      continue;
    }
    if (shared) continue;
    items.push(item('unexpected', assignment, policy, 'not a standing Azure role assignment of the policy and no active grant justifies it'));
  }
  for (const want of standing) {
    if (observed.some((a) => sameAccess(keyOf(a), keyOf({ scope: want.scope, principalId: want.principalId, roleId: want.role.id })))) continue;
    const missing: ObservedArmAssignment = { name: '', scope: want.scope, roleId: want.role.id, principalId: want.principalId, principalType: want.principalType };
    items.push(item('missing', missing, policy, `standing Azure role assignment of the policy (${want.principal}: ${want.role.name} at ${want.scope}) is not there`, {
      createName: standingAssignmentNameFor(AZURE_RBAC_PLANE, want.scope.toLowerCase(), want.principalId, want.role.id),
      action: want.repair ? 'create' : 'none',
    }));
  }
  return items;
}

/**
 * Why an item is left alone when re-checked just before its repair, against the assignments at its
 * scope and the requests as they are now (a grant may have started since the plan); undefined when
 * the repair still applies.
 */
export function armRepairObstacle(item: DriftItem, observedNow: readonly ObservedArmAssignment[], context: ArmDriftContext): string | undefined {
  if (item.action === 'create') {
    const wanted = keyOf({ scope: item.scope, principalId: item.principalId, roleId: item.roleId });
    return observedNow.some((a) => sameAccess(keyOf(a), wanted)) ? 'already present when re-checked' : undefined;
  }
  const current = observedNow.find((a) => a.name.toLowerCase() === item.assignmentName.toLowerCase() && sameArmScope(a.scope, item.scope));
  if (!current) return 'already gone when re-checked';
  if (isArmUntouchable(current, context)) return 'protected';
  // Standing assignments the list lacks come out as `missing` items without a name: only this assignment's verdict counts.
  const now = computeArmDrift([current], context).find((i) => i.assignmentName === current.name);
  if (!now) return 'justified when re-checked (a grant started since the plan)';
  return REMOVABLE_KINDS.includes(now.kind) ? undefined : `now ${now.kind}: not removed`;
}

/** The management plane's items among a run's items. */
export function isArmDriftItem(item: DriftItem): item is ArmDriftItem {
  return item.plane === AZURE_RBAC_PLANE;
}

export interface ArmApplyPlan {
  readonly actions: readonly ArmDriftItem[];
  readonly refused?: ApplyRefusal;
}

/** The guard rails every plane's apply keeps (applyRefusal); creations first. */
export function planArmApply(items: readonly ArmDriftItem[], policy: Policy): ArmApplyPlan {
  const creates = items.filter((i) => i.action === 'create');
  const removals = items.filter((i) => i.action === 'remove');
  const refused = applyRefusal(policy, removals.length, 'Azure role assignment removals');
  return refused ? { actions: [], refused } : { actions: [...creates, ...removals] };
}
