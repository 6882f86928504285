/** Polling for what a running stack or process does in its own time. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface PollOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Read again after this long (default 100 ms). */
  intervalMs?: number;
}

/**
 * Reads `read` until `accept` holds for its value, and returns that value.
 * Past the timeout it throws, naming `what` and the last value read.
 */
export async function eventually<T>(what: string, read: () => T | Promise<T>, accept: (value: T) => boolean, { timeoutMs = 10_000, intervalMs = 100 }: PollOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await sleep(intervalMs);
  }
}

/** Reads `probe` until it returns something, and returns that. */
export function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, options?: PollOptions): Promise<T> {
  return eventually(what, probe, (value) => value !== undefined, options) as Promise<T>;
}

/** Checks `condition` until it holds; resolves with the time (ms since the epoch) it was seen to hold. */
export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, options?: PollOptions): Promise<number> {
  await eventually(what, condition, (held) => held, options);
  return Date.now();
}
