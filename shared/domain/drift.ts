/**
 * Drift between an HSM's real role assignments and what should be there: the policy's standing
 * assignments, the assignments active grants justify, and protected assignments (never touched).
 */
import { v5 as uuidv5 } from 'uuid';
import { ASSIGNMENT_NAMESPACE, assignmentNameFor, sameAccess, type AccessKey } from './assignmentName';
import type { RequestPlane } from './azureRbac';
import { forbiddenReason } from './eligibility';
import type { AccessRequest } from './lifecycle';
import { principalByObjectId } from './policy/parse';
import type { Policy, ProtectedAssignment } from './policy/types';
import { ADMINISTRATOR_ROLE_ID, BUILT_IN_ROLES, resolveRole } from './roles';

export const DRIFT_KINDS = ['missing', 'unexpected', 'expired-grant', 'orphan', 'forbidden-principal', 'unknown-role'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** Kinds an enforcing apply removes; `missing` is created; `unknown-role` is only reported. */
export const REMOVABLE_KINDS: readonly DriftKind[] = ['unexpected', 'expired-grant', 'orphan', 'forbidden-principal'];

/** A role assignment as read from the HSM. */
export interface ObservedAssignment {
  readonly name: string;
  readonly scope: string;
  readonly roleId: string;
  readonly principalId: string;
}

export interface ObservedRoleDefinition {
  readonly id: string;
  readonly roleName: string;
  readonly custom: boolean;
}

export const DRIFT_ACTIONS = ['create', 'remove', 'none'] as const;
export type DriftAction = (typeof DRIFT_ACTIONS)[number];

/** What an enforcing apply does about an item of a kind (a `missing` one the policy does not repair is set to 'none' by its maker). */
export function driftActionFor(kind: DriftKind): DriftAction {
  return kind === 'missing' ? 'create' : REMOVABLE_KINDS.includes(kind) ? 'remove' : 'none';
}

export interface DriftItem {
  /** Stable across runs for the same finding, so reports can be compared and events de-duplicated. */
  readonly id: string;
  readonly kind: DriftKind;
  readonly principalId: string;
  /** The policy's alias for the principal, when it has one. */
  readonly principal?: string;
  readonly role: string;
  readonly roleId: string;
  readonly scope: string;
  /** Empty for a missing assignment that does not exist yet (see `createName`) or a role definition. */
  readonly assignmentName: string;
  readonly reason: string;
  /** What an enforcing apply would do about it. */
  readonly action: DriftAction;
  /** For `missing`: the deterministic name the repair creates. */
  readonly createName?: string;
  readonly requestId?: string;
  /** Set for the management plane's items (Azure RBAC); absent for the HSM's own (local RBAC). */
  readonly plane?: RequestPlane;
}

export interface DriftContext {
  readonly policy: Policy;
  readonly hsm: string;
  /** Every request on record for this HSM (any status). */
  readonly requests: readonly AccessRequest[];
  /** The service's own identity: its assignments are never drift. */
  readonly serviceObjectId?: string;
  /** Role definitions on the HSM; custom ones not declared in the policy are `unknown-role`. */
  readonly roleDefinitions?: readonly ObservedRoleDefinition[];
  readonly now: Date;
}

/** Deterministic name for a standing assignment the reconciliation creates: concurrent repairs make one. */
export function standingAssignmentNameFor(hsm: string, scope: string, principalId: string, roleId: string): string {
  return uuidv5(['hsm-access-governor/standing/v1', hsm.toLowerCase(), scope, principalId.toLowerCase(), roleId.toLowerCase()].join('\n'), ASSIGNMENT_NAMESPACE);
}

export function driftId(kind: DriftKind, scope: string, principalId: string, roleId: string, assignmentName: string): string {
  return uuidv5(['drift/v1', kind, scope, principalId.toLowerCase(), roleId.toLowerCase(), assignmentName.toLowerCase()].join('\n'), ASSIGNMENT_NAMESPACE);
}

function sameHsm(a: string | undefined, b: string): boolean {
  return a === undefined || a.toLowerCase() === b.toLowerCase();
}

function protects(entry: ProtectedAssignment, assignment: ObservedAssignment, hsm: string): boolean {
  return entry.principalId === assignment.principalId.toLowerCase()
    && sameHsm(entry.hsm, hsm)
    && (entry.role === undefined || entry.role.id === assignment.roleId.toLowerCase())
    && (entry.scope === undefined || entry.scope === assignment.scope);
}

/** Protected assignments and the service's own are outside reconciliation altogether. */
export function isUntouchable(assignment: ObservedAssignment, context: Pick<DriftContext, 'policy' | 'hsm' | 'serviceObjectId'>): boolean {
  const principalId = assignment.principalId.toLowerCase();
  if (context.serviceObjectId && principalId === context.serviceObjectId.toLowerCase()) return true;
  return context.policy.protected.some((entry) => protects(entry, assignment, context.hsm));
}

function roleNameOf(roleId: string, context: DriftContext): string {
  const known = resolveRole(roleId, context.policy.customRoles);
  if (known) return known.name;
  return context.roleDefinitions?.find((d) => d.id.toLowerCase() === roleId.toLowerCase())?.roleName ?? roleId;
}

function isDeclaredRole(roleId: string, policy: Policy): boolean {
  const id = roleId.toLowerCase();
  return BUILT_IN_ROLES.some((r) => r.id === id) || policy.customRoles.some((r) => r.id === id);
}

function keyOf(assignment: ObservedAssignment, hsm: string): AccessKey {
  return { hsm, principalId: assignment.principalId.toLowerCase(), roleId: assignment.roleId.toLowerCase(), scope: assignment.scope };
}

/** A grant is running at `now`: it justifies its access (Approved ones are being put in place). */
export function running(request: AccessRequest, now: Date): boolean {
  if (request.status === 'Approved') return true;
  return request.status === 'Active' && (request.expiresAt === undefined || Date.parse(request.expiresAt) > now.getTime());
}

/**
 * Whether a running grant gives exactly this access. Grants of one principal, role and scope share
 * one assignment (the first makes it, the HSM tells the others it is covered): it stays justified
 * while any of them runs, whichever request it is named for. `keyOf` spells a grant's access as
 * `access` is spelled (ARM scopes compare case-insensitively).
 */
export function runningGrantGives(grants: readonly AccessRequest[], access: AccessKey, now: Date, keyOf: (grant: AccessRequest) => AccessKey = (grant) => grant): boolean {
  return grants.some((grant) => running(grant, now) && sameAccess(keyOf(grant), access));
}

interface GrantIndex {
  readonly byName: ReadonlyMap<string, AccessRequest>;
  readonly running: readonly AccessRequest[];
}

function indexGrants(context: DriftContext): GrantIndex {
  const byName = new Map<string, AccessRequest>();
  const forHsm = context.requests.filter((r) => r.hsm.toLowerCase() === context.hsm.toLowerCase());
  for (const request of forHsm) {
    byName.set(assignmentNameFor(request.id, request.hsm, request.scope, request.principalId, request.roleId).toLowerCase(), request);
  }
  return { byName, running: forHsm.filter((r) => running(r, context.now)) };
}

/**
 * The finding about an assignment named for `grant` (on either plane), or undefined when the grant
 * is running and gives exactly this access. `assignment` names what the plane calls an assignment.
 */
export function grantFinding(grant: AccessRequest, matches: boolean, now: Date, assignment: string): { readonly kind: 'orphan' | 'expired-grant'; readonly reason: string } | undefined {
  if (!matches) return { kind: 'orphan', reason: `named for request ${grant.id}, which is for ${grant.role} on ${grant.scope} to ${grant.principalId}, not this assignment` };
  if (running(grant, now)) return undefined;
  if (grant.grantedAt) {
    const ended = grant.status === 'Active' ? `expired at ${grant.expiresAt}` : `ended (${grant.status}${grant.endedAt ? ` at ${grant.endedAt}` : ''})`;
    return { kind: 'expired-grant', reason: `the grant of request ${grant.id} ${ended}, but its ${assignment} is still there` };
  }
  return { kind: 'orphan', reason: `made for request ${grant.id}, which was never granted (${grant.status})` };
}

function item(kind: DriftKind, assignment: ObservedAssignment, context: DriftContext, reason: string, extra: Partial<DriftItem> = {}): DriftItem {
  const action = driftActionFor(kind);
  const principal = principalByObjectId(context.policy, assignment.principalId)?.alias;
  return {
    id: driftId(kind, assignment.scope, assignment.principalId, assignment.roleId, assignment.name),
    kind,
    principalId: assignment.principalId.toLowerCase(),
    ...(principal ? { principal } : {}),
    role: roleNameOf(assignment.roleId, context),
    roleId: assignment.roleId.toLowerCase(),
    scope: assignment.scope,
    assignmentName: assignment.name,
    reason,
    action,
    ...extra,
  };
}

/**
 * What one assignment on the HSM is, against the policy and the grants: undefined when it is
 * justified (standing, a running grant) or untouchable (protected, the service's own).
 */
export function classifyAssignment(assignment: ObservedAssignment, context: DriftContext, grants: GrantIndex = indexGrants(context)): DriftItem | undefined {
  if (isUntouchable(assignment, context)) return undefined;
  const { policy, hsm, now } = context;
  const access = keyOf(assignment, hsm);
  const forbidden = forbiddenReason(policy, assignment.principalId);
  if (forbidden) return item('forbidden-principal', assignment, context, forbidden);

  const standing = policy.standing.some((s) => sameHsm(s.hsm, hsm) && sameAccess({ hsm, principalId: s.principalId, roleId: s.role.id, scope: s.scope }, access));
  if (standing) return undefined;

  // A running grant gives exactly this access: under its own name, another grant's (shared), or another (made by hand meanwhile).
  const shared = runningGrantGives(grants.running, access, now);
  const grant = grants.byName.get(assignment.name.toLowerCase());
  if (grant) {
    const matches = sameAccess(grant, access);
    if (matches && shared) return undefined;
    const finding = grantFinding(grant, matches, now, 'assignment');
    return finding && item(finding.kind, assignment, context, finding.reason, { requestId: grant.id });
  }
  if (shared) return undefined;

  if (!isDeclaredRole(assignment.roleId, policy)) {
    return item('unknown-role', assignment, context, `role ${roleNameOf(assignment.roleId, context)} is a custom role the policy does not declare`);
  }
  return item('unexpected', assignment, context, 'not a standing assignment of the policy and no active grant justifies it');
}

/** Every drift item of one HSM: assignments that should not be there, standing ones that are missing, undeclared custom roles. */
export function computeDrift(observed: readonly ObservedAssignment[], context: DriftContext): DriftItem[] {
  const grants = indexGrants(context);
  const items: DriftItem[] = [];
  for (const assignment of observed) {
    const found = classifyAssignment(assignment, context, grants);
    if (found) items.push(found);
  }
  for (const standing of context.policy.standing.filter((s) => sameHsm(s.hsm, context.hsm))) {
    const want: AccessKey = { hsm: context.hsm, principalId: standing.principalId, roleId: standing.role.id, scope: standing.scope };
    if (observed.some((a) => sameAccess(keyOf(a, context.hsm), want))) continue;
    const createName = standingAssignmentNameFor(context.hsm, standing.scope, standing.principalId, standing.role.id);
    const missing: ObservedAssignment = { name: '', scope: standing.scope, roleId: standing.role.id, principalId: standing.principalId };
    items.push(item('missing', missing, context, `standing assignment of the policy (${standing.principal}: ${standing.role.name} at ${standing.scope}) is not on the HSM`, {
      createName,
      action: standing.repair ? 'create' : 'none',
    }));
  }
  const usedUnknown = new Set(items.filter((i) => i.kind === 'unknown-role').map((i) => i.roleId));
  for (const definition of context.roleDefinitions ?? []) {
    const id = definition.id.toLowerCase();
    if (!definition.custom || isDeclaredRole(id, context.policy) || usedUnknown.has(id)) continue;
    const unused: ObservedAssignment = { name: '', scope: '/', roleId: id, principalId: '' };
    items.push(item('unknown-role', unused, context, `custom role definition '${definition.roleName}' is not declared in the policy (no assignment uses it)`));
  }
  return items;
}

export interface DriftSummary {
  readonly total: number;
  readonly byKind: Readonly<Record<DriftKind, number>>;
}

export function summarizeDrift(items: readonly DriftItem[]): DriftSummary {
  const byKind = Object.fromEntries(DRIFT_KINDS.map((k) => [k, 0])) as Record<DriftKind, number>;
  for (const i of items) byKind[i.kind]++;
  return { total: items.length, byKind };
}

export type ApplyRefusal = { readonly code: 'report-mode' | 'too-many-removals'; readonly detail: string };

/**
 * The guard rails of every plane's apply: only in `enforce` mode, and nothing at all when the
 * removals exceed `maxRemovalsPerRun` (`what` names the removals in the detail).
 */
export function applyRefusal(policy: Policy, removalCount: number, what = 'removals'): ApplyRefusal | undefined {
  const { mode, maxRemovalsPerRun } = policy.reconcile;
  if (mode !== 'enforce') return { code: 'report-mode', detail: "the policy's reconcile mode is 'report': drift is reported, never repaired" };
  if (removalCount > maxRemovalsPerRun) return { code: 'too-many-removals', detail: `${removalCount} ${what} exceed maxRemovalsPerRun (${maxRemovalsPerRun}): nothing was changed` };
  return undefined;
}

export interface ApplyPlan {
  /** Items to act on, creations first. */
  readonly actions: readonly DriftItem[];
  /** Items held back by a guard rail, each with why. */
  readonly held: ReadonlyArray<{ readonly item: DriftItem; readonly reason: string }>;
  /** Set when the whole apply is refused. */
  readonly refused?: ApplyRefusal;
}

/**
 * Which items an apply may act on. Guard rails: only in `enforce` mode; the whole apply is refused
 * when removals exceed `maxRemovalsPerRun`; the last Administrator assignment at `/` is never removed.
 */
export function planApply(items: readonly DriftItem[], observed: readonly ObservedAssignment[], policy: Policy): ApplyPlan {
  const creates = items.filter((i) => i.action === 'create');
  let removals = items.filter((i) => i.action === 'remove');
  const refused = applyRefusal(policy, removals.length);
  if (refused) return { actions: [], held: [], refused };
  const held: Array<{ item: DriftItem; reason: string }> = [];
  const administrators = observed.filter((a) => a.scope === '/' && a.roleId.toLowerCase() === ADMINISTRATOR_ROLE_ID);
  const adminsCreated = creates.filter((i) => i.scope === '/' && i.roleId === ADMINISTRATOR_ROLE_ID).length;
  const removedAdmins = removals.filter((i) => i.scope === '/' && i.roleId === ADMINISTRATOR_ROLE_ID);
  if (removedAdmins.length > 0 && removedAdmins.length >= administrators.length + adminsCreated) {
    const keep = removedAdmins[removedAdmins.length - 1];
    held.push({ item: keep, reason: 'the last Administrator assignment at / is never removed' });
    removals = removals.filter((i) => i !== keep);
  }
  return { actions: [...creates, ...removals], held };
}
