// Keeps out privilege by role name: a Managed HSM Policy Administrator (or any role that merely says "Administrator") is no overseer of the service.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PERSONAS } from '../../dev/personas';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';

const APP_VM = PERSONAS['app-vm'].oid;
const dir = mkdtempSync(join(tmpdir(), 'hsm-governor-authz-'));
const policyFile = join(dir, 'policy.yaml');
// Contoso, with the storage account's identity also holding Policy Administrator at `/`.
writeFileSync(policyFile, readFileSync(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'), 'utf8').replace(
  '\nstanding:\n',
  '\nstanding:\n  - principal: log-storage\n    role: Policy Administrator\n    scope: /\n',
));
const stack = useStack({ env: { POLICY_FILE: policyFile } });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function activeGrant(): Promise<string> {
  // One open request per access: end what an earlier test left running first.
  await closeOpenRequests(stack());
  const submitted = await stack().api('/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release' } });
  const id = ((await submitted.json()) as { id: string }).id;
  expect((await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } })).status).toBe(200);
  return id;
}

describe('a Policy Administrator holder is nobody special to the service', () => {
  it('cannot read the audit trail or the reports, nor run reconciliation', async () => {
    expect(await (await stack().api('/api/audit', { persona: 'log-storage' })).json()).toMatchObject({ status: 403, code: 'not-an-auditor' });
    expect(await (await stack().api('/api/reports/keys', { persona: 'log-storage' })).json()).toMatchObject({ status: 403, code: 'not-an-auditor' });
    expect(await (await stack().api('/api/reconcile/reports/latest', { persona: 'log-storage' })).json()).toMatchObject({ status: 403 });
    expect(await (await stack().api('/api/reconcile?mode=plan', { persona: 'log-storage', method: 'POST' })).json()).toMatchObject({ status: 403, code: 'not-an-administrator' });
    expect(await (await stack().api('/api/health', { persona: 'log-storage' })).json()).toEqual({ status: 'ok' });
  });

  it('cannot see, list or revoke others\' requests', async () => {
    const id = await activeGrant();
    expect((await stack().api(`/api/requests/${id}`, { persona: 'log-storage' })).status).toBe(404);
    const listed = (await (await stack().api('/api/requests', { persona: 'log-storage' })).json()) as { items: { id: string }[] };
    expect(listed.items.map((r) => r.id)).not.toContain(id);
    expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'log-storage', method: 'POST' })).status).toBe(404);
    expect(((await (await stack().api(`/api/requests/${id}`, { persona: 'alice' })).json()) as { status: string }).status).toBe('Active');
  });

  it('while the Administrator and the Crypto Auditor keep exactly their powers', async () => {
    const id = await activeGrant();
    expect((await stack().api('/api/audit', { persona: 'alice' })).status).toBe(200);
    expect(await (await stack().api('/api/reconcile?mode=plan', { persona: 'alice', method: 'POST' })).json()).toMatchObject({ code: 'not-an-administrator' });
    expect(await (await stack().api(`/api/requests/${id}/revoke`, { persona: 'alice', method: 'POST' })).json()).toMatchObject({ code: 'not-allowed-to-revoke' });
    expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST' })).status).toBe(200);
  });
});
