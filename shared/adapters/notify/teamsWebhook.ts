import { DeliveryFailure, type OutgoingNotification, type TeamsPort } from '../../services/notificationPorts';
import { retryAfterMs } from '../hsm-rbac/retryPolicy';
import { teamsMessageFor, type TeamsMessage } from './teamsCard';
import { traceDependency } from '../telemetry';

export interface TeamsPosterOptions {
  /** Tries in all, the first included (default 4). */
  maxAttempts?: number;
  /** Backoff without Retry-After: base × 2^n (default 500 ms). */
  baseDelayMs?: number;
  /** The longest Retry-After honoured; a longer one gives up at once (default 30 s). */
  maxRetryAfterMs?: number;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  sleep?(ms: number): Promise<void>;
}

/**
 * Posts messages to a Teams Workflows webhook ("When a Teams webhook request is received"). Retries
 * 429, 408 and 5xx answers and lost connections with backoff, honouring Retry-After; other 4xx
 * answers are final.
 */
export class TeamsWebhookPoster {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: TeamsPosterOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async post(url: string, message: TeamsMessage): Promise<{ attempts: number; status: number }> {
    const body = JSON.stringify(message);
    let last = 'no answer';
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      let wait = this.baseDelayMs * 2 ** (attempt - 1);
      try {
        // The span names the host only: the webhook's path and query are its secret.
        const response = await traceDependency(`POST ${new URL(url).host}`, { 'http.request.method': 'POST', 'server.address': new URL(url).host }, () => fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
        }));
        await response.arrayBuffer().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return { attempts: attempt, status: response.status };
        last = `HTTP ${response.status}`;
        const retryable = response.status === 429 || response.status === 408 || response.status >= 500;
        if (!retryable) throw new DeliveryFailure(`the webhook answered ${last}`, false, undefined, attempt);
        const asked = retryAfterMs(response.headers.get('retry-after'));
        if (asked !== undefined) {
          if (asked > this.maxRetryAfterMs) throw new DeliveryFailure(`the webhook answered ${last} and asked to wait ${Math.round(asked / 1000)} s`, true, asked, attempt);
          wait = asked;
        }
      } catch (error) {
        if (error instanceof DeliveryFailure) throw error;
        last = (error as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (error as Error).message;
      }
      if (attempt < this.maxAttempts) await this.sleep(wait);
    }
    // The poster has retried already: the notification service does not start over.
    throw new DeliveryFailure(`the webhook failed ${this.maxAttempts} times (last: ${last})`, false, undefined, this.maxAttempts);
  }
}

/** TeamsPort: the policy names an app setting; the setting holds the webhook URL. */
export class TeamsChannel implements TeamsPort {
  constructor(
    private readonly webhooks: Readonly<Record<string, string>>,
    private readonly poster = new TeamsWebhookPoster(),
  ) {}

  async post(webhookSetting: string, notification: OutgoingNotification): Promise<{ attempts: number }> {
    const url = this.webhooks[webhookSetting];
    if (!url) throw new DeliveryFailure(`app setting ${webhookSetting} (a Teams webhook URL) is not set`, false, undefined, 0);
    const { attempts } = await this.poster.post(url, teamsMessageFor(notification));
    return { attempts };
  }
}
