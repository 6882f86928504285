import { WakeRegistry } from '../../../shared/services/requests/wakeups';

describe('WakeRegistry', () => {
  it('runs the wake-ups of one request one after another, and those of different requests at once', async () => {
    const registry = new WakeRegistry();
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = registry.oneAtATime('a', async () => {
      order.push('a1 start');
      await gate;
      order.push('a1 end');
      return 1;
    });
    const second = registry.oneAtATime('a', async () => (order.push('a2'), 2));
    const other = registry.oneAtATime('b', async () => (order.push('b1'), 3));
    expect(await other).toBe(3);
    release();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(order).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('goes on with the next wake-up when one fails', async () => {
    const registry = new WakeRegistry();
    const failing = registry.oneAtATime('a', async () => {
      throw new Error('HSM unavailable');
    });
    const next = registry.oneAtATime('a', async () => 'done');
    await expect(failing).rejects.toThrow('HSM unavailable');
    await expect(next).resolves.toBe('done');
  });

  it('hands a request over again only once the window has passed', () => {
    const registry = new WakeRegistry();
    expect(registry.handOver('a', 0, 10_000)).toBe(true);
    expect(registry.handOver('a', 5_000, 10_000)).toBe(false);
    expect(registry.handOver('b', 5_000, 10_000)).toBe(true);
    expect(registry.handOver('a', 10_000, 10_000)).toBe(true);
  });
});
