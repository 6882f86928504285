/** The permission block of an Azure role definition, the same on ARM and on the Managed HSM data plane. */
export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

/** A role definition as both services write it; they differ in what `properties.type` names a built-in role. */
export interface RoleDefinitionOf<RoleType extends string> {
  id: string;
  name: string;
  type: 'Microsoft.Authorization/roleDefinitions';
  properties: {
    roleName: string;
    type: RoleType;
    description: string;
    assignableScopes: string[];
    permissions: Permission[];
  };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && GUID.test(value);
}

/** An action pattern of a role (`Microsoft.KeyVault/managedHsm/keys/*`) against an action, case-insensitively, `*` matching anything. */
export function actionMatches(pattern: string, action: string): boolean {
  if (!pattern.includes('*')) return pattern.toLowerCase() === action.toLowerCase();
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return regex.test(action);
}
