import type { TableClient } from '@azure/data-tables';
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

const tablesReady = new WeakMap<TableClient, () => Promise<void>>();

/** Creates `table` if missing, once per client: every adapter built over the same client shares it. */
export function ensureTable(table: TableClient): Promise<void> {
  let ensure = tablesReady.get(table);
  if (!ensure) {
    ensure = onceSucceeded(() => table.createTable());
    tablesReady.set(table, ensure);
  }
  return ensure();
}

/** The HTTP status a table call failed with. */
export const statusOf = (error: unknown): number | undefined => (error as { statusCode?: number }).statusCode;

/** 409 or 412: another writer got there first (a row created, or an If-Match lost). */
export function isContended(error: unknown): boolean {
  const status = statusOf(error);
  return status === 409 || status === 412;
}

/** Row keys may not hold `/`, `\`, `#`, `?` or control characters. */
export const rowKeyOf = (text: string): string => encodeURIComponent(text);

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
