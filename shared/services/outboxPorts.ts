/** The ports of the outbox drainer: where committed events wait, and where they are published. */
import type { OutboundEvent } from '../domain';

export interface OutboxEntry {
  /** Its place in commit order (the row key). */
  readonly key: string;
  readonly etag: string;
  readonly event: OutboundEvent;
}

export interface OutboxStore {
  /** The oldest waiting events, in commit order. */
  oldest(limit: number): Promise<OutboxEntry[]>;
  /** Deletes published entries; one another drainer already deleted counts as deleted. */
  remove(entries: readonly OutboxEntry[]): Promise<void>;
  /** Takes or renews the drain lease for `holder` until `until`; false while another holder has it. */
  lease(holder: string, until: Date, now: Date): Promise<boolean>;
  /** Gives the lease up early (best effort: it lapses anyway). */
  release(holder: string): Promise<void>;
  /** Moves an event the topic refuses out of the way, keeping it and the reason (one transaction). */
  deadLetter(entry: OutboxEntry, reason: string): Promise<void>;
}

/**
 * The topic refused the content (400, 413), as opposed to failing to take it (network, 5xx, 429, auth):
 * sending the same events again cannot succeed.
 */
export class EventsRefusedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'EventsRefusedError';
  }
}

/** Publishes a batch of events to the topic: all of them, or it throws. */
export interface EventPublisher {
  publish(events: readonly OutboundEvent[]): Promise<void>;
}
