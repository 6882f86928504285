/**
 * The management plane: Azure RBAC scopes (subscription, resource group, resource such as the
 * Managed HSM itself) and Azure roles, as the policy names them. Pure: ids and names only.
 */
import { isGuid, type RoleInfo } from './roles';

/** What an access request on the management plane carries as its `plane`, and in place of an HSM name. */
export const AZURE_RBAC_PLANE = 'azure-rbac';
export type RequestPlane = typeof AZURE_RBAC_PLANE;

function azureRole(id: string, name: string, canWriteRoleAssignments: boolean): RoleInfo {
  return { id, name, canWriteRoleAssignments, builtIn: true };
}

/** Built-in Azure roles the policy may name (ids as Azure publishes them; they are the same in every tenant). */
export const AZURE_BUILT_IN_ROLES: readonly RoleInfo[] = Object.freeze([
  azureRole('8e3af657-a8ff-443c-a75c-2fe8c4bcb635', 'Owner', true),
  azureRole('b24988ac-6180-42a0-ab88-20f7382dd24c', 'Contributor', false),
  azureRole('acdd72a7-3385-48ef-bd42-f606fba81ae7', 'Reader', false),
  azureRole('18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', 'User Access Administrator', true),
  azureRole('f58310d9-a9f6-439a-9e8d-f62e7b41a168', 'Role Based Access Control Administrator', true),
  azureRole('18500a29-7fe2-46b2-a342-b16a415e101d', 'Managed HSM Contributor', false),
]);

/**
 * An Azure role by name (case-insensitive) or role definition GUID (or id ending in one). A GUID the
 * table does not know is taken as a custom role: Azure checks that it exists when it is assigned.
 */
export function resolveAzureRole(nameOrId: unknown): RoleInfo | undefined {
  if (typeof nameOrId !== 'string' || !nameOrId.trim()) return undefined;
  const text = nameOrId.trim();
  const last = text.slice(text.lastIndexOf('/') + 1);
  if (isGuid(last) && (last === text || /\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i.test(text))) {
    const id = last.toLowerCase();
    return AZURE_BUILT_IN_ROLES.find((r) => r.id === id) ?? { id, name: id, canWriteRoleAssignments: false, builtIn: false };
  }
  return AZURE_BUILT_IN_ROLES.find((r) => r.name.toLowerCase() === text.toLowerCase());
}

export type ArmScopeResult = { ok: true; scope: string } | { ok: false; detail: string };

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._()-]{0,89}$/;
const NAMESPACE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;

/** Whether a scope is meant for the management plane (an ARM resource id), well-formed or not. */
export function isArmScope(raw: unknown): boolean {
  return typeof raw === 'string' && /^\/subscriptions\//i.test(raw);
}

/**
 * Validates an ARM scope: `/subscriptions/{guid}`, `.../resourceGroups/{name}`, or a resource
 * `.../providers/{Namespace}/{type}/{name}` (nested types too). Nothing is "cleaned up"; the
 * subscription id is lower-cased and keywords get ARM's spelling, so that equal scopes compare equal.
 */
export function normalizeArmScope(raw: unknown): ArmScopeResult {
  if (typeof raw !== 'string') return { ok: false, detail: 'scope must be a string' };
  if (raw.length > 1024) return { ok: false, detail: 'scope is too long' };
  if (!raw.startsWith('/') || raw.endsWith('/') || raw.includes('//')) return { ok: false, detail: "an ARM scope starts with '/subscriptions/', has no empty segment and no trailing slash" };
  const segments = raw.slice(1).split('/');
  if (segments.some((s) => !SEGMENT.test(s))) return { ok: false, detail: 'an ARM scope segment holds characters Azure resource names do not' };
  if (segments[0].toLowerCase() !== 'subscriptions' || !isGuid(segments[1])) return { ok: false, detail: "an ARM scope starts with '/subscriptions/{subscription-id}'" };
  const out = ['subscriptions', segments[1].toLowerCase()];
  let rest = segments.slice(2);
  if (rest.length === 0) return { ok: true, scope: `/${out.join('/')}` };
  if (rest[0].toLowerCase() !== 'resourcegroups' || rest.length < 2) return { ok: false, detail: "after the subscription an ARM scope names '/resourceGroups/{name}'" };
  out.push('resourceGroups', rest[1]);
  rest = rest.slice(2);
  if (rest.length === 0) return { ok: true, scope: `/${out.join('/')}` };
  if (rest[0].toLowerCase() !== 'providers' || rest.length < 4 || !NAMESPACE.test(rest[1]) || (rest.length - 2) % 2 !== 0) {
    return { ok: false, detail: "a resource scope is '/providers/{Namespace}/{type}/{name}' (nested: more '{type}/{name}' pairs)" };
  }
  out.push('providers', ...rest.slice(1));
  return { ok: true, scope: `/${out.join('/')}` };
}

/** ARM compares resource ids case-insensitively. */
export function sameArmScope(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Whether `scope` is `parent` or lies below it (a resource group below its subscription, ...). */
export function armScopeWithin(scope: string, parent: string): boolean {
  const child = scope.toLowerCase();
  const above = parent.toLowerCase();
  return child === above || child.startsWith(`${above}/`);
}
