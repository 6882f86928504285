// Keeps unexpected failures from leaking or confusing: anything a handler did not expect is a logged problem+json 500 naming its invocation, never a bare 500 or a stack trace.
import { useStack } from '../helpers/stack';

const stack = useStack();

describe('an unexpected failure at the HTTP edge', () => {
  it('is a problem+json 500 with the invocation id, and the log has the error under that id', async () => {
    await stack().stack.azurite.close();
    // Storage retries with back-off before it gives up: one route is enough.
    for (const [path, persona] of [['/api/requests', 'dave']] as const) {
      const response = await stack().api(path, { persona });
      const text = await response.text();
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 500, type: 'application/problem+json' });
      const body = JSON.parse(text) as { code: string; invocationId: string; detail: string };
      expect(body).toMatchObject({ status: 500, code: 'internal-error', invocationId: expect.stringMatching(/^[0-9a-f-]{36}$/), traceParent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/) });
      expect(body.detail).toContain(body.invocationId);
      expect(text).not.toMatch(/\bat .*\.(ts|js):\d+|ECONNREFUSED|AccountKey|127\.0\.0\.1/);
      expect(stack().logs.some((entry) => entry.invocationId === body.invocationId && entry.level === 'error' && /Unhandled error/.test(entry.message))).toBe(true);
    }
  }, 120_000);
});
