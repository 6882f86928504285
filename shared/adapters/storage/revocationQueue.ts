import type { QueueClient } from '@azure/storage-queue';
import type { Clock, RevocationScheduler } from '../../services/ports';

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
  private ready: Promise<unknown> | undefined;

  constructor(
    private readonly queue: QueueClient,
    private readonly clock: Clock,
  ) {}

  async schedule(requestId: string, at: Date): Promise<void> {
    this.ready ??= this.queue.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const message: RevocationMessage = { requestId, expiresAt: at.toISOString() };
    const seconds = Math.ceil((at.getTime() - this.clock.now().getTime()) / 1000);
    const visibilityTimeout = Math.min(Math.max(seconds, 0), MAX_VISIBILITY_SECONDS);
    // The Functions queue trigger reads base64 by default (host.json messageEncoding).
    await this.queue.sendMessage(Buffer.from(JSON.stringify(message), 'utf8').toString('base64'), { visibilityTimeout });
  }
}
