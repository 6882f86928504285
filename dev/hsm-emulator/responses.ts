import { randomUUID } from 'node:crypto';
import { errorResponse, type EmulatorResponse } from '../emulator-common/responses';

export { ok, type EmulatorResponse } from '../emulator-common/responses';

export interface Caller {
  objectId: string;
  /** The caller's object id and the groups of its token: every principal an assignment may name. */
  principalIds: string[];
}

/** Errors carry the HSM's shape, `{"error":{"code","message"}}`, with an activity id at the end of the message. */
export function hsmError(status: number, code: string, message: string): EmulatorResponse {
  return errorResponse(status, code, `${message} (Activity ID: ${randomUUID()})`);
}

export const badParameter = (message: string): EmulatorResponse => hsmError(400, 'BadParameter', message);
