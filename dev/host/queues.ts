import type { DequeuedMessageItem, QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { CoreBinding } from './functionsCore';
import { errorText, type HostLogger } from './log';
import { resolveAppSettingReference, type FunctionRegistration } from './registrations';
import { queueServiceFor, resolveQueueConnection } from './storageConnection';

/**
 * `extensions.queues` of host.json, with Azure's defaults except where noted (learn.microsoft.com,
 * "Azure Queue storage trigger and bindings for Azure Functions", host.json settings).
 */
export interface QueueSettings {
  /** Messages fetched at once, 1 to 32 (default 16). */
  batchSize: number;
  /**
   * A new batch is fetched once the messages in flight drop to this many or fewer, not only after
   * the whole batch: at most batchSize + newBatchThreshold run at once. Azure's default is
   * batchSize / 2 per core; locally one core's worth.
   */
  newBatchThreshold: number;
  maxDequeueCount: number;
  /** Longest wait between polls of an empty queue (Azure's default is a minute; locally 2 s). */
  maxPollingIntervalMs: number;
  /** How long a failed message stays invisible before its next attempt. */
  visibilityTimeoutMs: number;
  messageEncoding: 'base64' | 'none';
}

const DEFAULT_BATCH_SIZE = 16;
const DEFAULT_SETTINGS: QueueSettings = { batchSize: DEFAULT_BATCH_SIZE, newBatchThreshold: DEFAULT_BATCH_SIZE / 2, maxDequeueCount: 5, maxPollingIntervalMs: 2000, visibilityTimeoutMs: 0, messageEncoding: 'base64' };
/** A message being processed stays invisible this long, renewed at half of it while its function runs (as the Functions host does). */
export const PROCESSING_VISIBILITY_SECONDS = 600;
/** After a poll that found messages, the next one waits this long. */
export const FOUND_POLL_MS = 100;
/** After the first empty poll the wait starts here and doubles up to maxPollingInterval. */
export const FIRST_EMPTY_POLL_MS = 200;

export function timeSpanMs(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  const match = typeof value === 'string' ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(value) : null;
  if (!match) throw new Error(`host.json ${what} must be a TimeSpan like "00:00:02"`);
  const [, days, hours, minutes, seconds, fraction] = match;
  return ((((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000) + Number((fraction ?? '0').padEnd(3, '0'));
}

export function queueSettingsFromHostJson(hostJson: Record<string, unknown>): QueueSettings {
  const extensions = (hostJson.extensions ?? {}) as Record<string, unknown>;
  const queues = (extensions.queues ?? {}) as Record<string, unknown>;
  const batchSize = typeof queues.batchSize === 'number' ? queues.batchSize : DEFAULT_SETTINGS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 32) throw new Error('host.json extensions.queues.batchSize must be a whole number from 1 to 32');
  const newBatchThreshold = typeof queues.newBatchThreshold === 'number' ? queues.newBatchThreshold : Math.floor(batchSize / 2);
  if (!Number.isInteger(newBatchThreshold) || newBatchThreshold < 0) throw new Error('host.json extensions.queues.newBatchThreshold must be a whole number, 0 or more');
  return {
    batchSize,
    newBatchThreshold,
    maxDequeueCount: typeof queues.maxDequeueCount === 'number' ? queues.maxDequeueCount : DEFAULT_SETTINGS.maxDequeueCount,
    maxPollingIntervalMs: queues.maxPollingInterval === undefined ? DEFAULT_SETTINGS.maxPollingIntervalMs : timeSpanMs(queues.maxPollingInterval, 'extensions.queues.maxPollingInterval'),
    visibilityTimeoutMs: queues.visibilityTimeout === undefined ? DEFAULT_SETTINGS.visibilityTimeoutMs : timeSpanMs(queues.visibilityTimeout, 'extensions.queues.visibilityTimeout'),
    messageEncoding: queues.messageEncoding === 'none' ? 'none' : 'base64',
  };
}

/**
 * Storage queues by connection and queue name, as the queue bindings name them; a connection is a
 * connection string or an identity-based `<connection>__*` group of settings (storageConnection.ts).
 */
export class QueueClients {
  private readonly services = new Map<string, QueueServiceClient>();
  private readonly clients = new Map<string, QueueClient>();
  private readonly created = new Set<string>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async get(binding: CoreBinding): Promise<QueueClient> {
    const connection = resolveQueueConnection(binding.connection, this.env);
    const queueName = resolveAppSettingReference(String(binding.queueName ?? ''), this.env).toLowerCase();
    if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(queueName)) throw new Error(`'${queueName}' is not a valid queue name`);
    const key = `${connection.setting}\n${queueName}`;
    let client = this.clients.get(key);
    if (!client) {
      let service = this.services.get(connection.setting);
      if (!service) {
        service = queueServiceFor(connection, this.env);
        this.services.set(connection.setting, service);
      }
      client = service.getQueueClient(queueName);
      this.clients.set(key, client);
    }
    if (!this.created.has(key)) {
      await client.createIfNotExists();
      this.created.add(key);
    }
    return client;
  }
}

export function encodeMessage(value: unknown, encoding: QueueSettings['messageEncoding']): string {
  const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : JSON.stringify(value);
  return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
}

function decodeMessageText(messageText: string, encoding: QueueSettings['messageEncoding']): string {
  if (encoding === 'none') return messageText;
  const decoded = Buffer.from(messageText, 'base64');
  if (decoded.toString('base64') !== messageText) throw new Error('The message is not valid base64 (host.json extensions.queues.messageEncoding is base64)');
  return decoded.toString('utf8');
}

/** What the function receives: the JSON value when the message is JSON, else the text. */
export function messageInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function sendQueueOutput(clients: QueueClients, settings: QueueSettings, binding: CoreBinding, value: unknown): Promise<void> {
  const client = await clients.get(binding);
  const messages = Array.isArray(value) ? value : [value];
  for (const message of messages) await client.sendMessage(encodeMessage(message, settings.messageEncoding));
}

export type QueueInvoker = (registration: FunctionRegistration, input: unknown, triggerMetadata: Record<string, unknown>) => Promise<void>;

/** What the listener needs of a queue (the SDK's QueueClient, or a fake in unit tests). */
export type ListenedQueue = Pick<QueueClient, 'name' | 'receiveMessages' | 'deleteMessage' | 'updateMessage' | 'sendMessage'>;

export interface QueueListenerOptions {
  clients: { get(binding: CoreBinding): Promise<ListenedQueue> };
  settings: QueueSettings;
  invoke: QueueInvoker;
  logger: HostLogger;
  /** Waits between polls (tests pass one that records the waits). */
  sleep?: (ms: number, wake: Promise<void>) => Promise<void>;
}

export interface QueueListener {
  stop(): Promise<void>;
}

const sleepOrWake = (ms: number, wake: Promise<void>): Promise<void> => {
  let handle: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((resolve) => (handle = setTimeout(resolve, ms))), wake]).finally(() => clearTimeout(handle));
};

/**
 * Polls one queue for a queue-triggered function as the Functions host does: fetches up to
 * batchSize messages and runs them in parallel, and fetches the next batch as soon as fewer than
 * newBatchThreshold + 1 are in flight (not when the whole batch is done). Deletes what succeeded,
 * makes what failed visible again after visibilityTimeout, moves a message that failed
 * maxDequeueCount times to `<queue>-poison`. After a poll that found messages the next waits
 * 100 ms; empty polls wait 200 ms, doubling up to maxPollingInterval. A message whose instance dies
 * while it runs becomes visible again once its processing visibility runs out.
 */
export function listenToQueue(registration: FunctionRegistration, options: QueueListenerOptions): QueueListener {
  const { clients, settings, invoke, logger } = options;
  const sleep = options.sleep ?? sleepOrWake;
  let stopped = false;
  let inFlight = 0;
  let signal = (): void => undefined;
  let changed = new Promise<void>((resolve) => (signal = resolve));
  /** Resolves the current wait (a message settled, or stop) and arms the next. */
  const notify = (): void => {
    signal();
    changed = new Promise<void>((resolve) => (signal = resolve));
  };

  async function settle(client: ListenedQueue, message: DequeuedMessageItem, keep: { popReceipt: string }): Promise<void> {
    try {
      const text = decodeMessageText(message.messageText, settings.messageEncoding);
      await invoke(registration, messageInput(text), {
        id: message.messageId,
        queueTrigger: text,
        dequeueCount: message.dequeueCount,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        popReceipt: message.popReceipt,
      });
      await client.deleteMessage(message.messageId, keep.popReceipt);
    } catch (error) {
      if (message.dequeueCount >= settings.maxDequeueCount) {
        const poison = await clients.get({ ...registration.trigger, queueName: `${client.name}-poison` });
        await poison.sendMessage(message.messageText);
        await client.deleteMessage(message.messageId, keep.popReceipt);
        logger({ level: 'error', functionName: registration.name, message: `Message ${message.messageId} failed ${message.dequeueCount} times and was moved to ${client.name}-poison: ${errorText(error)}` });
      } else {
        await client.updateMessage(message.messageId, keep.popReceipt, undefined, Math.ceil(settings.visibilityTimeoutMs / 1000));
      }
    }
  }

  /** Runs one message, keeping it invisible while its function runs. */
  async function handle(client: ListenedQueue, message: DequeuedMessageItem): Promise<void> {
    const keep = { popReceipt: message.popReceipt };
    const renewal = setInterval(() => {
      client.updateMessage(message.messageId, keep.popReceipt, undefined, PROCESSING_VISIBILITY_SECONDS)
        .then((renewed) => { if (renewed.popReceipt) keep.popReceipt = renewed.popReceipt; })
        .catch((error: unknown) => logger({ level: 'warning', functionName: registration.name, message: `Could not keep message ${message.messageId} invisible: ${errorText(error)}` }));
    }, (PROCESSING_VISIBILITY_SECONDS * 1000) / 2);
    renewal.unref();
    try {
      await settle(client, message, keep);
    } catch (error) {
      logger({ level: 'error', functionName: registration.name, message: `Could not settle message ${message.messageId}: ${errorText(error)}` });
    } finally {
      clearInterval(renewal);
    }
  }

  /** Fetches a batch and starts it; returns how many came. */
  async function poll(): Promise<number> {
    const client = await clients.get(registration.trigger);
    const response = await client.receiveMessages({ numberOfMessages: settings.batchSize, visibilityTimeout: PROCESSING_VISIBILITY_SECONDS });
    for (const message of response.receivedMessageItems) {
      inFlight++;
      void handle(client, message).finally(() => {
        inFlight--;
        notify();
      });
    }
    return response.receivedMessageItems.length;
  }

  let stopNow = (): void => undefined;
  const stopping = new Promise<void>((resolve) => (stopNow = resolve));
  const loop = (async () => {
    let emptyDelay = 0;
    while (!stopped) {
      if (inFlight > settings.newBatchThreshold) {
        await changed;
        continue;
      }
      let delay: number;
      try {
        const received = await poll();
        emptyDelay = received > 0 ? 0 : Math.min(emptyDelay === 0 ? FIRST_EMPTY_POLL_MS : emptyDelay * 2, settings.maxPollingIntervalMs);
        delay = received > 0 ? FOUND_POLL_MS : emptyDelay;
      } catch (error) {
        if (stopped) break;
        logger({ level: 'warning', functionName: registration.name, message: `Polling the queue failed: ${errorText(error)}` });
        delay = settings.maxPollingIntervalMs;
      }
      if (!stopped) await sleep(delay, stopping);
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      stopNow();
      notify();
      await loop;
    },
  };
}
