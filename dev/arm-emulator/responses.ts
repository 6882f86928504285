import { errorResponse, type EmulatorResponse } from '../emulator-common/responses';

export { ok, type EmulatorResponse } from '../emulator-common/responses';

export interface Caller {
  objectId: string;
  /** What ARM names the caller in AuthorizationFailed: a user's UPN, an application's client id. */
  displayName: string;
  /** The caller's object id and the groups of its token: every principal an assignment may name. */
  principalIds: string[];
}

/** ARM's error envelope, `{"error":{"code","message"}}`. */
export const armError = errorResponse;

export const invalidContent = (message: string): EmulatorResponse => armError(400, 'InvalidRequestContent', message);
