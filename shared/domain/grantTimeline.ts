/**
 * When a grant really started and ended and how long it really lasted, from the request's own
 * record (`grantedAt`, `expiresAt` and its history), whatever extension fields it carries: what
 * messages and pages say, instead of the duration that was asked for.
 */
import { formatIsoDuration } from './duration';
import type { AccessRequest, RequestStatus } from './lifecycle';

export interface GrantTimeline {
  /** When the assignment was in place; absent when it never was. */
  readonly grantedAt?: string;
  /** The current end of a grant that runs (or ran) to its expiry, extensions counted. */
  readonly expiresAt?: string;
  /** From grant to the current expiry, extensions counted. */
  readonly grantedMs?: number;
  /** What the extensions added to the duration asked for. */
  readonly extendedMs: number;
  /** Extensions granted (from `extensions`; from the history for a record stored without it). */
  readonly extensions: number;
  /** When access ended (expired or revoked), from the history. */
  readonly endedAt?: string;
  /** How it ended. */
  readonly endedAs?: 'Expired' | 'Revoked';
  /** When the request failed, from the history; with `grantedAt` and `endedAt` set, its assignment could not be removed. */
  readonly failedAt?: string;
}

const ENDINGS: readonly RequestStatus[] = ['Expired', 'Revoked'];

/** The grant's real start, end and length. */
export function grantTimeline(request: AccessRequest): GrantTimeline {
  const ending = request.history.find((entry) => entry.from !== entry.to && ENDINGS.includes(entry.to));
  const failure = request.history.find((entry) => entry.to === 'Failed' && entry.from !== 'Failed');
  const extensions = request.extensions
    ? request.extensions.filter((entry) => entry.decision === 'Approved').length
    : request.history.filter((entry) => entry.from === 'Active' && entry.to === 'Active' && entry.reason.startsWith('extended by')).length;
  const grantedMs = request.grantedAt && request.expiresAt ? Date.parse(request.expiresAt) - Date.parse(request.grantedAt) : undefined;
  return {
    ...(request.grantedAt ? { grantedAt: request.grantedAt } : {}),
    ...(request.expiresAt ? { expiresAt: request.expiresAt } : {}),
    ...(grantedMs !== undefined ? { grantedMs } : {}),
    extendedMs: grantedMs !== undefined ? Math.max(0, grantedMs - request.durationMs) : 0,
    extensions,
    ...(ending && request.grantedAt ? { endedAt: ending.at, endedAs: ending.to as 'Expired' | 'Revoked' } : {}),
    ...(failure ? { failedAt: failure.at } : {}),
  };
}

const formatMs = (ms: number): string => formatIsoDuration(Math.max(0, Math.round(ms / 1000) * 1000));

/**
 * The duration as a reader needs it: what was asked for while nothing is granted; the whole grant
 * with its extensions while it runs; how long it lasted once it ended.
 */
export function durationText(request: AccessRequest, timeline: GrantTimeline = grantTimeline(request)): string {
  const pending = request.extension?.status === 'Pending' ? ` + ${request.extension.duration} (extension asked for)` : '';
  if (timeline.grantedMs === undefined || !timeline.grantedAt) return request.duration;
  const granted = formatMs(timeline.grantedMs);
  const parts = timeline.extensions > 0 || timeline.extendedMs > 0
    ? `${granted} (${request.duration} asked for, extended ${timeline.extensions} time${timeline.extensions === 1 ? '' : 's'} by ${formatMs(timeline.extendedMs)} in all)`
    : granted;
  if (timeline.endedAt) {
    const lasted = formatMs(Date.parse(timeline.endedAt) - Date.parse(timeline.grantedAt));
    return lasted === granted ? `${granted} (ran to its end)` : `lasted ${lasted} of ${parts}`;
  }
  return `${parts}${pending}`;
}
