import { AbortError, type AbortSignalLike } from '@azure/abort-controller';
import { metrics } from '../telemetry';
import { isRestError, type PipelinePolicy, type PipelineRequest, type PipelineResponse, type SendRequest } from '@azure/core-rest-pipeline';

/**
 * Retries what an HSM (or ARM) answers when it is busy or briefly unreachable. The Azure SDK's
 * default policy does not retry a 429 without Retry-After, which is exactly how the HSM throttles.
 */
export interface RetrySettings {
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export const RETRY_POLICY_NAME = 'hsmGovernorRetryPolicy';
const RETRIABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'REQUEST_SEND_ERROR', 'UND_ERR_SOCKET']);

export interface RetryDecision {
  retry: boolean;
  delayInMs: number;
}

/** A `Retry-After` header (seconds or an HTTP date) in milliseconds from `now`. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Delay the server asked for, from `retry-after-ms`, `x-ms-retry-after-ms` or `Retry-After` (seconds or HTTP date). */
export function serverRequestedDelay(headers: { get(name: string): string | undefined }, now = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = headers.get(name);
    if (value !== undefined && /^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  }
  return retryAfterMs(headers.get('retry-after'), now);
}

/** Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt: number, settings: Required<RetrySettings>, random: () => number = Math.random): number {
  const ceiling = Math.min(settings.maxRetryDelayInMs, settings.retryDelayInMs * 2 ** attempt);
  return Math.round(ceiling * random());
}

export function isTransientNetworkError(error: unknown): boolean {
  if (!isRestError(error) || error.statusCode !== undefined) {
    const code = (error as { code?: unknown })?.code;
    return typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code);
  }
  return error.code !== undefined && TRANSIENT_NETWORK_CODES.has(error.code);
}

export function withDefaults(settings: RetrySettings = {}): Required<RetrySettings> {
  return { maxRetries: settings.maxRetries ?? 8, retryDelayInMs: settings.retryDelayInMs ?? 500, maxRetryDelayInMs: settings.maxRetryDelayInMs ?? 30_000 };
}

export function decideRetry(attempt: number, outcome: { response?: PipelineResponse; error?: unknown }, settings: Required<RetrySettings>, random?: () => number): RetryDecision {
  if (attempt >= settings.maxRetries) return { retry: false, delayInMs: 0 };
  if (outcome.response) {
    if (!RETRIABLE_STATUS.has(outcome.response.status)) return { retry: false, delayInMs: 0 };
    const requested = serverRequestedDelay(outcome.response.headers);
    const delayInMs = requested !== undefined ? Math.min(requested, settings.maxRetryDelayInMs) : backoffDelay(attempt, settings, random);
    return { retry: true, delayInMs };
  }
  if (isTransientNetworkError(outcome.error)) return { retry: true, delayInMs: backoffDelay(attempt, settings, random) };
  return { retry: false, delayInMs: 0 };
}

export function sleep(ms: number, abortSignal?: AbortSignalLike): Promise<void> {
  if (abortSignal?.aborted) return Promise.reject(new AbortError('The operation was aborted.'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError('The operation was aborted.'));
    };
    const timer = setTimeout(() => {
      abortSignal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    abortSignal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function retryPolicy(settings?: RetrySettings, random?: () => number): PipelinePolicy {
  const resolved = withDefaults(settings);
  return {
    name: RETRY_POLICY_NAME,
    async sendRequest(request: PipelineRequest, next: SendRequest): Promise<PipelineResponse> {
      for (let attempt = 0; ; attempt++) {
        let outcome: { response?: PipelineResponse; error?: unknown };
        try {
          const response = await next(request);
          if (response.status === 429) metrics().hsmThrottled({ host: new URL(request.url).host });
          outcome = { response };
        } catch (error) {
          if (request.abortSignal?.aborted) throw error;
          outcome = { error };
        }
        const decision = decideRetry(attempt, outcome, resolved, random);
        if (!decision.retry) {
          if (outcome.response) return outcome.response;
          throw outcome.error;
        }
        await sleep(decision.delayInMs, request.abortSignal);
      }
    },
  };
}
