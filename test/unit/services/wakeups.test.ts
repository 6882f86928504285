import { WakeRegistry } from '../../../shared/services/requests/wakeups';

describe('WakeRegistry', () => {
  it('lets a wake-up go while the same request is being settled, and runs those of other requests at once', async () => {
    const registry = new WakeRegistry();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = registry.unlessRunning('a', async () => (await gate, 'settled'), () => 'let go');
    const second = await registry.unlessRunning('a', async () => 'settled twice', () => 'let go');
    const other = await registry.unlessRunning('b', async () => 'other settled', () => 'let go');
    expect([second, other]).toEqual(['let go', 'other settled']);
    release();
    expect(await first).toBe('settled');
    // Once the first is done, the next wake-up of the request runs.
    expect(await registry.unlessRunning('a', async () => 'settled again', () => 'let go')).toBe('settled again');
  });

  it('runs the next wake-up when one failed', async () => {
    const registry = new WakeRegistry();
    await expect(registry.unlessRunning('a', async () => Promise.reject(new Error('HSM unavailable')), () => 'let go')).rejects.toThrow('HSM unavailable');
    await expect(registry.unlessRunning('a', async () => 'done', () => 'let go')).resolves.toBe('done');
  });

  it('hands a request over again only once the window has passed', () => {
    const registry = new WakeRegistry();
    expect(registry.handOver('a', 0, 10_000)).toBe(true);
    expect(registry.handOver('a', 5_000, 10_000)).toBe(false);
    expect(registry.handOver('b', 5_000, 10_000)).toBe(true);
    expect(registry.handOver('a', 10_000, 10_000)).toBe(true);
  });
});
