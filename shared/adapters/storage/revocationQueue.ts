import type { QueueClient } from '@azure/storage-queue';
import type { Clock, RevocationScheduler } from '../../services/ports';
import { JsonQueue } from './setup';

export const REVOCATION_QUEUE = 'revocations';
/** Storage queues hide a message for at most seven days; a later expiry is re-scheduled when the message wakes. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 60;

export interface RevocationMessage {
  requestId: string;
  expiresAt: string;
}

/**
 * A message per grant, invisible until the grant expires: the queue trigger wakes exactly then,
 * on whichever instance is running, and the message survives any process dying in between.
 */
export class QueueRevocationScheduler implements RevocationScheduler {
  private readonly queue: JsonQueue;

  constructor(
    queue: QueueClient,
    private readonly clock: Clock,
  ) {
    this.queue = new JsonQueue(queue);
  }

  async schedule(requestId: string, at: Date): Promise<void> {
    const message: RevocationMessage = { requestId, expiresAt: at.toISOString() };
    const seconds = Math.ceil((at.getTime() - this.clock.now().getTime()) / 1000);
    const visibilityTimeout = Math.min(Math.max(seconds, 0), MAX_VISIBILITY_SECONDS);
    await this.queue.send(message, visibilityTimeout);
  }
}
