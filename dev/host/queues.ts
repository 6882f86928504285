import { QueueServiceClient, type DequeuedMessageItem, type QueueClient } from '@azure/storage-queue';
import type { CoreBinding } from './functionsCore';
import { errorText, type HostLogger } from './log';
import { resolveAppSettingReference, type FunctionRegistration } from './registrations';

/** `extensions.queues` of host.json, with the local host's defaults. */
export interface QueueSettings {
  batchSize: number;
  maxDequeueCount: number;
  /** Longest wait between polls of an empty queue (Azure's default is a minute; locally 2 s). */
  maxPollingIntervalMs: number;
  /** How long a failed message stays invisible before its next attempt. */
  visibilityTimeoutMs: number;
  messageEncoding: 'base64' | 'none';
}

const DEFAULT_SETTINGS: QueueSettings = { batchSize: 16, maxDequeueCount: 5, maxPollingIntervalMs: 2000, visibilityTimeoutMs: 0, messageEncoding: 'base64' };
const PROCESSING_VISIBILITY_SECONDS = 600;
const MIN_POLL_MS = 100;

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
  return {
    batchSize: typeof queues.batchSize === 'number' ? queues.batchSize : DEFAULT_SETTINGS.batchSize,
    maxDequeueCount: typeof queues.maxDequeueCount === 'number' ? queues.maxDequeueCount : DEFAULT_SETTINGS.maxDequeueCount,
    maxPollingIntervalMs: queues.maxPollingInterval === undefined ? DEFAULT_SETTINGS.maxPollingIntervalMs : timeSpanMs(queues.maxPollingInterval, 'extensions.queues.maxPollingInterval'),
    visibilityTimeoutMs: queues.visibilityTimeout === undefined ? DEFAULT_SETTINGS.visibilityTimeoutMs : timeSpanMs(queues.visibilityTimeout, 'extensions.queues.visibilityTimeout'),
    messageEncoding: queues.messageEncoding === 'none' ? 'none' : 'base64',
  };
}

/** Storage queues by connection setting and queue name, as the queue bindings name them. */
export class QueueClients {
  private readonly clients = new Map<string, QueueClient>();
  private readonly created = new Set<string>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async get(binding: CoreBinding): Promise<QueueClient> {
    const setting = typeof binding.connection === 'string' && binding.connection ? binding.connection : 'AzureWebJobsStorage';
    const connectionString = this.env[setting];
    if (!connectionString) throw new Error(`Storage connection setting '${setting}' is not set`);
    const queueName = resolveAppSettingReference(String(binding.queueName ?? ''), this.env).toLowerCase();
    if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(queueName)) throw new Error(`'${queueName}' is not a valid queue name`);
    const key = `${setting}\n${queueName}`;
    let client = this.clients.get(key);
    if (!client) {
      client = QueueServiceClient.fromConnectionString(connectionString).getQueueClient(queueName);
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

export interface QueueListener {
  stop(): Promise<void>;
}

/**
 * Polls one queue for a queue-triggered function: runs a batch in parallel, deletes what
 * succeeded, retries what failed after the visibility timeout and moves a message that failed
 * `maxDequeueCount` times to `<queue>-poison`. Empty polls back off up to maxPollingInterval.
 */
export function listenToQueue(registration: FunctionRegistration, options: { clients: QueueClients; settings: QueueSettings; invoke: QueueInvoker; logger: HostLogger }): QueueListener {
  const { clients, settings, invoke, logger } = options;
  let stopped = false;
  let wake: (() => void) | undefined;
  let delay = MIN_POLL_MS;

  async function handle(client: QueueClient, message: DequeuedMessageItem): Promise<void> {
    let text: string;
    try {
      text = decodeMessageText(message.messageText, settings.messageEncoding);
      await invoke(registration, messageInput(text), {
        id: message.messageId,
        queueTrigger: text,
        dequeueCount: message.dequeueCount,
        insertionTime: message.insertedOn.toISOString(),
        expirationTime: message.expiresOn.toISOString(),
        nextVisibleTime: message.nextVisibleOn.toISOString(),
        popReceipt: message.popReceipt,
      });
      await client.deleteMessage(message.messageId, message.popReceipt);
    } catch (error) {
      if (message.dequeueCount >= settings.maxDequeueCount) {
        const poison = await clients.get({ ...registration.trigger, queueName: `${client.name}-poison` });
        await poison.sendMessage(message.messageText);
        await client.deleteMessage(message.messageId, message.popReceipt);
        logger({ level: 'error', functionName: registration.name, message: `Message ${message.messageId} failed ${message.dequeueCount} times and was moved to ${client.name}-poison: ${errorText(error)}` });
      } else {
        await client.updateMessage(message.messageId, message.popReceipt, undefined, Math.ceil(settings.visibilityTimeoutMs / 1000));
      }
    }
  }

  async function pollOnce(): Promise<number> {
    const client = await clients.get(registration.trigger);
    const response = await client.receiveMessages({ numberOfMessages: Math.min(32, Math.max(1, settings.batchSize)), visibilityTimeout: PROCESSING_VISIBILITY_SECONDS });
    await Promise.all(response.receivedMessageItems.map((message) => handle(client, message).catch((error: unknown) => {
      logger({ level: 'error', functionName: registration.name, message: `Could not settle message ${message.messageId}: ${errorText(error)}` });
    })));
    return response.receivedMessageItems.length;
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        const received = await pollOnce();
        delay = received > 0 ? MIN_POLL_MS : Math.min(delay * 2, settings.maxPollingIntervalMs);
        if (received > 0) continue;
      } catch (error) {
        if (stopped) break;
        logger({ level: 'warning', functionName: registration.name, message: `Polling the queue failed: ${errorText(error)}` });
        delay = settings.maxPollingIntervalMs;
      }
      await new Promise<void>((resolve) => {
        const handle = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(handle);
          resolve();
        };
      });
      wake = undefined;
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
