import { actionMatches, type RoleDefinitionOf } from '../emulator-common/model';
import builtInRoleDefinitions from './builtin-roles.json';

export { isGuid } from '../emulator-common/model';
export type { Permission } from '../emulator-common/model';

/** Wire shapes of the Managed HSM data plane (api-version 7.6), as the recordings show them. */
export type RoleDefinition = RoleDefinitionOf<'AKVBuiltInRole' | 'CustomRole'>;

export interface StoredAssignment {
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

export interface RoleAssignment {
  id: string;
  name: string;
  type: 'Microsoft.Authorization/roleAssignments';
  properties: { scope: string; roleDefinitionId: string; principalId: string };
}

export const ROLE_DEFINITION_PREFIX = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';
export const DATA_ACTION_PREFIX = 'Microsoft.KeyVault/managedHsm/';
export const BUILT_IN_ROLES: readonly RoleDefinition[] = builtInRoleDefinitions as RoleDefinition[];

/** The documented service limits ("Azure Key Vault service limits", Managed HSM). */
export const LIMITS = { assignmentsAtHsmScope: 50, assignmentsPerKey: 10, customRoleDefinitions: 50 } as const;

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export function isKeyName(value: string): boolean {
  return KEY_NAME.test(value);
}

/** `/` and `/keys` both mean the whole HSM; a key scope is `/keys/{name}`. */
export function isHsmWide(scope: string): boolean {
  return scope === '/' || scope === '/keys';
}

export function isValidScope(scope: string): boolean {
  if (isHsmWide(scope)) return true;
  const match = /^\/keys\/([^/]+)$/.exec(scope);
  return match !== null && isKeyName(match[1]);
}

export function roleGuidFromId(roleDefinitionId: string): string {
  return roleDefinitionId.slice(roleDefinitionId.lastIndexOf('/') + 1);
}

export function toWireAssignment(stored: StoredAssignment): RoleAssignment {
  return {
    id: `/providers/Microsoft.Authorization/roleAssignments/${stored.name}`,
    name: stored.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: { scope: stored.scope, roleDefinitionId: stored.roleDefinitionId, principalId: stored.principalId },
  };
}

/** A key scope is covered by assignments at that key and at the whole HSM; the HSM only by HSM-wide ones. */
export function scopeCovers(assignmentScope: string, targetScope: string): boolean {
  if (isHsmWide(assignmentScope)) return true;
  return assignmentScope.toLowerCase() === targetScope.toLowerCase();
}

/** Whether a role definition grants a data action: allowed by some permission and not excluded by it. */
export function roleAllows(definition: RoleDefinition, dataAction: string): boolean {
  const allowed = definition.properties.permissions.some((p) => p.dataActions.some((a) => actionMatches(a, dataAction)));
  const denied = definition.properties.permissions.some((p) => p.notDataActions.some((a) => actionMatches(a, dataAction)));
  return allowed && !denied;
}
