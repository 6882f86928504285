// Keeps out draining the HSM's request budget (and reading dependency details) through the anonymous health endpoint.
import { useStack } from '../helpers/stack';

const stack = useStack();
const BURST = 40;

/** The HSM calls the health probe makes: one list of role assignments at `/` each time. */
const healthProbesOnHsm = (): number =>
  stack().stack.hsm.requests().filter((r) => r.method === 'GET' && /^\/providers\/Microsoft\.Authorization\/roleAssignments/i.test(r.path.replace(/^\/+/, '/'))).length;

describe('GET /api/health', () => {
  it('tells anonymous callers the status only', async () => {
    const response = await stack().api('/api/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    const stranger = await stack().api('/api/health', { persona: 'dave' });
    expect(await stranger.json()).toEqual({ status: 'ok' });
    const auditor = await stack().api('/api/health', { persona: 'alice' });
    expect(await auditor.json()).toEqual({ status: 'ok' });
  });

  it('gives administrators the checks', async () => {
    const body = (await (await stack().api('/api/health', { persona: 'sam' })).json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body).toMatchObject({ status: 'ok', checks: { storage: { ok: true }, hsm: { ok: true } } });
  });

  it(`a burst of ${BURST} callers shares probes: each HSM call answers many of them`, async () => {
    const before = healthProbesOnHsm();
    const answers = await Promise.all(Array.from({ length: BURST }, () => stack().api('/api/health', { persona: 'sam' }).then((r) => r.json() as Promise<{ checkedAt: string }>)));
    const probes = new Set(answers.map((a) => a.checkedAt));
    const hsmCalls = healthProbesOnHsm() - before;
    // Every HSM call is one probe whose answer callers shared; never one call per caller.
    expect(hsmCalls).toBeLessThanOrEqual(probes.size);
    expect(probes.size).toBeLessThan(BURST / 2);
    const anonymousBefore = healthProbesOnHsm();
    await Promise.all(Array.from({ length: BURST }, () => stack().api('/api/health').then((r) => r.text())));
    expect(healthProbesOnHsm() - anonymousBefore).toBeLessThan(BURST / 2);
  });
});
