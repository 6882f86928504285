/** Shapes as `@azure/keyvault-admin`'s KeyVaultAccessControlClient returns them. */
export interface KeyVaultRoleAssignmentPropertiesWithScope {
  scope?: string;
  roleDefinitionId: string;
  principalId: string;
}

export interface KeyVaultRoleAssignment {
  id: string;
  name: string;
  kind: string;
  properties: KeyVaultRoleAssignmentPropertiesWithScope;
}

export interface KeyVaultPermission {
  actions?: string[];
  notActions?: string[];
  dataActions?: string[];
  notDataActions?: string[];
}

export interface KeyVaultRoleDefinition {
  id: string;
  name: string;
  kind: string;
  roleName: string;
  description: string;
  roleType: string;
  permissions: KeyVaultPermission[];
  assignableScopes: string[];
}

/** `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{guid}`, the form the HSM returns. */
export { roleDefinitionIdFor } from '../../domain/roles';

/** The role's GUID from any form of its id (with or without leading slash, or the bare GUID). */
export function roleGuidOf(roleDefinitionId: string): string {
  const parts = roleDefinitionId.split('/');
  return (parts[parts.length - 1] ?? '').toLowerCase();
}

interface RawAssignment {
  id: string;
  name: string;
  type: string;
  properties: { scope?: string; roleDefinitionId: string; principalId: string };
}

interface RawDefinition {
  id: string;
  name: string;
  type: string;
  properties: { roleName?: string; description?: string; type?: string; permissions?: KeyVaultPermission[]; assignableScopes?: string[] };
}

export function toAssignment(raw: RawAssignment): KeyVaultRoleAssignment {
  return { id: raw.id, name: raw.name, kind: raw.type, properties: { scope: raw.properties.scope, roleDefinitionId: raw.properties.roleDefinitionId, principalId: raw.properties.principalId } };
}

export function toDefinition(raw: RawDefinition): KeyVaultRoleDefinition {
  const p = raw.properties ?? {};
  return {
    id: raw.id,
    name: raw.name,
    kind: raw.type,
    roleName: p.roleName ?? '',
    description: p.description ?? '',
    roleType: p.type ?? '',
    permissions: p.permissions ?? [],
    assignableScopes: p.assignableScopes ?? [],
  };
}

export type { RawAssignment, RawDefinition };
