import { randomUUID } from 'node:crypto';
import { parsePimDuration } from './duration';
import { PIM_CLAUSES, badFilter, parseListFilter, passesPrincipalClauses } from './filters';
import { isAtOrAbove, isGuid, normalizeScope, roleDefinitionIdFor, sameText, type StoredAssignment } from './model';
import { ACTIONS, listedAt, type ArmRbac } from './rbac';
import { armError, invalidContent, ok, type Caller, type EmulatorResponse } from './responses';
import type { ArmStateStore, StoredSchedule, StoredScheduleRequest } from './state';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** PIM refuses active assignments shorter than five minutes. */
export const MIN_ACTIVE_DURATION_MS = 5 * MINUTE_MS;
/** The default role setting: active assignments expire after at most 180 days, and must expire. */
export const MAX_ACTIVE_DURATION_MS = 180 * DAY_MS;
/** The default role setting: an activation lasts at most eight hours. */
export const MAX_ACTIVATION_MS = 8 * 60 * MINUTE_MS;
/** The default role setting: eligible assignments expire after at most a year. */
export const MAX_ELIGIBLE_DURATION_MS = 365 * DAY_MS;

/** PIM's two kinds of assignment: active (role assignment schedules) and eligible (role eligibility schedules). */
export type Plane = 'assignment' | 'eligibility';

interface ScheduleInfoInput {
  startDateTime?: unknown;
  expiration?: { type?: unknown; duration?: unknown; endDateTime?: unknown };
}

type RequestBase = Omit<StoredScheduleRequest, 'requestType' | 'status'>;

const WIRE = {
  assignment: { requests: 'RoleAssignmentScheduleRequests', schedules: 'RoleAssignmentSchedules', requestLabel: 'role assignment schedule request', scheduleLabel: 'role assignment schedule', requestCode: 'RoleAssignmentScheduleRequestNotFound', scheduleCode: 'RoleAssignmentScheduleNotFound' },
  eligibility: { requests: 'RoleEligibilityScheduleRequests', schedules: 'RoleEligibilitySchedules', requestLabel: 'role eligibility schedule request', scheduleLabel: 'role eligibility schedule', requestCode: 'RoleEligibilityScheduleRequestNotFound', scheduleCode: 'RoleEligibilityScheduleNotFound' },
} as const;

function expirationRuleFailed(): EmulatorResponse {
  return armError(400, 'RoleAssignmentRequestPolicyValidationFailed', 'The following policy rules failed: ["ExpirationRule"]');
}

const optionalText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const lastSegment = (id: unknown): string | undefined => (typeof id === 'string' && id !== '' ? id.slice(id.lastIndexOf('/') + 1) : undefined);

/**
 * Privileged Identity Management for Azure resource roles. Active assignments: AdminAssign,
 * AdminRemove, SelfActivate (of an eligible assignment) and SelfDeactivate requests, and `cancel`
 * of a request whose schedule has not started. Eligible assignments: AdminAssign and AdminRemove.
 * An active schedule creates the role assignment at its start and removes it at its end, with no
 * call from the client; `timeScale` compresses the wall-clock time it waits (nominal times in
 * answers are unchanged), so tests can watch a five-minute grant end.
 */
export class Pim {
  constructor(
    private readonly store: ArmStateStore,
    private readonly rbac: ArmRbac,
    private readonly timeScale: number,
  ) {
    if (!(timeScale > 0)) throw new Error('timeScale must be positive');
  }

  private requests(plane: Plane): StoredScheduleRequest[] {
    return plane === 'assignment' ? this.store.data.scheduleRequests : this.store.data.eligibilityRequests;
  }

  private schedules(plane: Plane): StoredSchedule[] {
    return plane === 'assignment' ? this.store.data.schedules : this.store.data.eligibilities;
  }

  private openSchedules(plane: Plane = 'assignment'): StoredSchedule[] {
    return this.schedules(plane).filter((schedule) => schedule.state !== 'Ended');
  }

  private requestId(plane: Plane, request: StoredScheduleRequest): string {
    return `${request.scope}/providers/Microsoft.Authorization/${WIRE[plane].requests}/${request.name}`;
  }

  private scheduleId(plane: Plane, schedule: StoredSchedule): string {
    return `${schedule.scope}/providers/Microsoft.Authorization/${WIRE[plane].schedules}/${schedule.name}`;
  }

  private expanded(scope: string, roleGuid: string, principalId: string, principalType: string): unknown {
    const definition = this.rbac.findRoleDefinition(roleGuid);
    const depth = scope.split('/').length;
    return {
      scope: { id: scope, displayName: scope.slice(scope.lastIndexOf('/') + 1), type: depth <= 3 ? 'subscription' : depth <= 5 ? 'resourcegroup' : 'resource' },
      roleDefinition: { id: roleDefinitionIdFor(this.rbac.subscriptionId, roleGuid), displayName: definition?.properties.roleName, type: definition?.properties.type },
      principal: { id: principalId, type: principalType },
    };
  }

  private wireRequest(plane: Plane, request: StoredScheduleRequest): unknown {
    const target = plane === 'assignment'
      ? { targetRoleAssignmentScheduleId: request.targetScheduleName ?? null, targetRoleAssignmentScheduleInstanceId: null }
      : { targetRoleEligibilityScheduleId: request.targetScheduleName ?? null, targetRoleEligibilityScheduleInstanceId: null };
    return {
      id: this.requestId(plane, request),
      name: request.name,
      type: `Microsoft.Authorization/${WIRE[plane].requests}`,
      properties: {
        ...target,
        scope: request.scope,
        roleDefinitionId: roleDefinitionIdFor(this.rbac.subscriptionId, request.roleGuid),
        principalId: request.principalId,
        principalType: request.principalType,
        requestType: request.requestType,
        status: request.status,
        approvalId: null,
        scheduleInfo: request.scheduleInfo ?? null,
        ticketInfo: { ticketNumber: null, ticketSystem: null },
        justification: request.justification ?? null,
        requestorId: request.requestorId,
        createdOn: request.createdOn,
        condition: request.condition ?? null,
        conditionVersion: request.conditionVersion ?? null,
        expandedProperties: this.expanded(request.scope, request.roleGuid, request.principalId, request.principalType),
      },
    };
  }

  private wireSchedule(plane: Plane, schedule: StoredSchedule): unknown {
    const request = this.requests(plane).find((candidate) => candidate.name === schedule.requestName);
    const requestLink = request ? this.requestId(plane, request) : null;
    const kind = plane === 'assignment'
      ? {
        roleAssignmentScheduleRequestId: requestLink,
        linkedRoleEligibilityScheduleId: schedule.linkedEligibilityName ? this.scheduleId('eligibility', { ...schedule, name: schedule.linkedEligibilityName }) : null,
        assignmentType: schedule.linkedEligibilityName ? 'Activated' : 'Assigned',
      }
      : { roleEligibilityScheduleRequestId: requestLink };
    return {
      id: this.scheduleId(plane, schedule),
      name: schedule.name,
      type: `Microsoft.Authorization/${WIRE[plane].schedules}`,
      properties: {
        scope: schedule.scope,
        roleDefinitionId: roleDefinitionIdFor(this.rbac.subscriptionId, schedule.roleGuid),
        principalId: schedule.principalId,
        principalType: schedule.principalType,
        ...kind,
        memberType: 'Direct',
        status: 'Provisioned',
        startDateTime: schedule.startDateTime,
        endDateTime: schedule.endDateTime ?? null,
        condition: null,
        conditionVersion: null,
        createdOn: schedule.createdOn,
        updatedOn: schedule.createdOn,
        expandedProperties: this.expanded(schedule.scope, schedule.roleGuid, schedule.principalId, schedule.principalType),
      },
    };
  }

  /** What every request shares: its body, name and role checked, the principal's type looked up. */
  private requestBase(caller: Caller, scope: string, name: string, body: unknown): { base: RequestBase; properties: Record<string, unknown> } | EmulatorResponse {
    const properties = (body as { properties?: Record<string, unknown> } | null | undefined)?.properties;
    if (!properties || typeof properties !== 'object') return invalidContent('The request content was invalid and could not be deserialized: properties are required.');
    if (!isGuid(name)) return invalidContent(`The request name '${name}' is not valid. It must be a GUID.`);
    const definition = this.rbac.resolveRole(properties.roleDefinitionId, scope);
    if ('status' in definition) return definition;
    if (!isGuid(properties.principalId)) return armError(400, 'InvalidPrincipalId', 'A valid principal ID must be provided.');
    const principalId = properties.principalId.toLowerCase();
    const principalType = this.rbac.resolvePrincipalType(principalId, undefined);
    if (typeof principalType !== 'string') return principalType;
    const condition = optionalText(properties.condition);
    const base: RequestBase = {
      name: name.toLowerCase(),
      scope: normalizeScope(scope),
      roleGuid: definition.name.toLowerCase(),
      principalId,
      principalType,
      requestorId: caller.objectId,
      createdOn: new Date().toISOString(),
      ...(optionalText(properties.justification) ? { justification: optionalText(properties.justification) } : {}),
      ...(condition ? { condition, conditionVersion: optionalText(properties.conditionVersion) ?? '2.0' } : {}),
      ...(properties.scheduleInfo ? { scheduleInfo: properties.scheduleInfo } : {}),
    };
    return { base, properties };
  }

  /** A retried PUT of the very same request answers as the first one did; the same name for other access is refused. */
  private repeated(plane: Plane, base: RequestBase, requestType: unknown): EmulatorResponse | undefined {
    const existing = this.requests(plane).find((request) => sameText(request.name, base.name));
    if (!existing) return undefined;
    const same = sameText(existing.scope, base.scope) && existing.requestType === requestType && existing.principalId === base.principalId && existing.roleGuid === base.roleGuid;
    return same ? ok(this.wireRequest(plane, existing), 201) : armError(409, 'RoleAssignmentScheduleRequestExists', `A ${WIRE[plane].requestLabel} named '${base.name}' already exists with other properties.`);
  }

  createRequest(caller: Caller, scope: string, name: string, body: unknown, path: string): EmulatorResponse {
    const requestType = (body as { properties?: { requestType?: unknown } } | null | undefined)?.properties?.requestType;
    const admin = requestType === 'AdminAssign' || requestType === 'AdminRemove';
    const self = requestType === 'SelfActivate' || requestType === 'SelfDeactivate';
    if (!admin && !self) return invalidContent(`The request type '${String(requestType)}' is not supported (AdminAssign, AdminRemove, SelfActivate, SelfDeactivate).`);
    // Administrators need the right to assign; a principal acting on its own eligibility needs none.
    if (admin) {
      const refused = this.rbac.guard(caller, requestType === 'AdminAssign' ? ACTIONS.writeAssignments : ACTIONS.deleteAssignments, scope, path);
      if (refused) return refused;
    }
    const read = this.requestBase(caller, scope, name, body);
    if ('status' in read) return read;
    const { base, properties } = read;
    if (self && !caller.principalIds.some((id) => sameText(id, base.principalId))) {
      return armError(403, 'AuthorizationFailed', `The client '${caller.displayName}' with object id '${caller.objectId}' may ${String(requestType)} only for itself, not for principal '${base.principalId}'.`);
    }
    const repeated = this.repeated('assignment', base, requestType);
    if (repeated) return repeated;
    if (requestType === 'AdminAssign') return this.assign('assignment', base, 'AdminAssign', MAX_ACTIVE_DURATION_MS);
    if (requestType === 'SelfActivate') return this.activate(caller, base, properties.linkedRoleEligibilityScheduleId);
    return this.revoke(base, requestType, properties.targetRoleAssignmentScheduleId);
  }

  /** Eligible assignments, made and ended by those who may assign the role. */
  createEligibilityRequest(caller: Caller, scope: string, name: string, body: unknown, path: string): EmulatorResponse {
    const requestType = (body as { properties?: { requestType?: unknown } } | null | undefined)?.properties?.requestType;
    if (requestType !== 'AdminAssign' && requestType !== 'AdminRemove') return invalidContent(`The request type '${String(requestType)}' is not supported for eligibility (AdminAssign, AdminRemove).`);
    const refused = this.rbac.guard(caller, requestType === 'AdminAssign' ? ACTIONS.writeAssignments : ACTIONS.deleteAssignments, scope, path);
    if (refused) return refused;
    const read = this.requestBase(caller, scope, name, body);
    if ('status' in read) return read;
    const { base, properties } = read;
    const repeated = this.repeated('eligibility', base, requestType);
    if (repeated) return repeated;
    if (requestType === 'AdminAssign') return this.assign('eligibility', base, 'AdminAssign', MAX_ELIGIBLE_DURATION_MS);
    const target = lastSegment(properties.targetRoleEligibilityScheduleId);
    const eligibility = this.openSchedules('eligibility').find((candidate) => this.sameAccess(candidate, base) && (!target || sameText(candidate.name, target)));
    if (!eligibility) return armError(400, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    eligibility.state = 'Ended';
    return this.record('eligibility', { ...base, requestType: 'AdminRemove', status: 'Revoked', targetScheduleName: eligibility.name });
  }

  private sameAccess(candidate: { principalId: string; roleGuid: string; scope: string }, base: RequestBase): boolean {
    return candidate.principalId === base.principalId && candidate.roleGuid === base.roleGuid && sameText(candidate.scope, base.scope);
  }

  private record(plane: Plane, request: StoredScheduleRequest): EmulatorResponse {
    this.requests(plane).push(request);
    this.store.save();
    return ok(this.wireRequest(plane, request), 201);
  }

  /** The nominal start and duration of a schedule as the request asks for them, or the policy's refusal. */
  private window(scheduleInfo: ScheduleInfoInput | undefined, maxMs: number): { start: number; durationMs: number } | EmulatorResponse {
    const now = Date.now();
    const start = scheduleInfo?.startDateTime === undefined || scheduleInfo.startDateTime === null ? now : Date.parse(String(scheduleInfo.startDateTime));
    if (Number.isNaN(start)) return invalidContent(`scheduleInfo.startDateTime '${String(scheduleInfo?.startDateTime)}' is not a date.`);
    const expiration = scheduleInfo?.expiration;
    let durationMs: number | undefined;
    if (expiration?.type === 'AfterDuration') durationMs = parsePimDuration(expiration.duration);
    else if (expiration?.type === 'AfterDateTime') durationMs = Date.parse(String(expiration.endDateTime)) - start;
    else return expirationRuleFailed();
    if (durationMs === undefined || Number.isNaN(durationMs)) return invalidContent('scheduleInfo.expiration needs a duration (AfterDuration) or an endDateTime (AfterDateTime).');
    if (durationMs < MIN_ACTIVE_DURATION_MS) return armError(400, 'ActiveDurationTooShort', 'The active duration is too short. The minimum is 5 minutes.');
    if (durationMs > maxMs) return expirationRuleFailed();
    return { start, durationMs };
  }

  private assign(plane: Plane, base: RequestBase, requestType: 'AdminAssign' | 'SelfActivate', maxMs: number, linkedEligibilityName?: string): EmulatorResponse {
    const window = this.window(base.scheduleInfo as ScheduleInfoInput | undefined, maxMs);
    if ('status' in window) return window;
    const taken = (plane === 'assignment' ? this.rbac.findMatching(base.principalId, base.roleGuid, base.scope) : undefined)
      ?? this.openSchedules(plane).find((schedule) => this.sameAccess(schedule, base));
    if (taken) return armError(400, 'RoleAssignmentExists', 'The Role assignment already exists.');
    const now = Date.now();
    const { start, durationMs } = window;
    // Offsets from now are compressed, so a start in the past still ends at start + duration.
    const schedule: StoredSchedule = {
      name: randomUUID(),
      scope: base.scope,
      roleGuid: base.roleGuid,
      principalId: base.principalId,
      principalType: base.principalType,
      requestName: base.name,
      startDateTime: new Date(start).toISOString(),
      endDateTime: new Date(start + durationMs).toISOString(),
      activateAtMs: now + Math.max(0, start - now) / this.timeScale,
      expireAtMs: now + Math.max(0, start + durationMs - now) / this.timeScale,
      state: 'Pending',
      createdOn: base.createdOn,
      ...(linkedEligibilityName ? { linkedEligibilityName } : {}),
    };
    this.schedules(plane).push(schedule);
    this.requests(plane).push({ ...base, requestType, status: 'Provisioned', targetScheduleName: schedule.name });
    this.sweep(now);
    this.store.save();
    return ok(this.wireRequest(plane, this.requests(plane)[this.requests(plane).length - 1]), 201);
  }

  /** An activation needs an eligible assignment of the caller (or a group of its) for the role at or above the scope. */
  private activate(caller: Caller, base: RequestBase, linkedId: unknown): EmulatorResponse {
    const linked = lastSegment(linkedId);
    const eligibility = this.openSchedules('eligibility').find((candidate) =>
      caller.principalIds.some((id) => sameText(id, candidate.principalId))
      && candidate.roleGuid === base.roleGuid
      && isAtOrAbove(candidate.scope, base.scope)
      && (!linked || sameText(candidate.name, linked)));
    if (!eligibility) return armError(400, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    return this.assign('assignment', base, 'SelfActivate', MAX_ACTIVATION_MS, eligibility.name);
  }

  /** Ends the principal's running or due access at exactly this scope (or the schedule named), or a plain assignment of it. */
  private revoke(base: RequestBase, requestType: 'AdminRemove' | 'SelfDeactivate', targetScheduleId: unknown): EmulatorResponse {
    const targetName = lastSegment(targetScheduleId);
    const schedule = this.openSchedules().find((candidate) => this.sameAccess(candidate, base) && (!targetName || sameText(candidate.name, targetName))
      && (requestType === 'AdminRemove' || candidate.linkedEligibilityName !== undefined));
    const standing: StoredAssignment | undefined = targetName || requestType === 'SelfDeactivate' ? undefined : this.rbac.findMatching(base.principalId, base.roleGuid, base.scope);
    if (!schedule && !standing) return armError(400, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    if (schedule) this.endSchedule(schedule);
    else if (standing) this.rbac.remove(standing);
    return this.record('assignment', { ...base, requestType, status: 'Revoked', ...(schedule ? { targetScheduleName: schedule.name } : {}) });
  }

  private endSchedule(schedule: StoredSchedule): void {
    const assignment = this.store.data.roleAssignments.find((candidate) => candidate.name === schedule.assignmentName);
    if (assignment) this.rbac.remove(assignment);
    schedule.state = 'Ended';
  }

  /**
   * Cancels a request whose schedule has not started yet: its requestor may, and so may whoever may
   * assign at the scope. One already in effect is ended with AdminRemove instead.
   */
  cancelRequest(plane: Plane, caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const request = this.requests(plane).find((candidate) => sameText(candidate.name, name) && sameText(candidate.scope, scope));
    if (!request) return armError(404, WIRE[plane].requestCode, `The ${WIRE[plane].requestLabel} '${name}' is not found.`);
    if (!sameText(request.requestorId, caller.objectId)) {
      const refused = this.rbac.guard(caller, ACTIONS.writeAssignments, scope, `${path}/cancel`);
      if (refused) return refused;
    }
    const schedule = this.schedules(plane).find((candidate) => candidate.name === request.targetScheduleName);
    const pending = request.status !== 'Revoked' && request.status !== 'Canceled' && schedule?.state === 'Pending';
    if (!pending) return armError(400, 'RoleAssignmentScheduleRequestCannotBeCanceled', `The ${WIRE[plane].requestLabel} '${name}' is '${request.status}' and cannot be canceled any more; remove the access with an AdminRemove request.`);
    schedule.state = 'Ended';
    request.status = 'Canceled';
    this.store.save();
    return { status: 200 };
  }

  /** Reads need `roleAssignments/read` at the scope, except a caller's own (`asTarget()`, `asRequestor()`, `assignedTo('{own id}')`). */
  private guardRead(caller: Caller, scope: string, path: string, ownOnly: boolean): EmulatorResponse | undefined {
    return ownOnly ? undefined : this.rbac.guard(caller, ACTIONS.readAssignments, scope, path);
  }

  getRequest(plane: Plane, caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const found = this.requests(plane).find((request) => sameText(request.name, name) && sameText(request.scope, scope));
    const own = found !== undefined && (sameText(found.requestorId, caller.objectId) || caller.principalIds.some((id) => sameText(id, found.principalId)));
    const refused = this.guardRead(caller, scope, path, own);
    if (refused) return refused;
    return found ? ok(this.wireRequest(plane, found)) : armError(404, WIRE[plane].requestCode, `The ${WIRE[plane].requestLabel} '${name}' is not found.`);
  }

  listRequests(plane: Plane, caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | unknown[] {
    const filter = parseListFilter(filterText, PIM_CLAUSES);
    if (!filter) return badFilter(filterText, PIM_CLAUSES);
    const refused = this.guardRead(caller, scope, path, filter.asTarget || filter.asRequestor || sameText(filter.assignedTo ?? '', caller.objectId));
    if (refused) return refused;
    return this.requests(plane)
      .filter((request) => listedAt(request.scope, scope, filter) && passesPrincipalClauses(filter, caller, request.principalId, request.requestorId))
      .map((request) => this.wireRequest(plane, request));
  }

  /** Only schedules that are due or running are listed or found: an ended one is gone, as in PIM. */
  getSchedule(plane: Plane, caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const found = this.openSchedules(plane).find((schedule) => sameText(schedule.name, name) && sameText(schedule.scope, scope));
    const refused = this.guardRead(caller, scope, path, found !== undefined && caller.principalIds.some((id) => sameText(id, found.principalId)));
    if (refused) return refused;
    return found ? ok(this.wireSchedule(plane, found)) : armError(404, WIRE[plane].scheduleCode, `The ${WIRE[plane].scheduleLabel} '${name}' is not found.`);
  }

  listSchedules(plane: Plane, caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | unknown[] {
    const filter = parseListFilter(filterText, PIM_CLAUSES);
    if (!filter) return badFilter(filterText, PIM_CLAUSES);
    const refused = this.guardRead(caller, scope, path, filter.asTarget || sameText(filter.assignedTo ?? '', caller.objectId));
    if (refused) return refused;
    return this.openSchedules(plane)
      .filter((schedule) => listedAt(schedule.scope, scope, filter) && passesPrincipalClauses(filter, caller, schedule.principalId))
      .map((schedule) => this.wireSchedule(plane, schedule));
  }

  /** Starts what is due and ends what has run out, eligibility included. True when anything changed (and was saved). */
  sweep(now: number = Date.now()): boolean {
    let changed = false;
    for (const eligibility of this.store.data.eligibilities) {
      if (eligibility.state === 'Pending' && now >= eligibility.activateAtMs) {
        eligibility.state = 'Active';
        changed = true;
      }
      if (eligibility.state === 'Active' && eligibility.expireAtMs !== undefined && now >= eligibility.expireAtMs) {
        eligibility.state = 'Ended';
        changed = true;
      }
    }
    for (const schedule of this.store.data.schedules) {
      if (schedule.state === 'Pending' && now >= schedule.activateAtMs) {
        changed = true;
        if (this.rbac.findMatching(schedule.principalId, schedule.roleGuid, schedule.scope)) {
          schedule.state = 'Ended';
          continue;
        }
        const stamp = new Date(now).toISOString();
        const assignment: StoredAssignment = {
          name: randomUUID(),
          scope: schedule.scope,
          roleGuid: schedule.roleGuid,
          principalId: schedule.principalId,
          principalType: schedule.principalType,
          createdOn: stamp,
          updatedOn: stamp,
          scheduleName: schedule.name,
        };
        this.rbac.insert(assignment);
        schedule.assignmentName = assignment.name;
        schedule.state = 'Active';
      }
      if (schedule.state === 'Active' && schedule.expireAtMs !== undefined && now >= schedule.expireAtMs) {
        changed = true;
        this.endSchedule(schedule);
      }
    }
    if (changed) this.store.save();
    return changed;
  }
}
