import { convertEvent, type EventSchema, type JsonObject } from './events';
import { subscriptionHeaderName, WEBHOOK_TIMEOUT_MS, type ActiveSubscription } from './subscriptions';
import { describeFailure, sendWebhook } from './webhook';

/**
 * Pushes events to subscriptions as Event Grid does: one event per request (an array of one in the
 * Event Grid schema, a single structured CloudEvent otherwise), success on 200-204, no retry after
 * 400, 401, 403 or 413, other failures retried on a schedule until the attempts run out, then
 * dead-lettered. Events for one subscription and subject go out in the order they were published.
 */

export interface DeliveryRecord {
  subscription: string;
  eventId: string;
  attempts: number;
  status: 'pending' | 'delivered' | 'dead-lettered';
  lastError?: string;
}

export interface DeliveryJob {
  subscription: ActiveSubscription;
  event: JsonObject;
  schema: EventSchema;
  subject: string;
  receivedAt: string;
}

const SUCCESS = new Set([200, 201, 202, 203, 204]);
/** Event Grid treats these answers from a webhook as final. */
const NOT_RETRIED = new Set([400, 401, 403, 413]);

type Outcome = { delivered: true } | { delivered: false; retry: boolean; error: string };

export class Dispatcher {
  private readonly records: DeliveryRecord[] = [];
  private readonly chains = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private readonly waits = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly topic: string,
    private readonly retryDelaysMs: readonly number[],
    private readonly log: (message: string) => void,
  ) {}

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  deliveries(): DeliveryRecord[] {
    return this.records.map((record) => ({ ...record }));
  }

  /** Forgets finished deliveries; pending ones carry on. */
  forgetSettled(): void {
    const pending = this.records.filter((record) => record.status === 'pending');
    this.records.splice(0, this.records.length, ...pending);
    this.notify();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  enqueue(job: DeliveryJob): void {
    const record: DeliveryRecord = { subscription: job.subscription.definition.name, eventId: String(job.event.id), attempts: 0, status: 'pending' };
    this.records.push(record);
    const key = `${job.subscription.definition.name.toLowerCase()}\u0000${job.subject}`;
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.deliverSafely(job, record));
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    this.notify();
  }

  /** Stops retries and in-flight calls; deliveries not finished stay pending. */
  close(): void {
    this.abort.abort();
    for (const wait of this.waits) {
      clearTimeout(wait.timer);
      wait.wake();
    }
    this.waits.clear();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private maxAttempts(job: DeliveryJob): number {
    return job.subscription.maxDeliveryAttempts ?? this.retryDelaysMs.length + 1;
  }

  private delayBefore(nextAttempt: number): number {
    if (this.retryDelaysMs.length === 0) return 0;
    return this.retryDelaysMs[Math.min(nextAttempt - 2, this.retryDelaysMs.length - 1)];
  }

  private async deliverSafely(job: DeliveryJob, record: DeliveryRecord): Promise<void> {
    try {
      await this.deliver(job, record);
    } catch (error) {
      record.status = 'dead-lettered';
      record.lastError = `The emulator could not deliver the event: ${describeFailure(error)}`;
      this.log(record.lastError);
      this.notify();
    }
  }

  private async deliver(job: DeliveryJob, record: DeliveryRecord): Promise<void> {
    const maxAttempts = this.maxAttempts(job);
    while (!this.signal.aborted) {
      record.attempts += 1;
      const outcome = await this.attempt(job, record.attempts);
      if (this.signal.aborted) return;
      if (outcome.delivered) {
        record.status = 'delivered';
        delete record.lastError;
        this.log(`Delivered ${record.eventId} to '${record.subscription}' (attempt ${record.attempts})`);
        this.notify();
        return;
      }
      record.lastError = outcome.error;
      if (!outcome.retry || record.attempts >= maxAttempts) {
        record.status = 'dead-lettered';
        this.log(`Dead-lettered ${record.eventId} for '${record.subscription}' after ${record.attempts} attempt(s): ${outcome.error}`);
        this.notify();
        return;
      }
      this.notify();
      await this.sleep(this.delayBefore(record.attempts + 1));
    }
  }

  private async attempt(job: DeliveryJob, attempt: number): Promise<Outcome> {
    const { subscription } = job;
    const event = convertEvent(job.event, job.schema, subscription.deliverySchema, { topic: this.topic, receivedAt: job.receivedAt });
    const headers: Record<string, string> = {
      'aeg-event-type': 'Notification',
      'aeg-subscription-name': subscriptionHeaderName(subscription),
      'aeg-delivery-count': String(attempt - 1),
    };
    let body: string;
    if (subscription.deliverySchema === 'EventGridSchema') {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['aeg-data-version'] = String(event.dataVersion ?? '');
      headers['aeg-metadata-version'] = '1';
      body = JSON.stringify([event]);
    } else {
      headers['content-type'] = 'application/cloudevents+json; charset=utf-8';
      headers['aeg-metadata-version'] = String(event.specversion ?? '1.0');
      body = JSON.stringify(event);
    }
    try {
      const response = await sendWebhook({ method: 'POST', url: subscription.endpoint, headers, body, timeoutMs: WEBHOOK_TIMEOUT_MS, signal: this.signal });
      if (SUCCESS.has(response.status)) return { delivered: true };
      const excerpt = response.body.trim().slice(0, 200);
      return { delivered: false, retry: !NOT_RETRIED.has(response.status), error: `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}` };
    } catch (error) {
      return { delivered: false, retry: true, error: describeFailure(error) };
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wait = {
        wake: resolve,
        timer: setTimeout(() => {
          this.waits.delete(wait);
          resolve();
        }, ms),
      };
      this.waits.add(wait);
    });
  }
}
