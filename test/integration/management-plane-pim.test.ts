import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAppContext } from '../../shared/app';
import { waitUntil } from '../helpers/poll';
import { startTestStack, type TestStack } from '../helpers/stack';
import { SILENT_LOG } from '../helpers/workflow';
import { davesAssignments, policyFile, requestAndApprove } from '../helpers/managementPlane';

describe('the management plane in PIM mode, on the local stack', () => {
  let dir: string;
  let stack: TestStack;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'management-plane-pim-'));
    // PIM's shortest grant is five minutes: 100 times faster, Azure (the emulator) ends it after three seconds.
    stack = await startTestStack({ policyFile: policyFile(dir, 'pim'), armTimeScale: 100 });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grants through a schedule request with an expiration: Azure ends it, and the service only verifies', async () => {
    const active = await requestAndApprove(stack, 'PT5M');
    expect(active.status).toBe('Active');
    expect(davesAssignments(stack)).toHaveLength(1);
    const goneAt = await waitUntil('Dave\'s assignment to end', () => davesAssignments(stack).length === 0);
    expect(goneAt - Date.parse(active.grantedAt)).toBeLessThan(6_000);
    // Ending it now finds nothing left to remove, and records the end.
    const revoked = await stack.api(`/api/requests/${active.id}/revoke`, { persona: 'dave', body: { reason: 'done early' } });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { status: string }).status).toBe('Revoked');
  }, 40_000);

  it('at expiry, the service\'s own timer finds Azure already ended the grant: it records Expired and changes nothing in Azure', async () => {
    const active = await requestAndApprove(stack, 'PT5M');
    await waitUntil('Dave\'s assignment to end', () => davesAssignments(stack).length === 0);
    const before = stack.stack.arm.requests().length;
    // The service as it stands when the grant's revocation message becomes visible, five minutes on.
    const atExpiry = createAppContext({ ...stack.stack.appSettings }, { now: () => new Date(Date.parse(active.expiresAt) + 1_000) });
    const expired = await atExpiry.requests(SILENT_LOG).expireIfDue(active.id);
    expect(expired).toMatchObject({ status: 'Expired' });
    const calls = stack.stack.arm.requests().slice(before);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((call) => call.method !== 'GET')).toEqual([]);
  }, 40_000);

  it('removes a PIM grant itself when it ends before Azure would end it', async () => {
    const active = await requestAndApprove(stack, 'PT5M');
    expect(davesAssignments(stack)).toHaveLength(1);
    const revoked = await stack.api(`/api/requests/${active.id}/revoke`, { persona: 'dave', body: { reason: 'change cancelled' } });
    expect(((await revoked.json()) as { status: string }).status).toBe('Revoked');
    expect(davesAssignments(stack)).toHaveLength(0);
  }, 40_000);
});
