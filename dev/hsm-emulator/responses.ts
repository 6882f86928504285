import { randomUUID } from 'node:crypto';

export interface EmulatorResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Caller {
  objectId: string;
  /** The caller's object id and the groups of its token: every principal an assignment may name. */
  principalIds: string[];
}

/** Errors carry the HSM's shape, `{"error":{"code","message"}}`, with an activity id at the end of the message. */
export function hsmError(status: number, code: string, message: string): EmulatorResponse {
  return { status, body: { error: { code, message: `${message} (Activity ID: ${randomUUID()})` } } };
}

export function ok(body: unknown, status = 200): EmulatorResponse {
  return { status, body };
}

export const badParameter = (message: string): EmulatorResponse => hsmError(400, 'BadParameter', message);
