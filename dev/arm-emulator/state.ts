import { readJsonState, writeJsonAtomically } from '../emulator-common/state';
import {
  BUILT_IN_ROLES,
  PRINCIPAL_TYPES,
  ROLE_DEFINITIONS_SEGMENT,
  isAtOrAbove,
  isGuid,
  parseScope,
  roleGuidFromId,
  sameText,
  type PrincipalType,
  type RoleDefinition,
  type StoredAssignment,
} from './model';

/** A PIM request as it was accepted, kept for GET and list. */
export interface StoredScheduleRequest {
  name: string;
  scope: string;
  requestType: 'AdminAssign' | 'AdminRemove' | 'SelfActivate' | 'SelfDeactivate';
  roleGuid: string;
  principalId: string;
  principalType: PrincipalType;
  status: string;
  /** The schedule it made (AdminAssign) or ended (AdminRemove). */
  targetScheduleName?: string;
  /** As the caller sent it; echoed, never rewritten. */
  scheduleInfo?: unknown;
  justification?: string;
  condition?: string;
  conditionVersion?: string;
  requestorId: string;
  createdOn: string;
}

/** What PIM keeps while an assignment is due, running, or until it ended. */
export interface StoredSchedule {
  name: string;
  scope: string;
  roleGuid: string;
  principalId: string;
  principalType: PrincipalType;
  requestName: string;
  /** Nominal times as ARM reports them. */
  startDateTime: string;
  endDateTime?: string;
  /** Wall-clock instants the emulator acts on: the nominal ones, compressed by the time scale. */
  activateAtMs: number;
  expireAtMs?: number;
  assignmentName?: string;
  state: 'Pending' | 'Active' | 'Ended';
  createdOn: string;
  /** An activation: the eligibility it was made from. */
  linkedEligibilityName?: string;
}

export interface ArmStateData {
  roleAssignments: StoredAssignment[];
  customRoles: RoleDefinition[];
  scheduleRequests: StoredScheduleRequest[];
  schedules: StoredSchedule[];
  /** PIM eligibility: the requests that made or ended eligible assignments, and the eligible assignments (their schedules). */
  eligibilityRequests: StoredScheduleRequest[];
  eligibilities: StoredSchedule[];
  /** Principal object id (lower case) → type: the directory that fills in and checks principalType. */
  principals: Record<string, PrincipalType>;
}

/**
 * The seed file: what ARM holds for the subscription when the emulator first starts. Roles may be
 * named by role name (case-insensitive) or GUID; scopes must lie in the emulator's subscription.
 */
export interface ArmSeed {
  /** When given, the subscription the seed describes: the emulator refuses a seed for another one. */
  subscriptionId?: string;
  principals?: Array<{ objectId: string; type: PrincipalType; displayName?: string }>;
  roleDefinitions?: Array<{ name: string; roleName: string; description?: string; actions: string[]; notActions?: string[]; assignableScopes: string[] }>;
  roleAssignments?: Array<{ name: string; scope: string; role: string; principalId: string; principalType?: PrincipalType; description?: string }>;
  /** PIM eligible assignments: who may activate which role where (SelfActivate), until `endDateTime` when given. */
  roleEligibilities?: Array<{ name: string; scope: string; role: string; principalId: string; principalType?: PrincipalType; endDateTime?: string }>;
}

export function resolveRoleGuid(role: string, customRoles: readonly RoleDefinition[]): string | undefined {
  const wanted = role.trim();
  const found = [...BUILT_IN_ROLES, ...customRoles].find(
    (definition) => sameText(definition.name, roleGuidFromId(wanted)) || sameText(definition.properties.roleName, wanted),
  );
  return found?.name;
}

function inSubscription(scope: string, subscriptionId: string): boolean {
  return isAtOrAbove(`/subscriptions/${subscriptionId}`, scope);
}

export function stateFromSeed(seed: ArmSeed, subscriptionId: string, now: Date = new Date()): ArmStateData {
  if (seed.subscriptionId && !sameText(seed.subscriptionId, subscriptionId)) throw new Error(`The seed describes subscription ${seed.subscriptionId}, not ${subscriptionId}`);
  const principals: Record<string, PrincipalType> = {};
  for (const principal of seed.principals ?? []) {
    if (!isGuid(principal.objectId) || !PRINCIPAL_TYPES.includes(principal.type)) throw new Error(`Seed principal ${principal.objectId}: needs a GUID objectId and a type among ${PRINCIPAL_TYPES.join(', ')}`);
    principals[principal.objectId.toLowerCase()] = principal.type;
  }
  const customRoles: RoleDefinition[] = (seed.roleDefinitions ?? []).map((custom) => {
    if (!isGuid(custom.name)) throw new Error(`Seed role definition '${custom.roleName}' needs a GUID name`);
    for (const scope of custom.assignableScopes) {
      if (!inSubscription(scope, subscriptionId)) throw new Error(`Seed role definition '${custom.roleName}': assignable scope ${scope} is outside subscription ${subscriptionId}`);
    }
    return {
      id: `${ROLE_DEFINITIONS_SEGMENT}${custom.name}`,
      name: custom.name.toLowerCase(),
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: {
        roleName: custom.roleName,
        type: 'CustomRole',
        description: custom.description ?? '',
        assignableScopes: custom.assignableScopes,
        permissions: [{ actions: custom.actions, notActions: custom.notActions ?? [], dataActions: [], notDataActions: [] }],
      },
    };
  });
  const stamp = now.toISOString();
  const roleAssignments = (seed.roleAssignments ?? []).map((assignment): StoredAssignment => {
    const roleGuid = resolveRoleGuid(assignment.role, customRoles);
    if (!roleGuid) throw new Error(`Seed assignment ${assignment.name}: unknown role '${assignment.role}'`);
    if (!isGuid(assignment.name) || !isGuid(assignment.principalId)) throw new Error(`Seed assignment ${assignment.name}: name and principalId must be GUIDs`);
    const parsed = parseScope(assignment.scope);
    if (!parsed || !inSubscription(parsed.scope, subscriptionId)) throw new Error(`Seed assignment ${assignment.name}: scope '${assignment.scope}' is not a scope of subscription ${subscriptionId}`);
    const principalType = assignment.principalType ?? principals[assignment.principalId.toLowerCase()] ?? 'User';
    return {
      name: assignment.name.toLowerCase(),
      scope: parsed.scope,
      roleGuid,
      principalId: assignment.principalId.toLowerCase(),
      principalType,
      ...(assignment.description ? { description: assignment.description } : {}),
      createdOn: stamp,
      updatedOn: stamp,
    };
  });
  const eligibilities = (seed.roleEligibilities ?? []).map((eligibility): StoredSchedule => {
    const roleGuid = resolveRoleGuid(eligibility.role, customRoles);
    if (!roleGuid) throw new Error(`Seed eligibility ${eligibility.name}: unknown role '${eligibility.role}'`);
    if (!isGuid(eligibility.name) || !isGuid(eligibility.principalId)) throw new Error(`Seed eligibility ${eligibility.name}: name and principalId must be GUIDs`);
    const parsed = parseScope(eligibility.scope);
    if (!parsed || !inSubscription(parsed.scope, subscriptionId)) throw new Error(`Seed eligibility ${eligibility.name}: scope '${eligibility.scope}' is not a scope of subscription ${subscriptionId}`);
    const end = eligibility.endDateTime ? Date.parse(eligibility.endDateTime) : undefined;
    if (end !== undefined && Number.isNaN(end)) throw new Error(`Seed eligibility ${eligibility.name}: endDateTime '${eligibility.endDateTime}' is not a date`);
    return {
      name: eligibility.name.toLowerCase(),
      scope: parsed.scope,
      roleGuid,
      principalId: eligibility.principalId.toLowerCase(),
      principalType: eligibility.principalType ?? principals[eligibility.principalId.toLowerCase()] ?? 'User',
      requestName: '',
      startDateTime: stamp,
      ...(end !== undefined ? { endDateTime: new Date(end).toISOString(), expireAtMs: end } : {}),
      activateAtMs: now.getTime(),
      state: 'Active',
      createdOn: stamp,
    };
  });
  return { roleAssignments, customRoles, scheduleRequests: [], schedules: [], eligibilityRequests: [], eligibilities, principals };
}

/** State kept in one JSON file, replaced atomically after every change so a crash never leaves half a write. */
export class ArmStateStore {
  private constructor(readonly data: ArmStateData, private readonly file: string | undefined) {}

  static open(options: { file?: string; seed?: ArmSeed; subscriptionId: string }): ArmStateStore {
    const kept = readJsonState<ArmStateData>(options.file);
    // State written before eligibility existed has none.
    if (kept) return new ArmStateStore({ ...kept, eligibilityRequests: kept.eligibilityRequests ?? [], eligibilities: kept.eligibilities ?? [] }, options.file);
    const store = new ArmStateStore(stateFromSeed(options.seed ?? {}, options.subscriptionId), options.file);
    store.save();
    return store;
  }

  save(): void {
    if (this.file) writeJsonAtomically(this.file, this.data);
  }
}
