import { actionMatches, isGuid, type RoleDefinitionOf } from '../emulator-common/model';
import builtInRoleDefinitions from './builtin-roles.json';

export { isGuid } from '../emulator-common/model';
export type { Permission } from '../emulator-common/model';

/** Wire shapes of Microsoft.Authorization (role assignments and definitions 2022-04-01, PIM 2020-10-01). */
export type RoleDefinition = RoleDefinitionOf<'BuiltInRole' | 'CustomRole'> & {
  properties: { createdOn?: string; updatedOn?: string; createdBy?: string | null; updatedBy?: string | null };
};

/** Built-in roles carry the service's own stamps and no author. */
const BUILT_IN_STAMP = '2015-02-02T21:55:09.8806423Z';

export type PrincipalType = 'User' | 'Group' | 'ServicePrincipal' | 'ForeignGroup' | 'Device';
export const PRINCIPAL_TYPES: readonly PrincipalType[] = ['User', 'Group', 'ServicePrincipal', 'ForeignGroup', 'Device'];

export interface StoredAssignment {
  name: string;
  scope: string;
  roleGuid: string;
  principalId: string;
  principalType: PrincipalType;
  description?: string;
  condition?: string;
  conditionVersion?: string;
  createdOn: string;
  updatedOn: string;
  createdBy?: string;
  updatedBy?: string;
  /** Set when PIM made the assignment: the schedule that owns it and removes it at its end. */
  scheduleName?: string;
}

export const BUILT_IN_ROLES: readonly RoleDefinition[] = builtInRoleDefinitions as RoleDefinition[];
export const ROLE_DEFINITIONS_SEGMENT = '/providers/Microsoft.Authorization/roleDefinitions/';

const RESOURCE_GROUP_NAME = /^[-\w.()]{1,90}$/;
const PROVIDER_NAMESPACE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;
const RESOURCE_SEGMENT = /^[^/?#]{1,260}$/;

export function sameText(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * ARM resource ids compare case-insensitively and without a trailing slash. PIM also takes a
 * subscription as `/providers/Microsoft.Subscription/subscriptions/{id}`, the same scope.
 */
export function normalizeScope(raw: string): string {
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '').replace(/^providers\/Microsoft\.Subscription\/(?=subscriptions\/)/i, '');
  return `/${trimmed}`;
}

export type ScopeLevel = 'tenant' | 'subscription' | 'resourceGroup' | 'resource';

export interface ParsedScope {
  scope: string;
  level: ScopeLevel;
  subscriptionId?: string;
}

/**
 * The scopes a role can be assigned at: `/`, a subscription, a resource group, or a resource id
 * under a resource group (`.../providers/{namespace}/{type}/{name}`, with nested type/name pairs).
 */
export function parseScope(raw: string): ParsedScope | undefined {
  const scope = normalizeScope(raw);
  if (scope === '/') return { scope, level: 'tenant' };
  const segments = scope.slice(1).split('/');
  if (segments.some((segment) => segment === '')) return undefined;
  if (!sameText(segments[0], 'subscriptions') || !isGuid(segments[1])) return undefined;
  const subscriptionId = segments[1];
  if (segments.length === 2) return { scope, level: 'subscription', subscriptionId };
  if (!sameText(segments[2], 'resourceGroups') || segments.length < 4 || !RESOURCE_GROUP_NAME.test(segments[3]) || segments[3].endsWith('.')) return undefined;
  if (segments.length === 4) return { scope, level: 'resourceGroup', subscriptionId };
  const rest = segments.slice(4);
  if (!sameText(rest[0], 'providers') || !PROVIDER_NAMESPACE.test(rest[1] ?? '')) return undefined;
  const pairs = rest.slice(2);
  if (pairs.length === 0 || pairs.length % 2 !== 0 || !pairs.every((segment) => RESOURCE_SEGMENT.test(segment))) return undefined;
  return { scope, level: 'resource', subscriptionId };
}

/** Whether an assignment made at `ancestor` applies at `descendant` (same scope, or a parent of it). */
export function isAtOrAbove(ancestor: string, descendant: string): boolean {
  const a = normalizeScope(ancestor).toLowerCase();
  const d = normalizeScope(descendant).toLowerCase();
  if (a === '/') return true;
  return d === a || d.startsWith(`${a}/`);
}

/** The last segment of a role definition id, lower-cased; the bare GUID passes through. */
export function roleGuidFromId(roleDefinitionId: string): string {
  return roleDefinitionId.slice(roleDefinitionId.lastIndexOf('/') + 1).toLowerCase();
}

/** `/subscriptions/{sub}/providers/...` or `/providers/...`, ending in a GUID: the forms ARM accepts. */
export function isRoleDefinitionId(value: string): boolean {
  const index = value.toLowerCase().lastIndexOf(ROLE_DEFINITIONS_SEGMENT.toLowerCase());
  if (index < 0) return false;
  const prefix = value.slice(0, index);
  return (prefix === '' || /^\/subscriptions\/[0-9a-f-]{36}$/i.test(prefix)) && isGuid(value.slice(index + ROLE_DEFINITIONS_SEGMENT.length));
}

export function roleDefinitionIdFor(subscriptionId: string, guid: string): string {
  return `/subscriptions/${subscriptionId}${ROLE_DEFINITIONS_SEGMENT}${guid}`;
}

/** A permission grants an action its `actions` match and its own `notActions` do not exclude. */
export function roleAllows(definition: RoleDefinition, action: string): boolean {
  return definition.properties.permissions.some(
    (permission) => permission.actions.some((pattern) => actionMatches(pattern, action)) && !permission.notActions.some((pattern) => actionMatches(pattern, action)),
  );
}

/** A built-in role is assignable anywhere; a custom role where one of its assignable scopes reaches. */
export function assignableAt(definition: RoleDefinition, scope: string): boolean {
  return definition.properties.assignableScopes.some((assignable) => isAtOrAbove(assignable, scope));
}

export function toWireAssignment(stored: StoredAssignment, subscriptionId: string): unknown {
  return {
    id: `${stored.scope}/providers/Microsoft.Authorization/roleAssignments/${stored.name}`,
    name: stored.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: {
      roleDefinitionId: roleDefinitionIdFor(subscriptionId, stored.roleGuid),
      principalId: stored.principalId,
      principalType: stored.principalType,
      scope: stored.scope,
      condition: stored.condition ?? null,
      conditionVersion: stored.conditionVersion ?? null,
      createdOn: stored.createdOn,
      updatedOn: stored.updatedOn,
      createdBy: stored.createdBy ?? null,
      updatedBy: stored.updatedBy ?? null,
      delegatedManagedIdentityResourceId: null,
      description: stored.description ?? null,
    },
  };
}

/** Role definitions read within the subscription carry its id; read at the tenant root, they do not. */
export function toWireDefinition(definition: RoleDefinition, subscriptionId: string | undefined): RoleDefinition {
  const { properties } = definition;
  return {
    ...definition,
    id: subscriptionId ? roleDefinitionIdFor(subscriptionId, definition.name) : `${ROLE_DEFINITIONS_SEGMENT}${definition.name}`,
    properties: {
      ...properties,
      createdOn: properties.createdOn ?? BUILT_IN_STAMP,
      updatedOn: properties.updatedOn ?? properties.createdOn ?? BUILT_IN_STAMP,
      createdBy: properties.createdBy ?? null,
      updatedBy: properties.updatedBy ?? null,
    },
  };
}
