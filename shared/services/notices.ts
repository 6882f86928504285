import { RECLAIM_TIMER_CLAIM_AFTER_MS, type NotificationService } from './notifications';
import type { NoticeEntry, NoticeStore, ServiceLog } from './ports';

export interface NoticeDrainerDependencies {
  /** One store per ledger partition. */
  stores: ReadonlyMap<string, NoticeStore>;
  notifications: NotificationService;
  log: ServiceLog;
  /** Notices of one partition sent at once (default 8). */
  concurrency?: number;
}

const BATCH = 50;
const DEFAULT_CONCURRENCY = 8;

/** The mark a notice is sent under: the intent's own key (the timer's catch-up claims the same), else its row's. */
const markOf = (partition: string, entry: NoticeEntry): string => entry.intent.key ?? `notice|${partition}|${entry.key}`;

/**
 * Sends the notifications that committed changes owe, from their notice rows (written in the
 * change's own transaction, docs/ledger.md), after the commit and outside the request: a commit
 * kicks its partition's drain, and the timer drains every partition, taking over claims a dead
 * sender left. Each notice is claimed in the marks before it is sent and deleted once it went out,
 * so a process that dies anywhere loses none, and two drainers never send one twice (only a death
 * between sending and confirming can repeat it, after the reclaim delay).
 */
export class NoticeDrainer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(private readonly deps: NoticeDrainerDependencies) {}

  /** Drains `partition` in the background; a kick while it drains has it go round again. */
  kick(partition: string): void {
    if (this.running.has(partition)) {
      this.again.add(partition);
      return;
    }
    const run = (async () => {
      do {
        this.again.delete(partition);
        await this.drainPartition(partition);
      } while (this.again.has(partition));
    })()
      .catch((error: Error) => this.deps.log.warn(`Notices: drain after commit failed, the timer will retry: ${error.message}`))
      .finally(() => this.running.delete(partition));
    this.running.set(partition, run);
  }

  /** The timer's drain: every partition, taking over claims older than `reclaimAfterMs`. */
  async drain(reclaimAfterMs = RECLAIM_TIMER_CLAIM_AFTER_MS): Promise<{ sent: number }> {
    let sent = 0;
    for (const partition of this.deps.stores.keys()) sent += await this.drainPartition(partition, reclaimAfterMs);
    return { sent };
  }

  /** Resolves when no kicked drain is running (tests, and a host shutting down). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private async drainPartition(partition: string, reclaimAfterMs?: number): Promise<number> {
    const store = this.deps.stores.get(partition);
    if (!store) return 0;
    let sent = 0;
    for (;;) {
      const entries = await store.waiting(BATCH);
      let settled = 0;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < entries.length) {
          const entry = entries[next++]!;
          const outcome = await this.deps.notifications.sendNotice(entry.intent, entry.request, markOf(partition, entry), reclaimAfterMs);
          // Another sender holds it: it deletes the row once sent, or the timer takes a dead one over.
          if (outcome === 'busy') continue;
          await store.remove(entry);
          settled++;
          if (outcome === 'sent') sent++;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.deps.concurrency ?? DEFAULT_CONCURRENCY, entries.length) }, worker));
      if (entries.length < BATCH || settled === 0) return sent;
    }
  }
}
