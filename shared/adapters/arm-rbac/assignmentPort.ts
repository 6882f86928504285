import type { AuthorizationManagementClient, RoleAssignmentSchedule } from '@azure/arm-authorization';
import { v5 as uuidv5 } from 'uuid';
import type { AssignmentPort, HsmAssignment } from '../../services/ports';
import { isArmError, isArmNotFound } from './errors';
import { armScope, nameOf, roleDefinitionIdFor, roleGuidOf, sameScope, sdkScope } from './ids';
import { responseRecorder, withRequestId } from '../responseRecorder';

export type ArmPrincipalType = 'User' | 'Group' | 'ServicePrincipal' | 'ForeignGroup' | 'Device';

/** A grant on an ARM scope. `durationIso` (ISO 8601, e.g. `PT1H`) is how long PIM keeps it; plain assignments ignore it. */
export type ArmAssignment = HsmAssignment;

export interface ArmAssignmentPortOptions {
  subscriptionId: string;
  /**
   * `assignment` (default): plain role assignments, removed by the service at expiry.
   * `pim`: AdminAssign schedule requests with an AfterDuration expiration; PIM removes them itself.
   */
  mode?: 'assignment' | 'pim';
  /** The principal's type, when known: ARM then skips its directory lookup (and its replication delay). */
  principalTypeOf?: (principalId: string) => ArmPrincipalType | undefined;
  /** Written on plain assignments, so that the portal shows who made them. */
  description?: string;
  /** The justification of PIM requests. */
  justification?: string;
  /** The PIM duration used when a grant names none. */
  defaultDurationIso?: string;
}

type Outcome = { outcome: 'created' | 'existed' | 'covered'; hsmRequestId?: string };

/** Fixed namespace of the names of AdminRemove requests. Never change it: a retried removal must find its own name. */
const REMOVAL_NAMESPACE = '6b1f0b52-3f4e-5a8c-9d27-0c4e8a71f5d3';

/**
 * The workflow's assignment port for Azure RBAC scopes (subscription, resource group, resource such as
 * the Managed HSM itself), through `AuthorizationManagementClient` as the service's own identity.
 * Names are the caller's deterministic ones: in PIM mode, the schedule request's name.
 */
export class ArmAssignmentPort implements AssignmentPort {
  private readonly mode: 'assignment' | 'pim';

  constructor(
    private readonly client: AuthorizationManagementClient,
    private readonly options: ArmAssignmentPortOptions,
  ) {
    this.mode = options.mode ?? 'assignment';
  }

  create(assignment: ArmAssignment): Promise<Outcome> {
    return this.mode === 'pim' ? this.createSchedule(assignment) : this.createAssignment(assignment);
  }

  remove(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    return this.mode === 'pim' ? this.removeSchedule(scope, name) : this.removeAssignment(scope, name);
  }

  /** Assignments made exactly at `scope` for the principal; in PIM mode, those PIM runs carry their request's name. */
  async listFor(scope: string, principalId: string): Promise<HsmAssignment[]> {
    const filter = `principalId eq '${principalId.toLowerCase()}'`;
    const found: HsmAssignment[] = [];
    for await (const assignment of this.client.roleAssignments.listForScope(sdkScope(scope), { filter })) {
      if (!assignment.name || !assignment.scope || !assignment.roleDefinitionId || !sameScope(assignment.scope, scope)) continue;
      found.push({ name: assignment.name, scope: armScope(assignment.scope), roleId: roleGuidOf(assignment.roleDefinitionId), principalId: principalId.toLowerCase() });
    }
    if (this.mode !== 'pim') return found;
    const scheduled = await this.schedulesFor(scope, principalId);
    const byRequest = scheduled.map((schedule) => ({
      name: nameOf(schedule.roleAssignmentScheduleRequestId as string),
      scope: armScope(schedule.scope as string),
      roleId: roleGuidOf(schedule.roleDefinitionId as string),
      principalId: principalId.toLowerCase(),
    }));
    // One principal holds a role at a scope once: the assignment a schedule runs is the schedule's.
    const plain = found.filter((assignment) => !byRequest.some((schedule) => schedule.roleId === assignment.roleId));
    return [...plain, ...byRequest];
  }

  private roleDefinitionId(roleGuid: string): string {
    return roleDefinitionIdFor(this.options.subscriptionId, roleGuid);
  }

  private async createAssignment(assignment: ArmAssignment): Promise<Outcome> {
    const recorder = responseRecorder();
    const scope = sdkScope(assignment.scope);
    try {
      const existing = await this.client.roleAssignments.get(scope, assignment.name, { onResponse: recorder.onResponse });
      if (this.sameAccess(existing.roleDefinitionId, existing.principalId, assignment)) return withRequestId({ outcome: 'existed' }, recorder);
      throw new Error(`role assignment ${assignment.name} exists at ${armScope(assignment.scope)} with another role or principal`);
    } catch (error) {
      if (!isArmNotFound(error)) throw error;
    }
    const principalType = this.options.principalTypeOf?.(assignment.principalId);
    try {
      await this.client.roleAssignments.create(
        scope,
        assignment.name,
        {
          roleDefinitionId: this.roleDefinitionId(assignment.roleId),
          principalId: assignment.principalId,
          ...(principalType ? { principalType } : {}),
          ...(this.options.description ? { description: this.options.description } : {}),
        },
        { onResponse: recorder.onResponse },
      );
      // 200 rather than 201: another instance made this very assignment between our read and our write.
      return withRequestId({ outcome: recorder.lastStatus() === 200 ? 'existed' : 'created' }, recorder);
    } catch (error) {
      // The principal already holds this role at this scope (standing, or another grant): nothing to add.
      if (isArmError(error, 'RoleAssignmentExists')) return withRequestId({ outcome: 'covered' }, recorder);
      throw error;
    }
  }

  private async removeAssignment(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    const recorder = responseRecorder();
    await this.client.roleAssignments.delete(sdkScope(scope), name, { onResponse: recorder.onResponse });
    return withRequestId({}, recorder);
  }

  private async createSchedule(assignment: ArmAssignment): Promise<Outcome> {
    const recorder = responseRecorder();
    const scope = sdkScope(assignment.scope);
    try {
      const existing = await this.client.roleAssignmentScheduleRequests.get(scope, assignment.name, { onResponse: recorder.onResponse });
      if (existing.requestType === 'AdminAssign' && this.sameAccess(existing.roleDefinitionId, existing.principalId, assignment)) return withRequestId({ outcome: 'existed' }, recorder);
      throw new Error(`role assignment schedule request ${assignment.name} exists at ${armScope(assignment.scope)} for other access`);
    } catch (error) {
      if (!isArmNotFound(error)) throw error;
    }
    const duration = assignment.durationIso ?? this.options.defaultDurationIso;
    if (!duration) throw new Error(`A PIM grant needs a duration: ${assignment.name} names none and there is no default`);
    try {
      await this.client.roleAssignmentScheduleRequests.create(
        scope,
        assignment.name,
        {
          principalId: assignment.principalId,
          roleDefinitionId: this.roleDefinitionId(assignment.roleId),
          requestType: 'AdminAssign',
          scheduleInfo: { startDateTime: new Date(), expiration: { type: 'AfterDuration', duration } },
          ...(this.options.justification ? { justification: this.options.justification } : {}),
        },
        { onResponse: recorder.onResponse },
      );
      return withRequestId({ outcome: 'created' }, recorder);
    } catch (error) {
      if (isArmError(error, 'RoleAssignmentExists')) return withRequestId({ outcome: 'covered' }, recorder);
      throw error;
    }
  }

  /**
   * Ends the schedule our request started, if it still runs: an AdminRemove aimed at that schedule,
   * so a standing assignment of the same access is never what goes.
   */
  private async removeSchedule(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    const recorder = responseRecorder();
    let request;
    try {
      request = await this.client.roleAssignmentScheduleRequests.get(sdkScope(scope), name, { onResponse: recorder.onResponse });
    } catch (error) {
      if (isArmNotFound(error)) return withRequestId({}, recorder);
      throw error;
    }
    if (!request.principalId || !request.roleDefinitionId) throw new Error(`role assignment schedule request ${name} names no principal or role`);
    const schedule = (await this.schedulesFor(scope, request.principalId)).find((candidate) => nameOf(candidate.roleAssignmentScheduleRequestId as string).toLowerCase() === name.toLowerCase());
    if (!schedule?.name) return withRequestId({}, recorder);
    try {
      await this.client.roleAssignmentScheduleRequests.create(
        sdkScope(scope),
        uuidv5(`${armScope(scope).toLowerCase()}\n${name.toLowerCase()}`, REMOVAL_NAMESPACE),
        {
          principalId: request.principalId,
          roleDefinitionId: this.roleDefinitionId(roleGuidOf(request.roleDefinitionId)),
          requestType: 'AdminRemove',
          targetRoleAssignmentScheduleId: schedule.name,
          ...(this.options.justification ? { justification: this.options.justification } : {}),
        },
        { onResponse: recorder.onResponse },
      );
    } catch (error) {
      // It ran out between our read and our request: gone either way.
      if (!isArmError(error, 'RoleAssignmentDoesNotExist')) throw error;
    }
    return withRequestId({}, recorder);
  }

  /** PIM schedules due or running exactly at `scope` for the principal, each linked to the request that made it. */
  private async schedulesFor(scope: string, principalId: string): Promise<RoleAssignmentSchedule[]> {
    const schedules: RoleAssignmentSchedule[] = [];
    for await (const schedule of this.client.roleAssignmentSchedules.listForScope(sdkScope(scope), { filter: `principalId eq '${principalId.toLowerCase()}'` })) {
      if (schedule.scope && schedule.roleAssignmentScheduleRequestId && schedule.roleDefinitionId && sameScope(schedule.scope, scope)) schedules.push(schedule);
    }
    return schedules;
  }

  private sameAccess(roleDefinitionId: string | undefined, principalId: string | undefined, assignment: HsmAssignment): boolean {
    return roleGuidOf(roleDefinitionId ?? '') === assignment.roleId.toLowerCase() && (principalId ?? '').toLowerCase() === assignment.principalId.toLowerCase();
  }
}
