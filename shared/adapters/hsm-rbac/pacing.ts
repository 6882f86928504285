import type { AbortSignalLike } from '@azure/abort-controller';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { sleep } from './retryPolicy';

/**
 * Spaces requests to one HSM evenly at a set rate, across every client that shares it. Going
 * faster than the HSM allows only buys 429s and back-off, which is slower than keeping pace.
 */
export class RequestPacer {
  private nextSlot = 0;
  /** Requests sent, retries included, and how many the HSM throttled. */
  readonly counts = { sent: 0, throttled: 0 };

  constructor(readonly requestsPerSecond: number) {
    if (!(requestsPerSecond > 0)) throw new Error('requestsPerSecond must be positive');
  }

  async take(abortSignal?: AbortSignalLike): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + 1000 / this.requestsPerSecond;
    const wait = slot - now;
    if (wait > 0) await sleep(wait, abortSignal);
  }
}

/** A per-attempt pipeline policy: every try, retries included, waits for its slot and is counted. */
export function pacingPolicy(pacer: RequestPacer): PipelinePolicy {
  return {
    name: 'hsmRequestPacing',
    async sendRequest(request, next) {
      await pacer.take(request.abortSignal);
      pacer.counts.sent++;
      const response = await next(request);
      if (response.status === 429) pacer.counts.throttled++;
      return response;
    },
  };
}
