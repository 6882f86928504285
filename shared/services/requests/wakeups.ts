/**
 * What one process knows of the wake-ups it runs, so that a backlog does not feed itself: a
 * wake-up of a request that this process is already settling is let go (the one at work wrote its
 * follow-up before it started, and the sweep hands the request over again while it stays open),
 * instead of racing it to the HSM and the ledger or holding one of the queue trigger's slots while
 * it waits; and the sweep hands a request to the queue again only once the wake-ups it sent
 * before had time to run.
 */
export class WakeRegistry {
  private readonly running = new Set<string>();
  private readonly handedOver = new Map<string, number>();

  /** Runs `work` unless a wake-up of `id` is running in this process already (then `alreadyRunning`). */
  async unlessRunning<T>(id: string, work: () => Promise<T>, alreadyRunning: () => T): Promise<T> {
    if (this.running.has(id)) return alreadyRunning();
    this.running.add(id);
    try {
      return await work();
    } finally {
      this.running.delete(id);
    }
  }

  /**
   * Whether the sweep should hand `id` over now: not when it did less than `windowMs` ago (that
   * wake-up, and the follow-ups it writes, are still on their way).
   */
  handOver(id: string, nowMs: number, windowMs: number): boolean {
    const at = this.handedOver.get(id);
    if (at !== undefined && nowMs - at < windowMs) return false;
    this.handedOver.set(id, nowMs);
    return true;
  }

  /** Forgets hand-overs older than the window (once per sweep, so the memory stays small). */
  forgetHandOversBefore(nowMs: number, windowMs: number): void {
    for (const [id, at] of this.handedOver) if (nowMs - at >= windowMs) this.handedOver.delete(id);
  }
}
