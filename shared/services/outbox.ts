import type { Clock, ServiceLog } from './ports';
import { EventsRefusedError, type EventPublisher, type OutboxEntry, type OutboxStore } from './outboxPorts';

export interface OutboxDrainerDependencies {
  store: OutboxStore;
  publisher: EventPublisher;
  clock: Clock;
  log: ServiceLog;
  /** Names this instance in the lease row. */
  holder: string;
  /** Events per publish call (default 100; a batch must stay under Event Grid's 1 MB). */
  batchSize?: number;
  /** How long the lease lasts without renewal (default 60 s); it is renewed after every batch. */
  leaseMs?: number;
  /** Waits between publish attempts of one batch (default 500 ms, 2 s, 8 s); the SDK retries within each. */
  retryDelaysMs?: readonly number[];
  sleep?(ms: number): Promise<void>;
}

export interface DrainResult {
  /** False when another instance held the lease: it drains instead. */
  readonly leased: boolean;
  readonly published: number;
}

const DEFAULT_BATCH = 100;
const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_RETRY_DELAYS_MS = [500, 2000, 8000];
/** A kick that finds the lease held tries again this often, so a drain that just ended does not leave a fresh event behind. */
const KICK_LEASE_RETRIES_MS = [100, 300, 1000];

/**
 * Publishes what the ledger's outbox holds, oldest first, and deletes each batch once Event Grid has
 * accepted it. One instance drains at a time (a lease row with ETags), which keeps the order per
 * request. A crash after publishing and before deleting publishes the batch again with the same ids:
 * delivery is at least once, and consumers de-duplicate by id.
 */
export class OutboxDrainer {
  private running: Promise<void> | undefined;
  private again = false;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: OutboxDrainerDependencies) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Drains until the outbox is empty, the lease is lost, or a batch cannot be published (then it throws). */
  async drain(): Promise<DrainResult> {
    const { store, clock, holder } = this.deps;
    const leaseMs = this.deps.leaseMs ?? DEFAULT_LEASE_MS;
    const renew = (): Promise<boolean> => {
      const now = clock.now();
      return store.lease(holder, new Date(now.getTime() + leaseMs), now);
    };
    if (!(await renew())) return { leased: false, published: 0 };
    let published = 0;
    try {
      const batchSize = this.deps.batchSize ?? DEFAULT_BATCH;
      for (;;) {
        const entries = await store.oldest(batchSize);
        if (entries.length === 0) break;
        const sent = await this.publish(entries);
        await store.remove(sent);
        published += sent.length;
        // A short batch was all there was: what commits after it kicks a drain of its own.
        if (entries.length < batchSize || !(await renew())) break;
      }
    } finally {
      await store.release(holder).catch((error: Error) => this.deps.log.warn(`Outbox: the lease could not be released: ${error.message}`));
    }
    return { leased: true, published };
  }

  /**
   * Publishes the entries in order and answers those the topic took. A batch the topic refuses (too
   * large, or holding an event it rejects) is split in halves, in order; a single event it refuses is
   * dead-lettered, so that one bad event cannot stop every event after it.
   */
  private async publish(entries: readonly OutboxEntry[]): Promise<OutboxEntry[]> {
    try {
      await this.publishWithRetries(entries.map((entry) => entry.event));
      return [...entries];
    } catch (error) {
      if (!(error instanceof EventsRefusedError)) throw error;
      if (entries.length === 1) {
        const [entry] = entries as [OutboxEntry];
        this.deps.log.error(`Outbox: the topic refused event ${entry.event.id} (${entry.event.type}, ${error.status}): dead-lettered: ${error.message}`);
        await this.deps.store.deadLetter(entry, `${error.status}: ${error.message}`);
        return [];
      }
      const half = Math.ceil(entries.length / 2);
      const first = await this.publish(entries.slice(0, half));
      // The first half's events are out: delete them before the second half, so a crash does not resend them.
      await this.deps.store.remove(first);
      return [...(await this.publish(entries.slice(half)))];
    }
  }

  private async publishWithRetries(events: Parameters<EventPublisher['publish']>[0]): Promise<void> {
    const delays = this.deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.publisher.publish(events);
        return;
      } catch (error) {
        if (error instanceof EventsRefusedError || attempt >= delays.length) throw error;
        this.deps.log.warn(`Outbox: publishing ${events.length} event(s) failed (attempt ${attempt + 1}): ${(error as Error).message}`);
        await this.sleep(delays[attempt]!);
      }
    }
  }

  /**
   * Best effort right after a commit, without making the caller wait: starts a drain, or has the
   * running one go round again. Failures are logged; the timer drains what is left.
   */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drainWhileKicked().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no kicked drain is running (tests, and a host shutting down). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drainWhileKicked(): Promise<void> {
    try {
      do {
        this.again = false;
        let result = await this.drain();
        for (const delay of KICK_LEASE_RETRIES_MS) {
          if (result.leased) break;
          await this.sleep(delay);
          result = await this.drain();
        }
      } while (this.again);
    } catch (error) {
      this.deps.log.warn(`Outbox: drain after commit failed, the timer will retry: ${(error as Error).message}`);
    }
  }
}

/**
 * One drainer per ledger partition (each partition's outbox rows are in its own commit order, with
 * its own lease): a commit kicks the drain of the partition it wrote, and the timer drains them all.
 */
export class PartitionedOutboxDrainer {
  constructor(
    private readonly drainers: ReadonlyMap<string, OutboxDrainer>,
    /** Whether a partition's outbox holds anything (one ranged read), so the timer leases only those that do. */
    private readonly waiting: (partition: string) => Promise<boolean>,
  ) {}

  /** Drains `partition` in the background (every partition without one). */
  kick(partition?: string): void {
    if (partition === undefined) for (const drainer of this.drainers.values()) drainer.kick();
    else this.drainers.get(partition)?.kick();
  }

  /** Drains every partition that holds events, one after another; leased when every one that held some was drained here. */
  async drain(): Promise<DrainResult> {
    let published = 0;
    let leased = true;
    for (const [partition, drainer] of this.drainers) {
      if (!(await this.waiting(partition))) continue;
      const result = await drainer.drain();
      published += result.published;
      leased &&= result.leased;
    }
    return { leased, published };
  }

  async idle(): Promise<void> {
    await Promise.all([...this.drainers.values()].map((drainer) => drainer.idle()));
  }
}
