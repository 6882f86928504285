import type { AssignmentPort, HsmAssignment } from '../../services/ports';
import type { HsmAccessControlClient } from './accessControlClient';
import { isHsmError } from './errors';
import { responseRecorder, withRequestId } from '../responseRecorder';
import { roleDefinitionIdFor, roleGuidOf } from './models';


/** The workflow's view of one HSM's role assignments, through the RBAC client as the service's identity. */
export class HsmAssignmentPort implements AssignmentPort {
  constructor(private readonly client: HsmAccessControlClient) {}

  async create(assignment: HsmAssignment): Promise<{ outcome: 'created' | 'existed' | 'covered'; hsmRequestId?: string }> {
    const roleDefinitionId = roleDefinitionIdFor(assignment.roleId);
    const recorder = responseRecorder();
    try {
      const existing = await this.client.getRoleAssignment(assignment.scope, assignment.name, { onResponse: recorder.onResponse });
      if (roleGuidOf(existing.properties.roleDefinitionId) === assignment.roleId.toLowerCase() && existing.properties.principalId.toLowerCase() === assignment.principalId.toLowerCase()) {
        return withRequestId({ outcome: 'existed' as const }, recorder);
      }
      throw new Error(`assignment ${assignment.name} exists on the HSM with another role or principal`);
    } catch (error) {
      if (!isHsmError(error, 'RoleAssignmentNotFound')) throw error;
    }
    try {
      await this.client.createRoleAssignment(assignment.scope, assignment.name, roleDefinitionId, assignment.principalId, { onResponse: recorder.onResponse });
      return withRequestId({ outcome: 'created' as const }, recorder);
    } catch (error) {
      // The principal already holds this role at this scope (standing, or another grant): nothing to add.
      if (isHsmError(error, 'MatchingRoleAssignmentExists')) return withRequestId({ outcome: 'covered' as const }, recorder);
      throw error;
    }
  }

  async remove(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    const recorder = responseRecorder();
    await this.client.deleteRoleAssignment(scope, name, { onResponse: recorder.onResponse });
    return withRequestId({}, recorder);
  }

  async listFor(scope: string, principalId: string): Promise<HsmAssignment[]> {
    const found: HsmAssignment[] = [];
    for await (const assignment of this.client.listRoleAssignments(scope, { filter: `principalId eq '${principalId}'` })) {
      const assignedAt = assignment.properties.scope ?? scope;
      if (assignedAt !== scope) continue;
      found.push({ name: assignment.name, scope: assignedAt, roleId: roleGuidOf(assignment.properties.roleDefinitionId), principalId: assignment.properties.principalId.toLowerCase() });
    }
    return found;
  }
}
