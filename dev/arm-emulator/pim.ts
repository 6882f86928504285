import { randomUUID } from 'node:crypto';
import { parseIsoDuration } from '../../shared/domain/duration';
import { isGuid, normalizeScope, roleDefinitionIdFor, sameText, type StoredAssignment } from './model';
import { ACTIONS, badFilter, listedAt, parseAssignmentFilter, type ArmRbac } from './rbac';
import { armError, invalidContent, ok, type Caller, type EmulatorResponse } from './responses';
import type { ArmStateStore, StoredSchedule, StoredScheduleRequest } from './state';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
/** PIM refuses active assignments shorter than five minutes. */
export const MIN_ACTIVE_DURATION_MS = 5 * MINUTE_MS;
/** The default role setting: active assignments expire after at most 180 days, and must expire. */
export const MAX_ACTIVE_DURATION_MS = 180 * DAY_MS;

interface ScheduleInfoInput {
  startDateTime?: unknown;
  expiration?: { type?: unknown; duration?: unknown; endDateTime?: unknown };
}

function expirationRuleFailed(): EmulatorResponse {
  return armError(400, 'RoleAssignmentRequestPolicyValidationFailed', 'The following policy rules failed: ["ExpirationRule"]');
}

/**
 * Privileged Identity Management for Azure resource roles: AdminAssign and AdminRemove schedule
 * requests. An AdminAssign makes a schedule that creates the role assignment at its start and
 * removes it at its end, with no call from the client; `timeScale` compresses the wall-clock time
 * it waits (nominal times in answers are unchanged), so tests can watch a five-minute grant end.
 */
export class Pim {
  constructor(
    private readonly store: ArmStateStore,
    private readonly rbac: ArmRbac,
    private readonly timeScale: number,
  ) {
    if (!(timeScale > 0)) throw new Error('timeScale must be positive');
  }

  private requestId(request: StoredScheduleRequest): string {
    return `${request.scope}/providers/Microsoft.Authorization/RoleAssignmentScheduleRequests/${request.name}`;
  }

  private expanded(scope: string, roleGuid: string, principalId: string, principalType: string): unknown {
    const definition = this.rbac.findRoleDefinition(roleGuid);
    return {
      scope: { id: scope, type: scope.split('/').length <= 3 ? 'subscription' : scope.split('/').length <= 5 ? 'resourcegroup' : 'resource' },
      roleDefinition: { id: roleDefinitionIdFor(this.rbac.subscriptionId, roleGuid), displayName: definition?.properties.roleName, type: definition?.properties.type },
      principal: { id: principalId, type: principalType },
    };
  }

  private wireRequest(request: StoredScheduleRequest): unknown {
    return {
      id: this.requestId(request),
      name: request.name,
      type: 'Microsoft.Authorization/RoleAssignmentScheduleRequests',
      properties: {
        targetRoleAssignmentScheduleId: request.targetScheduleName ?? null,
        targetRoleAssignmentScheduleInstanceId: null,
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
        condition: null,
        conditionVersion: null,
        expandedProperties: this.expanded(request.scope, request.roleGuid, request.principalId, request.principalType),
      },
    };
  }

  private wireSchedule(schedule: StoredSchedule): unknown {
    const request = this.store.data.scheduleRequests.find((candidate) => candidate.name === schedule.requestName);
    return {
      id: `${schedule.scope}/providers/Microsoft.Authorization/RoleAssignmentSchedules/${schedule.name}`,
      name: schedule.name,
      type: 'Microsoft.Authorization/RoleAssignmentSchedules',
      properties: {
        scope: schedule.scope,
        roleDefinitionId: roleDefinitionIdFor(this.rbac.subscriptionId, schedule.roleGuid),
        principalId: schedule.principalId,
        principalType: schedule.principalType,
        roleAssignmentScheduleRequestId: request ? this.requestId(request) : null,
        linkedRoleEligibilityScheduleId: null,
        assignmentType: 'Assigned',
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

  private openSchedules(): StoredSchedule[] {
    return this.store.data.schedules.filter((schedule) => schedule.state !== 'Ended');
  }

  createRequest(caller: Caller, scope: string, name: string, body: unknown, path: string): EmulatorResponse {
    const properties = (body as { properties?: Record<string, unknown> } | null | undefined)?.properties;
    if (!properties || typeof properties !== 'object') return invalidContent('The request content was invalid and could not be deserialized: properties are required.');
    const requestType = properties.requestType;
    if (requestType !== 'AdminAssign' && requestType !== 'AdminRemove') {
      return invalidContent(`The request type '${String(requestType)}' is not supported by the emulator (AdminAssign, AdminRemove).`);
    }
    const refused = this.rbac.guard(caller, requestType === 'AdminAssign' ? ACTIONS.writeAssignments : ACTIONS.deleteAssignments, scope, path);
    if (refused) return refused;
    if (!isGuid(name)) return invalidContent(`The role assignment schedule request name '${name}' is not valid. It must be a GUID.`);
    const definition = this.rbac.resolveRole(properties.roleDefinitionId, scope);
    if ('status' in definition) return definition;
    if (!isGuid(properties.principalId)) return armError(400, 'InvalidPrincipalId', 'A valid principal ID must be provided.');
    const principalId = properties.principalId.toLowerCase();
    const principalType = this.rbac.resolvePrincipalType(principalId, undefined);
    if (typeof principalType !== 'string') return principalType;
    const roleGuid = definition.name.toLowerCase();

    const existing = this.store.data.scheduleRequests.find((request) => sameText(request.name, name));
    if (existing) {
      // A retried PUT of the very same request answers as the first one did.
      const same = sameText(existing.scope, scope) && existing.requestType === requestType && existing.principalId === principalId && existing.roleGuid === roleGuid;
      return same ? ok(this.wireRequest(existing), 201) : armError(409, 'RoleAssignmentScheduleRequestExists', `A role assignment schedule request named '${name}' already exists with other properties.`);
    }
    const base = {
      name: name.toLowerCase(),
      scope: normalizeScope(scope),
      roleGuid,
      principalId,
      principalType,
      requestorId: caller.objectId,
      createdOn: new Date().toISOString(),
      ...(typeof properties.justification === 'string' ? { justification: properties.justification } : {}),
    };
    return requestType === 'AdminAssign'
      ? this.assign(base, properties.scheduleInfo as ScheduleInfoInput | undefined)
      : this.revoke(base, properties.targetRoleAssignmentScheduleId);
  }

  private assign(base: Omit<StoredScheduleRequest, 'requestType' | 'status'>, scheduleInfo: ScheduleInfoInput | undefined): EmulatorResponse {
    const now = Date.now();
    const start = scheduleInfo?.startDateTime === undefined || scheduleInfo.startDateTime === null ? now : Date.parse(String(scheduleInfo.startDateTime));
    if (Number.isNaN(start)) return invalidContent(`scheduleInfo.startDateTime '${String(scheduleInfo?.startDateTime)}' is not a date.`);
    const expiration = scheduleInfo?.expiration;
    let durationMs: number | undefined;
    if (expiration?.type === 'AfterDuration') durationMs = parseIsoDuration(expiration.duration);
    else if (expiration?.type === 'AfterDateTime') durationMs = Date.parse(String(expiration.endDateTime)) - start;
    else return expirationRuleFailed();
    if (durationMs === undefined || Number.isNaN(durationMs)) return invalidContent('scheduleInfo.expiration needs a duration (AfterDuration) or an endDateTime (AfterDateTime).');
    if (durationMs < MIN_ACTIVE_DURATION_MS) return armError(400, 'ActiveDurationTooShort', 'The active duration is too short. The minimum is 5 minutes.');
    if (durationMs > MAX_ACTIVE_DURATION_MS) return expirationRuleFailed();
    const taken = this.rbac.findMatching(base.principalId, base.roleGuid, base.scope)
      ?? this.openSchedules().find((schedule) => schedule.principalId === base.principalId && schedule.roleGuid === base.roleGuid && sameText(schedule.scope, base.scope));
    if (taken) return armError(400, 'RoleAssignmentExists', 'The Role assignment already exists.');

    // Offsets from now are compressed, so a start in the past still ends at start + duration.
    const activateAtMs = now + Math.max(0, start - now) / this.timeScale;
    const expireAtMs = now + Math.max(0, start + durationMs - now) / this.timeScale;
    const schedule: StoredSchedule = {
      name: randomUUID(),
      scope: base.scope,
      roleGuid: base.roleGuid,
      principalId: base.principalId,
      principalType: base.principalType,
      requestName: base.name,
      startDateTime: new Date(start).toISOString(),
      endDateTime: new Date(start + durationMs).toISOString(),
      activateAtMs,
      expireAtMs,
      state: 'Pending',
      createdOn: base.createdOn,
    };
    const request: StoredScheduleRequest = { ...base, requestType: 'AdminAssign', status: 'Provisioned', targetScheduleName: schedule.name, ...(scheduleInfo ? { scheduleInfo } : {}) };
    this.store.data.schedules.push(schedule);
    this.store.data.scheduleRequests.push(request);
    this.sweep(now);
    this.store.save();
    return ok(this.wireRequest(request), 201);
  }

  /** Ends the principal's running or due access at exactly this scope, or the schedule named. */
  private revoke(base: Omit<StoredScheduleRequest, 'requestType' | 'status'>, targetScheduleId: unknown): EmulatorResponse {
    const targetName = typeof targetScheduleId === 'string' && targetScheduleId !== '' ? targetScheduleId.slice(targetScheduleId.lastIndexOf('/') + 1) : undefined;
    const matches = (candidate: { principalId: string; roleGuid: string; scope: string }): boolean =>
      candidate.principalId === base.principalId && candidate.roleGuid === base.roleGuid && sameText(candidate.scope, base.scope);
    const schedule = this.openSchedules().find((candidate) => matches(candidate) && (!targetName || sameText(candidate.name, targetName)));
    const standing: StoredAssignment | undefined = targetName ? undefined : this.rbac.findMatching(base.principalId, base.roleGuid, base.scope);
    if (!schedule && !standing) return armError(400, 'RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    if (schedule) {
      const assignment = this.store.data.roleAssignments.find((candidate) => candidate.name === schedule.assignmentName);
      if (assignment) this.rbac.remove(assignment);
      schedule.state = 'Ended';
    } else if (standing) {
      this.rbac.remove(standing);
    }
    const request: StoredScheduleRequest = { ...base, requestType: 'AdminRemove', status: 'Revoked', ...(schedule ? { targetScheduleName: schedule.name } : {}) };
    this.store.data.scheduleRequests.push(request);
    this.store.save();
    return ok(this.wireRequest(request), 201);
  }

  getRequest(caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const refused = this.rbac.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const found = this.store.data.scheduleRequests.find((request) => sameText(request.name, name) && sameText(request.scope, scope));
    return found ? ok(this.wireRequest(found)) : armError(404, 'RoleAssignmentScheduleRequestNotFound', `The role assignment schedule request '${name}' is not found.`);
  }

  listRequests(caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | unknown[] {
    const refused = this.rbac.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const filter = parseAssignmentFilter(filterText);
    if (!filter) return badFilter(filterText);
    return this.store.data.scheduleRequests
      .filter((request) => listedAt(request.scope, scope, filter) && (!filter.principalId || request.principalId === filter.principalId))
      .map((request) => this.wireRequest(request));
  }

  /** Only schedules that are due or running are listed or found: an ended one is gone, as in PIM. */
  getSchedule(caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const refused = this.rbac.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const found = this.openSchedules().find((schedule) => sameText(schedule.name, name) && sameText(schedule.scope, scope));
    return found ? ok(this.wireSchedule(found)) : armError(404, 'RoleAssignmentScheduleNotFound', `The role assignment schedule '${name}' is not found.`);
  }

  listSchedules(caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | unknown[] {
    const refused = this.rbac.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const filter = parseAssignmentFilter(filterText);
    if (!filter) return badFilter(filterText);
    return this.openSchedules()
      .filter((schedule) => listedAt(schedule.scope, scope, filter) && (!filter.principalId || schedule.principalId === filter.principalId))
      .map((schedule) => this.wireSchedule(schedule));
  }

  /** Starts what is due and ends what has run out. True when anything changed (and was saved). */
  sweep(now: number = Date.now()): boolean {
    let changed = false;
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
        const assignment = this.store.data.roleAssignments.find((candidate) => candidate.name === schedule.assignmentName);
        if (assignment) this.rbac.remove(assignment);
        schedule.state = 'Ended';
      }
    }
    if (changed) this.store.save();
    return changed;
  }
}
