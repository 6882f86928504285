import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import { roleGuidOf, sdkScope } from './ids';

export interface ArmRoleDefinitionRef {
  /** As ARM returns it at the scope: `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`. */
  id: string;
  guid: string;
  roleName: string;
  roleType: string;
}

/** An Azure role by name ("Managed HSM Contributor"), as ARM lists it at a scope; undefined when there is none. */
export async function findRoleDefinitionByName(client: AuthorizationManagementClient, scope: string, roleName: string): Promise<ArmRoleDefinitionRef | undefined> {
  const filter = `roleName eq '${roleName.replace(/'/g, "''")}'`;
  for await (const definition of client.roleDefinitions.list(sdkScope(scope), { filter })) {
    if (!definition.id || !definition.roleName) continue;
    return { id: definition.id, guid: roleGuidOf(definition.id), roleName: definition.roleName, roleType: definition.roleType ?? '' };
  }
  return undefined;
}

/** The GUID of an Azure role by name; fails with a clear message when ARM does not know the role at the scope. */
export async function resolveRoleGuid(client: AuthorizationManagementClient, scope: string, roleName: string): Promise<string> {
  const found = await findRoleDefinitionByName(client, scope, roleName);
  if (!found) throw new Error(`Azure role '${roleName}' is not defined at ${scope}`);
  return found.guid;
}
