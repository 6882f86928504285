import type { QueueClient } from '@azure/storage-queue';
import type { RunContinuation } from '../../services/reconciliation';
import { JsonQueue } from './setup';

export const RECONCILE_QUEUE = 'reconcile-runs';

export interface RunMessage {
  runId: string;
}

/** A run's next step is a queue message: it survives the process that scheduled it. */
export class QueueRunContinuation implements RunContinuation {
  private readonly queue: JsonQueue;

  constructor(queue: QueueClient) {
    this.queue = new JsonQueue(queue);
  }

  async continueLater(runId: string, delayMs: number): Promise<void> {
    const message: RunMessage = { runId };
    await this.queue.send(message, Math.ceil(Math.max(0, delayMs) / 1000));
  }
}
