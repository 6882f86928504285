/** Managed HSM local RBAC roles: the built-ins (stable ids) and resolution by name, alias or id. */

export interface RoleInfo {
  /** The role definition GUID (lower case). */
  readonly id: string;
  /** The full role name, e.g. 'Managed HSM Crypto User'. */
  readonly name: string;
  /** A short alias, e.g. 'Crypto User'. */
  readonly alias?: string;
  /** Roles that can write role assignments let their holder grant themselves anything. */
  readonly canWriteRoleAssignments: boolean;
  readonly builtIn: boolean;
}

function builtIn(id: string, name: string, canWriteRoleAssignments: boolean): RoleInfo {
  return { id, name, alias: name.replace(/^Managed HSM /, ''), canWriteRoleAssignments, builtIn: true };
}

/** Managed HSM Administrator: reconciliation never removes its last assignment at `/`. */
export const ADMINISTRATOR_ROLE_ID = 'a290e904-7015-4bba-90c8-60543313cdb4';
/** Managed HSM Crypto Auditor: reads role assignments, definitions and key metadata; the service's auditors hold it at `/`. */
export const CRYPTO_AUDITOR_ROLE_ID = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';

export const BUILT_IN_ROLES: readonly RoleInfo[] = Object.freeze([
  builtIn(ADMINISTRATOR_ROLE_ID, 'Managed HSM Administrator', true),
  builtIn('515eb02d-2335-4d2d-92f2-b1cbdf9c3778', 'Managed HSM Crypto Officer', true),
  builtIn('21dbd100-6940-42c2-9190-5d6cb909625b', 'Managed HSM Crypto User', false),
  builtIn('4bd23610-cdcf-4971-bdee-bdc562cc28e4', 'Managed HSM Policy Administrator', true),
  builtIn(CRYPTO_AUDITOR_ROLE_ID, 'Managed HSM Crypto Auditor', false),
  builtIn('33413926-3206-4cdd-b39a-83574fe37a17', 'Managed HSM Crypto Service Encryption User', false),
  builtIn('21dbd100-6940-42c2-9190-5d6cb909625c', 'Managed HSM Crypto Service Release User', false),
  builtIn('7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', 'Managed HSM Backup User', false),
  builtIn('6efe6056-5259-49d2-8b3d-d3d73544b20b', 'Managed HSM Restore User', false),
]);

export const ROLE_DEFINITION_ID_PREFIX = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && GUID.test(value);
}

/** The data-plane role definition id the HSM expects (no leading slash). */
export function roleDefinitionIdFor(guid: string): string {
  return `${ROLE_DEFINITION_ID_PREFIX}${guid.toLowerCase()}`;
}

/** The GUID at the end of a role definition id (with or without a leading slash), or undefined. */
export function roleGuidFromDefinitionId(definitionId: string): string | undefined {
  const trimmed = definitionId.replace(/^\//, '');
  if (trimmed.toLowerCase().startsWith(ROLE_DEFINITION_ID_PREFIX.toLowerCase())) {
    const guid = trimmed.slice(ROLE_DEFINITION_ID_PREFIX.length);
    return isGuid(guid) ? guid.toLowerCase() : undefined;
  }
  return undefined;
}

/**
 * Finds a role by GUID, full role definition id, full name or short alias (names case-insensitive).
 * Custom roles are searched after the built-ins.
 */
export function resolveRole(nameOrId: string, customRoles: readonly RoleInfo[] = []): RoleInfo | undefined {
  if (typeof nameOrId !== 'string') return undefined;
  const text = nameOrId.trim();
  if (!text) return undefined;
  const all = [...BUILT_IN_ROLES, ...customRoles];
  const guid = isGuid(text) ? text.toLowerCase() : roleGuidFromDefinitionId(text);
  if (guid) return all.find((r) => r.id === guid);
  const lower = text.toLowerCase();
  return all.find((r) => r.name.toLowerCase() === lower || (r.alias !== undefined && r.alias.toLowerCase() === lower));
}

/** Edit distance between two short texts (case-insensitive), for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[y.length]!;
}

/**
 * The role a mistyped name most likely meant: the closest full name or alias, when it is close
 * enough to be a typo (or the text is part of exactly one name), else undefined.
 */
export function closestRole(text: string, roles: readonly RoleInfo[]): RoleInfo | undefined {
  const wanted = text.trim().toLowerCase().replace(/^managed hsm /, '');
  if (!wanted) return undefined;
  const containing = roles.filter((r) => r.name.toLowerCase().includes(wanted));
  if (containing.length === 1) return containing[0];
  let best: { role: RoleInfo; distance: number } | undefined;
  for (const role of roles) {
    for (const name of [role.name, role.alias].filter((n): n is string => n !== undefined)) {
      const distance = editDistance(wanted, name.toLowerCase().replace(/^managed hsm /, ''));
      if (!best || distance < best.distance) best = { role, distance };
    }
  }
  return best && best.distance <= Math.max(2, Math.floor(wanted.length / 3)) ? best.role : undefined;
}
