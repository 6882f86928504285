import type { QueueClient } from '@azure/storage-queue';
import type { Clock, RevocationScheduler, WakeReason } from '../../services/ports';
import { JsonQueue } from './setup';

export const REVOCATION_QUEUE = 'revocations';
/** Storage queues hide a message for at most seven days; a later wake-up is sent again when the message wakes early. */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 60;
/**
 * How long after an expiry its backstop wakes. A dequeued message stays invisible for ten minutes
 * when the instance holding it dies; the backstop (and the sweep) ends the grant long before that.
 */
export const EXPIRY_BACKSTOP_MS = 20_000;

export interface RevocationMessage {
  requestId: string;
  /** When the message was meant to wake (the expiry itself for 'expiry'). */
  expiresAt: string;
  /** Absent in messages written before reasons existed: those are expiries. */
  reason?: WakeReason;
  /** How many follow-ups came before this one in a chain (a wake-up writes the next before it works). */
  hop?: number;
}

/**
 * A message per wake-up, invisible until it is due: the queue trigger wakes exactly then, on
 * whichever instance is running, and the message survives any process dying in between.
 */
export class QueueRevocationScheduler implements RevocationScheduler {
  private readonly queue: JsonQueue;

  constructor(
    queue: QueueClient,
    private readonly clock: Clock,
  ) {
    this.queue = new JsonQueue(queue);
  }

  async schedule(requestId: string, at: Date, reason: WakeReason = 'expiry', hop?: number): Promise<void> {
    await this.send({ requestId, expiresAt: at.toISOString(), reason, ...(hop ? { hop } : {}) });
    if (reason === 'expiry') await this.send({ requestId, expiresAt: new Date(at.getTime() + EXPIRY_BACKSTOP_MS).toISOString(), reason: 'backstop' });
  }

  private async send(message: RevocationMessage): Promise<void> {
    const seconds = Math.ceil((Date.parse(message.expiresAt) - this.clock.now().getTime()) / 1000);
    await this.queue.send(message, Math.min(Math.max(seconds, 0), MAX_VISIBILITY_SECONDS));
  }
}
