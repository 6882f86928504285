import { createHttpHeaders, createPipelineRequest, RestError, type PipelineResponse } from '@azure/core-rest-pipeline';
import { backoffDelay, decideRetry, retryPolicy, serverRequestedDelay, withDefaults } from '../../shared/adapters/hsm-rbac/retryPolicy';

function response(status: number, headers: Record<string, string> = {}): PipelineResponse {
  const request = createPipelineRequest({ url: 'https://hsm.example/x' });
  return { status, headers: createHttpHeaders(headers), request };
}

const settings = withDefaults({ maxRetries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 1000 });

describe('retry decisions', () => {
  it('retries a 429 without Retry-After with bounded backoff', () => {
    const decision = decideRetry(2, { response: response(429) }, settings, () => 1);
    expect(decision).toEqual({ retry: true, delayInMs: 400 });
  });

  it('honours Retry-After in seconds, as an HTTP date, and in milliseconds', () => {
    expect(serverRequestedDelay(createHttpHeaders({ 'retry-after': '3' }))).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(serverRequestedDelay(createHttpHeaders({ 'retry-after': 'Thu, 01 Jan 2026 00:00:02 GMT' }), now)).toBe(2000);
    expect(serverRequestedDelay(createHttpHeaders({ 'retry-after-ms': '250' }))).toBe(250);
    expect(decideRetry(0, { response: response(429, { 'retry-after': '5' }) }, settings)).toEqual({ retry: true, delayInMs: 1000 });
  });

  it('retries 408 and 5xx, never 4xx answers such as 400, 403 or 404', () => {
    for (const status of [408, 500, 502, 503, 504]) expect(decideRetry(0, { response: response(status) }, settings).retry).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 412]) expect(decideRetry(0, { response: response(status) }, settings).retry).toBe(false);
  });

  it('retries connection resets but not other errors', () => {
    expect(decideRetry(0, { error: new RestError('socket hang up', { code: 'ECONNRESET' }) }, settings).retry).toBe(true);
    expect(decideRetry(0, { error: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }, settings).retry).toBe(true);
    expect(decideRetry(0, { error: new RestError('refused', { code: 'ECONNREFUSED' }) }, settings).retry).toBe(false);
    expect(decideRetry(0, { error: new Error('bug') }, settings).retry).toBe(false);
  });

  it('stops after maxRetries', () => {
    expect(decideRetry(3, { response: response(503) }, settings).retry).toBe(false);
  });

  it('keeps backoff within [0, cap] with full jitter', () => {
    expect(backoffDelay(10, settings, () => 1)).toBe(1000);
    expect(backoffDelay(0, settings, () => 0)).toBe(0);
    expect(backoffDelay(1, settings, () => 0.5)).toBe(100);
  });
});

describe('retry policy', () => {
  it('sends again until the answer is not retriable', async () => {
    const statuses = [429, 503, 200];
    let calls = 0;
    const policy = retryPolicy({ maxRetries: 5, retryDelayInMs: 1, maxRetryDelayInMs: 2 });
    const result = await policy.sendRequest(createPipelineRequest({ url: 'https://hsm.example/x' }), async () => response(statuses[calls++] ?? 500));
    expect(result.status).toBe(200);
    expect(calls).toBe(3);
  });

  it('gives the last answer back when retries run out', async () => {
    let calls = 0;
    const policy = retryPolicy({ maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 1 });
    const result = await policy.sendRequest(createPipelineRequest({ url: 'https://hsm.example/x' }), async () => {
      calls++;
      return response(429);
    });
    expect(result.status).toBe(429);
    expect(calls).toBe(3);
  });

  it('rejects promptly when aborted during the backoff sleep', async () => {
    const controller = new AbortController();
    const policy = retryPolicy({ maxRetries: 5, retryDelayInMs: 60_000, maxRetryDelayInMs: 60_000 }, () => 1);
    const started = Date.now();
    const pending = policy.sendRequest(createPipelineRequest({ url: 'https://hsm.example/x', abortSignal: controller.signal }), async () => response(503));
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
