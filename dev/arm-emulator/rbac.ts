import {
  BUILT_IN_ROLES,
  PRINCIPAL_TYPES,
  assignableAt,
  isAtOrAbove,
  isGuid,
  isRoleDefinitionId,
  normalizeScope,
  parseScope,
  roleAllows,
  ROLE_DEFINITIONS_SEGMENT,
  roleGuidFromId,
  sameText,
  toWireAssignment,
  toWireDefinition,
  type PrincipalType,
  type RoleDefinition,
  type StoredAssignment,
} from './model';
import { ASSIGNMENT_CLAUSES, badFilter, parseListFilter, passesPrincipalClauses, type ListFilter } from './filters';
import { armError, invalidContent, ok, type Caller, type EmulatorResponse } from './responses';
import type { ArmStateStore } from './state';

export const ACTIONS = {
  readAssignments: 'Microsoft.Authorization/roleAssignments/read',
  writeAssignments: 'Microsoft.Authorization/roleAssignments/write',
  deleteAssignments: 'Microsoft.Authorization/roleAssignments/delete',
  readDefinitions: 'Microsoft.Authorization/roleDefinitions/read',
  writeDefinitions: 'Microsoft.Authorization/roleDefinitions/write',
  deleteDefinitions: 'Microsoft.Authorization/roleDefinitions/delete',
} as const;

/** The documented limit of role assignments per subscription. */
export const ASSIGNMENTS_PER_SUBSCRIPTION = 4000;

/**
 * What a list at `scope` returns, as the service documents it: without a filter, assignments that
 * apply there (at or above) and those made below it; `atScope()` only those at or above; a
 * principal's (`principalId eq`, `assignedTo()`, `asTarget()`) at, above or below.
 */
export function listedAt(assignmentScope: string, scope: string, filter: ListFilter): boolean {
  const atOrAbove = isAtOrAbove(assignmentScope, scope);
  return filter.atScope ? atOrAbove : atOrAbove || isAtOrAbove(scope, assignmentScope);
}

/** Azure RBAC on the management plane, enforced on every caller, the service's own identity included. */
export class ArmRbac {
  constructor(
    private readonly store: ArmStateStore,
    readonly subscriptionId: string,
  ) {}

  roleDefinitions(): RoleDefinition[] {
    return [...BUILT_IN_ROLES, ...this.store.data.customRoles];
  }

  findRoleDefinition(guid: string): RoleDefinition | undefined {
    return this.roleDefinitions().find((definition) => sameText(definition.name, guid));
  }

  isAllowed(caller: Caller, action: string, scope: string): boolean {
    const principals = new Set(caller.principalIds.map((id) => id.toLowerCase()));
    return this.store.data.roleAssignments.some((assignment) => {
      if (!principals.has(assignment.principalId) || !isAtOrAbove(assignment.scope, scope)) return false;
      const definition = this.findRoleDefinition(assignment.roleGuid);
      return definition !== undefined && roleAllows(definition, action);
    });
  }

  /** ARM names the caller, the action, and the full path of the resource it was checked on. */
  guard(caller: Caller, action: string, scope: string, resourcePath: string): EmulatorResponse | undefined {
    if (this.isAllowed(caller, action, scope)) return undefined;
    return armError(
      403,
      'AuthorizationFailed',
      `The client '${caller.displayName}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${resourcePath}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      { 'x-ms-failure-cause': 'gateway' },
    );
  }

  /** A role definition id as ARM checks it on a create: well formed, known, and assignable at the scope. */
  resolveRole(roleDefinitionId: unknown, scope: string): RoleDefinition | EmulatorResponse {
    if (typeof roleDefinitionId !== 'string' || !isRoleDefinitionId(roleDefinitionId)) {
      return armError(400, 'InvalidRoleDefinitionId', `The role definition ID '${String(roleDefinitionId)}' is not valid.`);
    }
    const guid = roleGuidFromId(roleDefinitionId);
    const definition = this.findRoleDefinition(guid);
    if (!definition || !assignableAt(definition, scope)) {
      return armError(400, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${guid}' does not exist.`);
    }
    return definition;
  }

  /** The type the directory knows for a principal; a claimed type that contradicts it is refused. */
  resolvePrincipalType(principalId: string, claimed: unknown): PrincipalType | EmulatorResponse {
    if (claimed !== undefined && claimed !== null && !PRINCIPAL_TYPES.includes(claimed as PrincipalType)) {
      return invalidContent(`The request content was invalid and could not be deserialized: principalType '${String(claimed)}' is not one of ${PRINCIPAL_TYPES.join(', ')}.`);
    }
    const known = this.store.data.principals[principalId.toLowerCase()];
    if (known && claimed && claimed !== known) {
      return armError(400, 'UnmatchedPrincipalType', `The PrincipalId '${principalId}' has type '${known}', which is different from specified PrincipalType '${String(claimed)}'.`);
    }
    return (claimed as PrincipalType | undefined) ?? known ?? 'User';
  }

  /** One principal holds one role at one scope once, whatever the assignment's name. */
  findMatching(principalId: string, roleGuid: string, scope: string): StoredAssignment | undefined {
    return this.store.data.roleAssignments.find(
      (assignment) => assignment.principalId === principalId.toLowerCase() && assignment.roleGuid === roleGuid.toLowerCase() && sameText(assignment.scope, scope),
    );
  }

  insert(assignment: StoredAssignment): void {
    this.store.data.roleAssignments.push(assignment);
  }

  /** Takes an assignment away; one PIM made also ends its schedule. */
  remove(assignment: StoredAssignment): void {
    const assignments = this.store.data.roleAssignments;
    const index = assignments.indexOf(assignment);
    if (index >= 0) assignments.splice(index, 1);
    if (assignment.scheduleName) {
      const schedule = this.store.data.schedules.find((candidate) => candidate.name === assignment.scheduleName);
      if (schedule) schedule.state = 'Ended';
    }
  }

  wire(assignment: StoredAssignment): unknown {
    return toWireAssignment(assignment, this.subscriptionId);
  }

  getAssignment(caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const refused = this.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const found = this.store.data.roleAssignments.find((assignment) => sameText(assignment.name, name) && sameText(assignment.scope, scope));
    return found ? ok(this.wire(found)) : armError(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`);
  }

  createAssignment(caller: Caller, scope: string, name: string, body: unknown, path: string): EmulatorResponse {
    const refused = this.guard(caller, ACTIONS.writeAssignments, scope, path);
    if (refused) return refused;
    const properties = (body as { properties?: Record<string, unknown> } | null | undefined)?.properties;
    if (!properties || typeof properties !== 'object') {
      return invalidContent('The request content was invalid and could not be deserialized: properties.roleDefinitionId and properties.principalId are required.');
    }
    if (!isGuid(name)) return armError(400, 'InvalidRoleAssignmentId', `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`);
    const definition = this.resolveRole(properties.roleDefinitionId, scope);
    if ('status' in definition) return definition;
    if (!isGuid(properties.principalId)) return armError(400, 'InvalidPrincipalId', 'A valid principal ID must be provided for role assignment.');
    const principalId = properties.principalId.toLowerCase();
    const principalType = this.resolvePrincipalType(principalId, properties.principalType);
    if (typeof principalType !== 'string') return principalType;
    const optionalText = (key: 'description' | 'condition' | 'conditionVersion'): string | undefined => (typeof properties[key] === 'string' ? (properties[key] as string) : undefined);
    const now = new Date().toISOString();

    // Names are unique across the tenant: the same name elsewhere, or for other access, is an update ARM refuses.
    const sameName = this.store.data.roleAssignments.find((assignment) => sameText(assignment.name, name));
    if (sameName) {
      if (!sameText(sameName.scope, scope) || sameName.principalId !== principalId || sameName.roleGuid !== definition.name.toLowerCase()) {
        return armError(400, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.');
      }
      sameName.description = optionalText('description') ?? sameName.description;
      sameName.condition = optionalText('condition') ?? sameName.condition;
      sameName.conditionVersion = optionalText('conditionVersion') ?? sameName.conditionVersion;
      sameName.updatedOn = now;
      sameName.updatedBy = caller.objectId;
      this.store.save();
      return ok(this.wire(sameName), 200);
    }
    if (this.findMatching(principalId, definition.name, scope)) return armError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
    if (this.store.data.roleAssignments.length >= ASSIGNMENTS_PER_SUBSCRIPTION) {
      return armError(400, 'RoleAssignmentLimitExceeded', `No more role assignments can be created: the subscription holds ${ASSIGNMENTS_PER_SUBSCRIPTION}.`);
    }
    const stored: StoredAssignment = {
      name: name.toLowerCase(),
      scope: normalizeScope(scope),
      roleGuid: definition.name.toLowerCase(),
      principalId,
      principalType,
      ...(optionalText('description') ? { description: optionalText('description') } : {}),
      ...(optionalText('condition') ? { condition: optionalText('condition'), conditionVersion: optionalText('conditionVersion') ?? '2.0' } : {}),
      createdOn: now,
      updatedOn: now,
      createdBy: caller.objectId,
      updatedBy: caller.objectId,
    };
    this.insert(stored);
    this.store.save();
    return ok(this.wire(stored), 201);
  }

  /** An assignment that is not there is already deleted: 204, as ARM answers. */
  deleteAssignment(caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const refused = this.guard(caller, ACTIONS.deleteAssignments, scope, path);
    if (refused) return refused;
    const found = this.store.data.roleAssignments.find((assignment) => sameText(assignment.name, name) && sameText(assignment.scope, scope));
    if (!found) return { status: 204 };
    this.remove(found);
    this.store.save();
    return ok(this.wire(found));
  }

  listAssignments(caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | unknown[] {
    const refused = this.guard(caller, ACTIONS.readAssignments, scope, path);
    if (refused) return refused;
    const filter = parseListFilter(filterText, ASSIGNMENT_CLAUSES);
    if (!filter) return badFilter(filterText, ASSIGNMENT_CLAUSES);
    return this.store.data.roleAssignments
      .filter((assignment) => listedAt(assignment.scope, scope, filter) && passesPrincipalClauses(filter, caller, assignment.principalId))
      .map((assignment) => this.wire(assignment));
  }

  /** Built-in definitions are readable by any signed-in caller at the tenant root, as in Azure. */
  private guardDefinitions(caller: Caller, scope: string, path: string): EmulatorResponse | undefined {
    return scope === '/' ? undefined : this.guard(caller, ACTIONS.readDefinitions, scope, path);
  }

  private definitionsAt(scope: string): RoleDefinition[] {
    return this.roleDefinitions().filter((definition) => definition.properties.type === 'BuiltInRole' || (scope !== '/' && assignableAt(definition, scope)));
  }

  getRoleDefinition(caller: Caller, scope: string, guid: string, path: string): EmulatorResponse {
    const refused = this.guardDefinitions(caller, scope, path);
    if (refused) return refused;
    if (!isGuid(guid)) return invalidRoleDefinitionId(guid);
    const found = this.definitionsAt(scope).find((definition) => sameText(definition.name, guid));
    return found
      ? ok(toWireDefinition(found, scope === '/' ? undefined : this.subscriptionId))
      : armError(404, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${guid}' does not exist.`);
  }

  /**
   * A custom role, written by a caller who may write role definitions at the request's scope and
   * at every scope the role is assignable at (checked before anything else, as ARM does).
   */
  setRoleDefinition(caller: Caller, scope: string, name: string, body: unknown, path: string): EmulatorResponse {
    const refused = this.guard(caller, ACTIONS.writeDefinitions, scope, path);
    if (refused) return refused;
    if (!isGuid(name)) return invalidRoleDefinitionId(name);
    if (BUILT_IN_ROLES.some((role) => sameText(role.name, name))) return builtInRoleRefused(name);
    const properties = (body as { properties?: Partial<RoleDefinition['properties']> } | null | undefined)?.properties;
    const problem = customRoleProblem(properties);
    if (problem || !properties) return invalidContent(`The request content was invalid and could not be deserialized: ${problem ?? 'properties are required'}.`);
    const assignableScopes = (properties.assignableScopes as string[]).map(normalizeScope);
    for (const assignable of assignableScopes) {
      const outside = this.guard(caller, ACTIONS.writeDefinitions, assignable, `${assignable}/providers/Microsoft.Authorization/roleDefinitions/${name}`);
      if (outside) return outside;
    }
    const customs = this.store.data.customRoles;
    const existing = customs.find((definition) => sameText(definition.name, name));
    const sameRoleName = customs.find((definition) => !sameText(definition.name, name) && sameText(definition.properties.roleName, properties.roleName as string));
    if (sameRoleName) return armError(409, 'RoleDefinitionWithSameNameExists', `A custom role with the same name '${properties.roleName}' already exists in this directory. Use a different name.`);
    const now = new Date().toISOString();
    const definition: RoleDefinition = {
      id: `${ROLE_DEFINITIONS_SEGMENT}${name.toLowerCase()}`,
      name: name.toLowerCase(),
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: {
        roleName: properties.roleName as string,
        type: 'CustomRole',
        description: typeof properties.description === 'string' ? properties.description : '',
        assignableScopes,
        permissions: (properties.permissions as Array<Partial<RoleDefinition['properties']['permissions'][number]>>).map((permission) => ({
          actions: permission.actions ?? [],
          notActions: permission.notActions ?? [],
          dataActions: permission.dataActions ?? [],
          notDataActions: permission.notDataActions ?? [],
        })),
        createdOn: existing?.properties.createdOn ?? now,
        updatedOn: now,
        createdBy: existing?.properties.createdBy ?? caller.objectId,
        updatedBy: caller.objectId,
      },
    };
    if (existing) customs.splice(customs.indexOf(existing), 1, definition);
    else customs.push(definition);
    this.store.save();
    return ok(toWireDefinition(definition, scope === '/' ? undefined : this.subscriptionId), 201);
  }

  /** A custom role no assignment uses; a role that is not there is already deleted (204). */
  deleteRoleDefinition(caller: Caller, scope: string, name: string, path: string): EmulatorResponse {
    const refused = this.guard(caller, ACTIONS.deleteDefinitions, scope, path);
    if (refused) return refused;
    if (!isGuid(name)) return invalidRoleDefinitionId(name);
    if (BUILT_IN_ROLES.some((role) => sameText(role.name, name))) return builtInRoleRefused(name);
    const customs = this.store.data.customRoles;
    const found = customs.find((definition) => sameText(definition.name, name));
    if (!found) return { status: 204 };
    if (this.store.data.roleAssignments.some((assignment) => sameText(assignment.roleGuid, found.name))) {
      return armError(409, 'RoleDefinitionHasAssignments', `There are existing role assignments referencing role '${found.name}'. Remove them before deleting the role.`);
    }
    customs.splice(customs.indexOf(found), 1);
    this.store.save();
    return ok(toWireDefinition(found, scope === '/' ? undefined : this.subscriptionId));
  }

  /** `roleName eq '{name}'` (case-insensitive) and `type eq 'BuiltInRole'|'CustomRole'`, joined by `and`. */
  listRoleDefinitions(caller: Caller, scope: string, filterText: string | undefined, path: string): EmulatorResponse | RoleDefinition[] {
    const refused = this.guardDefinitions(caller, scope, path);
    if (refused) return refused;
    let definitions = this.definitionsAt(scope);
    // Clauses are read one at a time, so that a quoted role name may itself contain ' and '.
    const clause = /^\s*(roleName|type)\s+eq\s+'((?:[^']|'')*)'\s*(?:and\s+(?=\S)|$)/i;
    let rest = filterText?.trim() ?? '';
    while (rest !== '') {
      const match = clause.exec(rest);
      if (!match) return armError(400, 'BadRequest', `The $filter '${filterText}' is not supported. Use roleName eq '{name}' and/or type eq '{type}'.`);
      const [whole, field, quoted] = match;
      const value = quoted.replace(/''/g, "'");
      definitions = definitions.filter((definition) => sameText(field.toLowerCase() === 'rolename' ? definition.properties.roleName : definition.properties.type, value));
      rest = rest.slice(whole.length);
    }
    return definitions.map((definition) => toWireDefinition(definition, scope === '/' ? undefined : this.subscriptionId));
  }
}

function invalidRoleDefinitionId(name: string): EmulatorResponse {
  return armError(400, 'InvalidRoleDefinitionId', `The role definition ID '${name}' is not valid.`);
}

function builtInRoleRefused(name: string): EmulatorResponse {
  return armError(400, 'RoleDefinitionIsBuiltIn', `The role definition '${name}' is a built-in role and cannot be changed or deleted.`);
}

/** What a custom role's body must hold; undefined when it holds it. */
function customRoleProblem(properties: Partial<RoleDefinition['properties']> | undefined): string | undefined {
  if (!properties || typeof properties !== 'object') return 'properties are required';
  if (typeof properties.roleName !== 'string' || properties.roleName.trim() === '') return 'properties.roleName is required';
  if (properties.type !== undefined && properties.type !== 'CustomRole') return "properties.type must be 'CustomRole'";
  if (!Array.isArray(properties.permissions) || properties.permissions.length === 0) return 'properties.permissions must list at least one permission';
  if (!Array.isArray(properties.assignableScopes) || properties.assignableScopes.length === 0 || !properties.assignableScopes.every((scope) => typeof scope === 'string' && parseScope(scope) !== undefined)) {
    return 'properties.assignableScopes must list at least one valid scope';
  }
  return undefined;
}
