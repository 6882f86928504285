import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { ArmInventoryPort } from '../../services/armReconciliation';
import type { ObservedArmAssignment } from '../../domain';
import { armScope, roleDefinitionIdFor, roleGuidOf, sdkScope } from './ids';
import { responseRecorder } from '../responseRecorder';

/** Azure role assignments on the governed scopes, read and repaired as the service's own identity. */
export class ArmInventory implements ArmInventoryPort {
  constructor(
    private readonly client: AuthorizationManagementClient,
    private readonly subscriptionId: string,
  ) {}

  /** `atScope()`: the assignments at the scope and those inherited from above it, none from below. */
  async listAt(scope: string): Promise<ObservedArmAssignment[]> {
    const found: ObservedArmAssignment[] = [];
    for await (const assignment of this.client.roleAssignments.listForScope(sdkScope(scope), { filter: 'atScope()' })) {
      if (!assignment.name || !assignment.scope || !assignment.roleDefinitionId || !assignment.principalId) continue;
      found.push({
        name: assignment.name,
        scope: armScope(assignment.scope),
        roleId: roleGuidOf(assignment.roleDefinitionId),
        principalId: assignment.principalId.toLowerCase(),
        ...(assignment.principalType ? { principalType: assignment.principalType } : {}),
      });
    }
    return found;
  }

  async create(assignment: ObservedArmAssignment): Promise<{ requestId?: string }> {
    const recorder = responseRecorder();
    await this.client.roleAssignments.create(
      sdkScope(assignment.scope),
      assignment.name,
      {
        roleDefinitionId: roleDefinitionIdFor(this.subscriptionId, assignment.roleId),
        principalId: assignment.principalId,
        ...(assignment.principalType ? { principalType: assignment.principalType } : {}),
        description: 'Standing assignment of the hsm-access-governor policy',
      },
      { onResponse: recorder.onResponse },
    );
    const requestId = recorder.lastRequestId();
    return requestId ? { requestId } : {};
  }

  async remove(scope: string, name: string): Promise<{ requestId?: string }> {
    const recorder = responseRecorder();
    await this.client.roleAssignments.delete(sdkScope(scope), name, { onResponse: recorder.onResponse });
    const requestId = recorder.lastRequestId();
    return requestId ? { requestId } : {};
  }
}
