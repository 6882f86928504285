/**
 * Exit codes scripts can rely on (docs/cli.md). They never change meaning; new ones are only added.
 */
export const EXIT = {
  ok: 0,
  /** Anything unexpected: an answer the CLI cannot read, a bug. */
  failure: 1,
  /** The command line is wrong: unknown option, missing argument, a name nothing matches. */
  usage: 2,
  /** Not signed in, or the service refused the token (401). */
  unauthenticated: 3,
  /** Signed in, but not allowed (403). */
  forbidden: 4,
  /** No such request, report or route (404). */
  notFound: 5,
  /** The service refused the change: policy, state or a conflict (400, 409, 415, 422). */
  refused: 6,
  /** `wait`: the request ended without becoming Active (Denied, Cancelled, TimedOut, Failed, Expired, Revoked). */
  ended: 7,
  /** The service is unreachable or failed (5xx, network). */
  unavailable: 8,
  /** `wait --timeout` ran out before the request became Active or ended. */
  timeout: 9,
  /** `policy diff`: the new policy would affect requests, grants or standing assignments. */
  changes: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code for an HTTP status the API answered with. */
export function exitForStatus(status: number): ExitCode {
  if (status === 401) return EXIT.unauthenticated;
  if (status === 403) return EXIT.forbidden;
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.unavailable;
  if (status >= 400) return EXIT.refused;
  return EXIT.failure;
}

/** A failure the CLI reports in words and ends with a given exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode, readonly problem?: Record<string, unknown>) {
    super(message);
  }
}
