import { isRestError, type RestError } from '@azure/core-rest-pipeline';

/** An error ARM answered, with its error code (`RoleAssignmentExists`, `AuthorizationFailed`, ...). */
export function isArmError(error: unknown, code?: string): error is RestError {
  return isRestError(error) && (code === undefined || error.code === code);
}

/** A 404 of any code: the role assignment, schedule request or schedule is not there. */
export function isArmNotFound(error: unknown): boolean {
  return isRestError(error) && error.statusCode === 404;
}
