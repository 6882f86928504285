import { signReviewToken } from '../../domain';
import type { ReviewLinkPort } from '../../services/notificationPorts';

/** The review page's path (every route spells its `api/`; host.json's route prefix is empty). */
export const REVIEW_PATH = '/api/review';

export function reviewPath(requestId: string, token: string): string {
  return `${REVIEW_PATH}/${encodeURIComponent(requestId)}?t=${encodeURIComponent(token)}`;
}

/** Links to the review page carrying a token signed with the current review key. */
export class SignedReviewLinks implements ReviewLinkPort {
  constructor(
    private readonly publicBaseUrl: string | undefined,
    private readonly keys: readonly string[],
    private readonly ttlMs: number,
  ) {}

  get enabled(): boolean {
    return this.publicBaseUrl !== undefined && this.keys.length > 0;
  }

  linkFor(requestId: string, now: Date): string | undefined {
    if (!this.publicBaseUrl || this.keys.length === 0) return undefined;
    const token = signReviewToken(requestId, new Date(now.getTime() + this.ttlMs), this.keys);
    return `${this.publicBaseUrl}${reviewPath(requestId, token)}`;
  }
}
