import type { DequeuedMessageItem } from '@azure/storage-queue';
import { silentLogger } from '../../dev/host';
import { FIRST_EMPTY_POLL_MS, FOUND_POLL_MS, listenToQueue, PROCESSING_VISIBILITY_SECONDS, queueSettingsFromHostJson, type ListenedQueue, type QueueSettings } from '../../dev/host/queues';
import type { FunctionRegistration } from '../../dev/host/registrations';

/** An in-memory queue: what was received, deleted, made visible again and sent to it. */
class FakeQueue {
  readonly waiting: string[] = [];
  readonly receives: number[] = [];
  readonly deleted: string[] = [];
  readonly updates: Array<{ id: string; seconds: number }> = [];
  readonly sent: string[] = [];
  private nextId = 0;
  private readonly dequeues = new Map<string, number>();

  constructor(readonly name: string) {}

  client(): ListenedQueue {
    return {
      name: this.name,
      receiveMessages: (async (options?: { numberOfMessages?: number }) => {
        const count = Math.min(options?.numberOfMessages ?? 1, this.waiting.length);
        this.receives.push(count);
        const items: DequeuedMessageItem[] = this.waiting.splice(0, count).map((text) => {
          const [id, body] = text.split('|');
          const dequeueCount = (this.dequeues.get(id) ?? 0) + 1;
          this.dequeues.set(id, dequeueCount);
          const at = new Date();
          return { messageId: id, popReceipt: `r-${id}`, messageText: Buffer.from(body).toString('base64'), dequeueCount, insertedOn: at, expiresOn: at, nextVisibleOn: at };
        });
        return { receivedMessageItems: items };
      }) as unknown as ListenedQueue['receiveMessages'],
      deleteMessage: (async (id: string) => {
        this.deleted.push(id);
        return {};
      }) as unknown as ListenedQueue['deleteMessage'],
      updateMessage: (async (id: string, _receipt: string, _text?: string, seconds?: number) => {
        this.updates.push({ id, seconds: seconds ?? 0 });
        return { popReceipt: `r-${id}` };
      }) as unknown as ListenedQueue['updateMessage'],
      sendMessage: (async (text: string) => {
        this.sent.push(text);
        return {};
      }) as unknown as ListenedQueue['sendMessage'],
    };
  }

  add(body: string): void {
    this.waiting.push(`m${this.nextId++}|${body}`);
  }

  /** A failed message made visible again (the fake has no clock: it is back at once). */
  redeliver(id: string, body: string): void {
    this.waiting.push(`${id}|${body}`);
  }
}

const registration = { name: 'work', kind: 'queue', trigger: { queueName: 'work' } } as unknown as FunctionRegistration;
const settings = (overrides: Partial<QueueSettings>): QueueSettings => ({ ...queueSettingsFromHostJson({}), maxPollingIntervalMs: 1000, ...overrides });
const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const until = async (condition: () => boolean): Promise<void> => {
  for (let turns = 0; !condition(); turns++) {
    if (turns > 100_000) throw new Error('the condition never held');
    await yieldTurn();
  }
};

describe('the local host queue trigger', () => {
  it('reads batchSize and newBatchThreshold from host.json, with Azure defaults (16, half of it) and limits', () => {
    expect(queueSettingsFromHostJson({})).toMatchObject({ batchSize: 16, newBatchThreshold: 8 });
    expect(queueSettingsFromHostJson({ extensions: { queues: { batchSize: 4 } } })).toMatchObject({ batchSize: 4, newBatchThreshold: 2 });
    expect(queueSettingsFromHostJson({ extensions: { queues: { batchSize: 4, newBatchThreshold: 0 } } })).toMatchObject({ batchSize: 4, newBatchThreshold: 0 });
    expect(() => queueSettingsFromHostJson({ extensions: { queues: { batchSize: 33 } } })).toThrow(/1 to 32/);
    expect(() => queueSettingsFromHostJson({ extensions: { queues: { newBatchThreshold: -1 } } })).toThrow(/newBatchThreshold/);
  });

  it('fetches the next batch as soon as the messages in flight drop to newBatchThreshold, not after the whole batch', async () => {
    const queue = new FakeQueue('work');
    for (let i = 0; i < 12; i++) queue.add(`job ${i}`);
    const release = new Map<string, () => void>();
    let running = 0;
    let most = 0;
    let gated = true;
    const listener = listenToQueue(registration, {
      clients: { get: async () => queue.client() },
      settings: settings({ batchSize: 4, newBatchThreshold: 2 }),
      logger: silentLogger,
      sleep: yieldTurn,
      invoke: (_r, input) => new Promise<void>((resolve) => {
        running++;
        most = Math.max(most, running);
        const done = (): void => ((running--), resolve());
        if (gated) release.set(String(input), done);
        else done();
      }),
    });
    await until(() => release.size === 4);
    // Four in flight, above the threshold of two: no new fetch while they run.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(queue.receives).toEqual([4]);
    // Two settle: two in flight, at the threshold, so the next batch comes while the first two still run.
    release.get('job 0')!();
    release.get('job 1')!();
    release.delete('job 0');
    release.delete('job 1');
    await until(() => queue.receives.length === 2);
    expect(queue.receives).toEqual([4, 4]);
    expect(running).toBe(6);
    gated = false;
    for (const done of release.values()) done();
    await until(() => queue.deleted.length === 12);
    await listener.stop();
    expect(most).toBe(6); // batchSize + newBatchThreshold at most
  });

  it('waits 100 ms after a poll that found messages, 200 ms after the first empty one, doubling up to maxPollingInterval', async () => {
    const queue = new FakeQueue('work');
    queue.add('one');
    const waits: number[] = [];
    const listener = listenToQueue(registration, {
      clients: { get: async () => queue.client() },
      settings: settings({ maxPollingIntervalMs: 1000 }),
      logger: silentLogger,
      sleep: (ms) => (waits.push(ms), yieldTurn()),
      invoke: async () => undefined,
    });
    await until(() => waits.length >= 6);
    await listener.stop();
    expect(waits.slice(0, 6)).toEqual([FOUND_POLL_MS, FIRST_EMPTY_POLL_MS, 400, 800, 1000, 1000]);
  });

  it('makes a failed message visible again after visibilityTimeout and moves it to <queue>-poison after maxDequeueCount', async () => {
    const queue = new FakeQueue('work');
    const poison = new FakeQueue('work-poison');
    queue.add('fails');
    let attempts = 0;
    const listener = listenToQueue(registration, {
      clients: { get: async (binding) => (binding.queueName === 'work-poison' ? poison.client() : queue.client()) },
      settings: settings({ maxDequeueCount: 3, visibilityTimeoutMs: 10_000 }),
      logger: silentLogger,
      sleep: yieldTurn,
      invoke: async () => {
        attempts++;
        throw new Error('boom');
      },
    });
    await until(() => queue.updates.length === 1);
    queue.redeliver('m0', 'fails');
    await until(() => queue.updates.length === 2);
    queue.redeliver('m0', 'fails');
    await until(() => poison.sent.length === 1);
    await listener.stop();
    expect(attempts).toBe(3);
    expect(queue.updates).toEqual([{ id: 'm0', seconds: 10 }, { id: 'm0', seconds: 10 }]);
    expect(queue.deleted).toEqual(['m0']);
    expect(Buffer.from(poison.sent[0], 'base64').toString()).toBe('fails');
  });

  it('receives messages invisible for the processing time, so that a dead instance\'s message comes back', async () => {
    const queue = new FakeQueue('work');
    const client = queue.client();
    const asked: number[] = [];
    const receive = client.receiveMessages.bind(client);
    client.receiveMessages = (async (options?: { visibilityTimeout?: number; numberOfMessages?: number }) => {
      asked.push(options?.visibilityTimeout ?? 0);
      return receive(options);
    }) as ListenedQueue['receiveMessages'];
    const listener = listenToQueue(registration, { clients: { get: async () => client }, settings: settings({}), logger: silentLogger, sleep: yieldTurn, invoke: async () => undefined });
    await until(() => asked.length >= 2);
    await listener.stop();
    expect(asked[0]).toBe(PROCESSING_VISIBILITY_SECONDS);
  });
});
