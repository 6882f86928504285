import type { QueueClient } from '@azure/storage-queue';

/**
 * Runs `create` (a table or queue's create-if-missing) once per process: later callers share its
 * success, while a failure is forgotten so that the next call tries again.
 */
export function onceSucceeded(create: () => Promise<unknown>): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= create().then(
      () => undefined,
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    );
    return ready;
  };
}

/** A queue of JSON messages, base64-encoded as the Functions queue trigger reads them by default. */
export class JsonQueue {
  private readonly ensureQueue: () => Promise<void>;

  constructor(private readonly queue: QueueClient) {
    this.ensureQueue = onceSucceeded(() => queue.createIfNotExists());
  }

  async send(message: unknown, visibilityTimeoutSeconds: number): Promise<void> {
    await this.ensureQueue();
    await this.queue.sendMessage(Buffer.from(JSON.stringify(message), 'utf8').toString('base64'), { visibilityTimeout: visibilityTimeoutSeconds });
  }
}
