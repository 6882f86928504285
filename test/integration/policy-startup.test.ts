import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestStack, type TestStack } from '../helpers/stack';

// A broken policy must be loud: the functions stay registered (a throwing entry would leave every route
// 404 in Azure), health answers 503 naming the problem and its line, every other route 503 problem+json.
describe('an invalid policy', () => {
  let dir: string;
  let stack: TestStack;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bad-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'version: 1\nhsms:\n  - name: contoso-hsm\n    url: https://127.0.0.1:7443\nprincipals: {}\neligibility:\n  - id: broken\n    maxDuration: forever\n');
    stack = await startTestStack({ policyFile: file });
  });

  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves every function registered', () => {
    expect(stack.stack.host.registrations.map((r) => r.name)).toEqual(expect.arrayContaining(['health', 'events-submit', 'reconcile-nightly']));
  });

  it('makes health answer 503 saying where the policy is wrong', async () => {
    const health = await stack.api('/api/health');
    expect(health.status).toBe(503);
    const body = (await health.json()) as { checks: { configuration: { error: string } } };
    expect(body.checks.configuration.error).toMatch(/policy\.yaml:8:18 eligibility\[0\]\.maxDuration/);
  });

  it('answers every other route with 503 problem+json and logs an error', async () => {
    const response = await stack.api('/api/requests', { persona: 'sam' });
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 503, code: 'app-misconfigured' });
    expect(stack.logs.some((entry) => entry.level === 'error' && /misconfigured.*policy\.yaml:8:18/.test(entry.message))).toBe(true);
  });
});
