/** ARM resource ids as the Authorization provider takes and returns them. */
export const ROLE_DEFINITIONS_PATH = '/providers/Microsoft.Authorization/roleDefinitions/';

/** `/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}`: the id a role assignment names. */
export function roleDefinitionIdFor(subscriptionId: string, roleGuid: string): string {
  return `/subscriptions/${subscriptionId}${ROLE_DEFINITIONS_PATH}${roleGuid.toLowerCase()}`;
}

/** The role's GUID, lower-cased, from a role definition id in any form (or the bare GUID). */
export function roleGuidOf(roleDefinitionId: string): string {
  return roleDefinitionId.slice(roleDefinitionId.lastIndexOf('/') + 1).toLowerCase();
}

/** The last segment of a resource id: a schedule request's name from its id, for instance. */
export function nameOf(resourceId: string): string {
  return resourceId.slice(resourceId.lastIndexOf('/') + 1);
}

/** One leading slash and none trailing: `/subscriptions/{sub}/resourceGroups/{rg}/...`. */
export function armScope(scope: string): string {
  return `/${scope.replace(/^\/+/, '').replace(/\/+$/, '')}`;
}

/** The SDK inserts the scope after a slash of its own (`/{scope}/providers/...`): it takes it without one. */
export function sdkScope(scope: string): string {
  return armScope(scope).slice(1);
}

/** ARM compares resource ids case-insensitively. */
export function sameScope(a: string, b: string): boolean {
  return armScope(a).toLowerCase() === armScope(b).toLowerCase();
}
