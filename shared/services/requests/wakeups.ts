/**
 * What one process knows of the wake-ups it runs, so that a backlog does not feed itself: wake-ups
 * of one request run one after another (the second reads what the first left, usually nothing to
 * do, instead of racing it to the HSM and the ledger), and the sweep hands a request to the queue
 * again only once the wake-ups it sent before had time to run.
 */
export class WakeRegistry {
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly handedOver = new Map<string, number>();

  /** Runs `work` once every earlier wake-up of `id` in this process has settled. */
  async oneAtATime<T>(id: string, work: () => Promise<T>): Promise<T> {
    const earlier = this.running.get(id);
    const mine = (earlier ? earlier.catch(() => undefined) : Promise.resolve()).then(work);
    this.running.set(id, mine);
    try {
      return await mine;
    } finally {
      if (this.running.get(id) === mine) this.running.delete(id);
    }
  }

  /**
   * Whether the sweep should hand `id` over now: not when it did less than `windowMs` ago (that
   * wake-up, and the follow-ups it writes, are still on their way).
   */
  handOver(id: string, nowMs: number, windowMs: number): boolean {
    for (const [other, at] of this.handedOver) if (nowMs - at >= windowMs) this.handedOver.delete(other);
    if (this.handedOver.has(id)) return false;
    this.handedOver.set(id, nowMs);
    return true;
  }
}
