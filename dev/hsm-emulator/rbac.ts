import {
  BUILT_IN_ROLES,
  DATA_ACTION_PREFIX,
  LIMITS,
  ROLE_DEFINITION_PREFIX,
  isGuid,
  isHsmWide,
  roleAllows,
  roleGuidFromId,
  scopeCovers,
  toWireAssignment,
  type Permission,
  type RoleDefinition,
  type StoredAssignment,
} from './model';
import { badParameter, hsmError, ok, type Caller, type EmulatorResponse } from './responses';
import type { HsmStateStore } from './state';

export interface Page<T> {
  value: T[];
  nextLink?: string;
}

/** Local RBAC as the HSM enforces it on every call, including the calls of the service's own identity. */
export class LocalRbac {
  constructor(private readonly store: HsmStateStore) {}

  roleDefinitions(): RoleDefinition[] {
    return [...BUILT_IN_ROLES, ...this.store.data.roleDefinitions];
  }

  findRoleDefinition(guid: string): RoleDefinition | undefined {
    return this.roleDefinitions().find((definition) => definition.name.toLowerCase() === guid.toLowerCase());
  }

  isAllowed(caller: Caller, dataAction: string, scope: string): boolean {
    return this.store.assignments.of(caller.principalIds).some((assignment) => {
      if (!scopeCovers(assignment.scope, scope)) return false;
      const definition = this.findRoleDefinition(roleGuidFromId(assignment.roleDefinitionId));
      return definition !== undefined && roleAllows(definition, `${DATA_ACTION_PREFIX}${dataAction}`);
    });
  }

  /** The real message names the full data action and the scope it was checked at. */
  denied(dataAction: string, scope: string): EmulatorResponse {
    return hsmError(403, 'AccessDenied', `Not authorized to access ${DATA_ACTION_PREFIX}${dataAction} on ${scope}`);
  }

  guard(caller: Caller, dataAction: string, scope: string): EmulatorResponse | undefined {
    return this.isAllowed(caller, dataAction, scope) ? undefined : this.denied(dataAction, scope);
  }

  private findAssignment(scope: string, name: string): StoredAssignment | undefined {
    return this.store.assignments.named(name).find((assignment) => sameScope(assignment.scope, scope));
  }

  getAssignment(caller: Caller, scope: string, name: string): EmulatorResponse {
    const refused = this.guard(caller, 'roleAssignments/read/action', scope);
    if (refused) return refused;
    const found = this.findAssignment(scope, name);
    return found ? ok(toWireAssignment(found)) : assignmentNotFound();
  }

  /** `keyExists` tells whether the key a `/keys/{name}` scope names is there: an assignment to a missing key is refused. */
  createAssignment(caller: Caller, scope: string, name: string, body: unknown, keyExists: (keyName: string) => boolean): EmulatorResponse {
    const refused = this.guard(caller, 'roleAssignments/write/action', scope);
    if (refused) return refused;
    if (!isGuid(name)) return badParameter('Role assignment name must be a GUID');
    const properties = (body as { properties?: { roleDefinitionId?: unknown; principalId?: unknown } } | null)?.properties;
    if (!properties || typeof properties.roleDefinitionId !== 'string' || typeof properties.principalId !== 'string') {
      return badParameter('The request body must contain properties.roleDefinitionId and properties.principalId');
    }
    if (!isGuid(properties.principalId)) return badParameter('Principal id must be a GUID');
    const definition = this.findRoleDefinition(roleGuidFromId(properties.roleDefinitionId));
    if (!definition) return badParameter(`Role definition ${properties.roleDefinitionId} does not exist`);
    const keyName = keyOfScope(scope);
    if (keyName !== undefined && !keyExists(keyName)) {
      return hsmError(404, 'KeyNotFound', `A key with (name/id) ${keyName} was not found in this key vault.`);
    }
    const assignments = this.store.assignments;
    if (assignments.named(name).length > 0) {
      return hsmError(400, 'RoleAssignmentExists', 'The role assignment already exists.');
    }
    const matching = assignments.of([properties.principalId]).find(
      (assignment) => sameScope(assignment.scope, scope) && roleGuidFromId(assignment.roleDefinitionId).toLowerCase() === definition.name.toLowerCase(),
    );
    if (matching) return hsmError(400, 'MatchingRoleAssignmentExists', `A role assignment with the same principal, role and scope already exists: ${matching.name}`);
    const atSameLevel = assignments.atLevel(scope).length;
    const limit = isHsmWide(scope) ? LIMITS.assignmentsAtHsmScope : LIMITS.assignmentsPerKey;
    if (atSameLevel >= limit) {
      return hsmError(400, 'RoleAssignmentLimitExceeded', `No more role assignments can be created at scope ${scope}: the limit is ${limit}`);
    }
    const stored: StoredAssignment = { name, scope, roleDefinitionId: `${ROLE_DEFINITION_PREFIX}${definition.name}`, principalId: properties.principalId };
    assignments.push(stored);
    this.store.save();
    return ok(toWireAssignment(stored), 201);
  }

  deleteAssignment(caller: Caller, scope: string, name: string): EmulatorResponse {
    const refused = this.guard(caller, 'roleAssignments/delete/action', scope);
    if (refused) return refused;
    const found = this.findAssignment(scope, name);
    if (!found) return assignmentNotFound();
    this.store.assignments.delete(found);
    this.store.save();
    return ok(toWireAssignment(found));
  }

  /**
   * Listing at a scope returns what applies there: at `/` (or `/keys`) the HSM-wide assignments but
   * none made on single keys; at `/keys/{name}` that key's assignments and the HSM-wide ones.
   * `atScope()` keeps only those made exactly at the scope; `principalId eq '...'` one principal's.
   */
  listAssignments(caller: Caller, scope: string, filter: string | undefined): EmulatorResponse | StoredAssignment[] {
    const refused = this.guard(caller, 'roleAssignments/read/action', scope);
    if (refused) return refused;
    const parsed = parseAssignmentFilter(filter);
    if (!parsed) return badParameter(`Invalid $filter: ${filter}`);
    return this.store.assignments.covering(scope).filter((assignment) => {
      if (parsed.atScope && !sameScope(assignment.scope, scope)) return false;
      if (parsed.principalId && assignment.principalId.toLowerCase() !== parsed.principalId) return false;
      return true;
    });
  }

  listRoleDefinitions(caller: Caller, scope: string): EmulatorResponse | RoleDefinition[] {
    const refused = this.guard(caller, 'roleDefinitions/read/action', scope);
    if (refused) return refused;
    return this.roleDefinitions();
  }

  getRoleDefinition(caller: Caller, scope: string, name: string): EmulatorResponse {
    const refused = this.guard(caller, 'roleDefinitions/read/action', scope);
    if (refused) return refused;
    const found = isGuid(name) ? this.findRoleDefinition(name) : undefined;
    return found ? ok(found) : roleDefinitionNotFound();
  }

  setRoleDefinition(caller: Caller, scope: string, name: string, body: unknown): EmulatorResponse {
    const refused = this.guard(caller, 'roleDefinitions/write/action', scope);
    if (refused) return refused;
    if (!isGuid(name)) return badParameter('Role definition name must be a GUID');
    if (BUILT_IN_ROLES.some((role) => role.name.toLowerCase() === name.toLowerCase())) return builtInRoleRefused();
    const properties = (body as { properties?: Partial<RoleDefinition['properties']> } | null)?.properties;
    if (!properties || (properties.permissions !== undefined && !Array.isArray(properties.permissions))) {
      return badParameter('The request body must contain properties, with permissions as an array');
    }
    const customs = this.store.data.roleDefinitions;
    const existing = customs.find((definition) => definition.name.toLowerCase() === name.toLowerCase());
    if (!existing && customs.length >= LIMITS.customRoleDefinitions) {
      return badParameter(`No more custom role definitions can be created: the limit is ${LIMITS.customRoleDefinitions}`);
    }
    const definition: RoleDefinition = {
      id: `${ROLE_DEFINITION_PREFIX}${name}`,
      name,
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: {
        assignableScopes: properties.assignableScopes ?? ['/'],
        description: properties.description ?? '',
        permissions: (properties.permissions ?? []).map((permission: Partial<Permission>) => ({
          actions: permission.actions ?? [],
          dataActions: permission.dataActions ?? [],
          notActions: permission.notActions ?? [],
          notDataActions: permission.notDataActions ?? [],
        })),
        roleName: properties.roleName ?? name,
        type: 'CustomRole',
      },
    };
    if (existing) customs.splice(customs.indexOf(existing), 1, definition);
    else customs.push(definition);
    this.store.save();
    return ok(definition, 201);
  }

  deleteRoleDefinition(caller: Caller, scope: string, name: string): EmulatorResponse {
    const refused = this.guard(caller, 'roleDefinitions/delete/action', scope);
    if (refused) return refused;
    if (BUILT_IN_ROLES.some((role) => role.name.toLowerCase() === name.toLowerCase())) return builtInRoleRefused();
    const customs = this.store.data.roleDefinitions;
    const found = customs.find((definition) => definition.name.toLowerCase() === name.toLowerCase());
    if (!found) return roleDefinitionNotFound();
    customs.splice(customs.indexOf(found), 1);
    this.store.save();
    return ok(found);
  }
}

/** The key a `/keys/{name}` scope names; undefined for the HSM-wide scopes. */
function keyOfScope(scope: string): string | undefined {
  return /^\/keys\/([^/]+)$/.exec(scope)?.[1];
}

function sameScope(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function assignmentNotFound(): EmulatorResponse {
  return hsmError(404, 'RoleAssignmentNotFound', 'Requested role assignment not found');
}

function roleDefinitionNotFound(): EmulatorResponse {
  return hsmError(404, 'RoleDefinitionNotFound', 'Requested role definition not found');
}

function builtInRoleRefused(): EmulatorResponse {
  return badParameter('Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.');
}

/** The filters the service supports: `atScope()`, `principalId eq '{id}'`, or both joined by `and`. */
export function parseAssignmentFilter(filter: string | undefined): { atScope: boolean; principalId?: string } | undefined {
  if (filter === undefined || filter.trim() === '') return { atScope: false };
  const result: { atScope: boolean; principalId?: string } = { atScope: false };
  for (const clause of filter.split(/\s+and\s+/i)) {
    const trimmed = clause.trim();
    if (/^atScope\(\)$/i.test(trimmed)) {
      result.atScope = true;
      continue;
    }
    const principal = /^principalId\s+eq\s+'([^']+)'$/i.exec(trimmed);
    if (principal && isGuid(principal[1])) {
      result.principalId = principal[1].toLowerCase();
      continue;
    }
    return undefined;
  }
  return result;
}
