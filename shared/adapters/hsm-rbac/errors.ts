/** An error answered by the HSM, with its own error code (e.g. `RoleAssignmentNotFound`, `AccessDenied`, `Throttled`). */
export class HsmRequestError extends Error {
  override readonly name = 'HsmRequestError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

export function isHsmError(error: unknown, code?: string): error is HsmRequestError {
  return error instanceof HsmRequestError && (code === undefined || error.code === code);
}

interface HsmErrorBody {
  error?: { code?: unknown; message?: unknown };
}

export function errorFromResponse(status: number, body: unknown, requestId: string | undefined): HsmRequestError {
  const error = (typeof body === 'object' && body !== null ? (body as HsmErrorBody).error : undefined) ?? {};
  const code = typeof error.code === 'string' ? error.code : `Http${status}`;
  const message = typeof error.message === 'string' ? error.message : `The HSM answered ${status}.`;
  return new HsmRequestError(status, code, message, requestId);
}
