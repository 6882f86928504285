// Keeps refusals helpful without weakening them: each says how to fix the request (and the policy check reports every problem at once), codes unchanged.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';

const stack = useStack();
afterEach(() => closeOpenRequests(stack()));

async function submit(persona: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await stack().api('/api/requests', { persona, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

it('an unknown role: did you mean, and the roles the caller may ask for', async () => {
  const refused = await submit('dave', { role: 'Crypto Usr', scope: '/keys/release-signing-key', principalId: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e', justification: 'x' });
  expect(refused).toMatchObject({ status: 422, body: { code: 'unknown-role', detail: expect.stringMatching(/did you mean 'Crypto User'\?.*Roles your rules let you request: Crypto User/) } });
});

it('a key name given as scope suggests its key scope', async () => {
  const refused = await submit('dave', { role: 'Crypto User', scope: 'release-signing-key', principalId: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e', justification: 'x' });
  expect(refused).toMatchObject({ status: 400, body: { code: 'malformed-scope', detail: expect.stringContaining("did you mean '/keys/release-signing-key'") } });
});

it('without principalId: the refusal says it was for the caller and whom to name; an accepted one says so in notes', async () => {
  const refused = await submit('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', justification: 'release' });
  expect(refused).toMatchObject({ status: 403, body: { code: 'forbidden-principal', detail: expect.stringMatching(/no principalId was given, so the request was for you.*app-vm \(2c564836-0f4a-4ada-9cc4-6b2363d7a09e\)/) } });
  const accepted = await submit('sam', { role: 'Crypto User', scope: '/keys/teach-key', justification: 'test a signature' });
  expect(accepted.status).toBe(201);
  expect(accepted.body.notes).toEqual([expect.stringMatching(/No principalId was given: the grant is for you \(5424e0a9-6ba3-45e2-9d82-85a9cc74171d\)/)]);
});

it('npm run policy:check reports every problem in one run, by rule id, with the friendly duration message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-check-'));
  try {
    const broken = readFileSync('examples/contoso/policy.yaml', 'utf8')
      .replace('maxDuration: PT2H', 'maxDuration: 2h')
      .replace('roles: [Crypto User]\n    scopes: [/keys/release-signing-key]', 'roles: [Crypto Usr]\n    scopes: [/keys/release-signing-key]')
      .replace('for: [app-vm]', 'for: [app-devops]');
    writeFileSync(join(dir, 'policy.yaml'), broken);
    const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'scripts/policy-check.ts', join(dir, 'policy.yaml')], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/\(4 problems\)/);
    expect(run.stderr).toMatch(/for\[0\] \(rule 'release-signing'\) 'app-devops' is forbidden/);
    expect(run.stderr).toMatch(/maxDuration \(rule 'security-privileged'\) '2h' is not an ISO 8601 duration: use e\.g\. PT1H/);
    expect(run.stderr).toMatch(/roles\[0\] \(rule 'release-signing'\) unknown role 'Crypto Usr': did you mean 'Crypto User'\?/);
    expect(run.stderr).toMatch(/for\[0\] \(rule 'release-signing'\) 'app-devops' is a group/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
