import type { QueueClient } from '@azure/storage-queue';
import type { RunContinuation } from '../../services/reconciliation';

export const RECONCILE_QUEUE = 'reconcile-runs';

export interface RunMessage {
  runId: string;
}

/** A run's next step is a queue message: it survives the process that scheduled it. */
export class QueueRunContinuation implements RunContinuation {
  private ready: Promise<unknown> | undefined;

  constructor(private readonly queue: QueueClient) {}

  async continueLater(runId: string, delayMs: number): Promise<void> {
    this.ready ??= this.queue.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const message: RunMessage = { runId };
    await this.queue.sendMessage(Buffer.from(JSON.stringify(message), 'utf8').toString('base64'), { visibilityTimeout: Math.ceil(Math.max(0, delayMs) / 1000) });
  }
}
