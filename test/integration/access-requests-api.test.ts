import { createHash } from 'node:crypto';
import { CryptographyClient } from '@azure/keyvault-keys';
import { PERSONAS } from '../../dev/personas';
import { verifyPartitionedAudit } from '../../shared/domain';
import { waitUntil } from '../helpers/poll';
import { useStack } from '../helpers/stack';

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;
const digest = createHash('sha256').update('release 1.4.0').digest();

function signAsAppVm(keyName: string): Promise<unknown> {
  const { hsm } = stack().stack;
  const client = new CryptographyClient(`${hsm.url}/keys/${keyName}`, stack().credentialFor('app-vm'), {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: hsm.caPem },
    retryOptions: { maxRetries: 0 },
  });
  return client.sign('RS256', digest);
}

async function problemOf(response: Response): Promise<{ status: number; code: string; type: string | null }> {
  const body = (await response.json()) as { code: string };
  return { status: response.status, code: body.code, type: response.headers.get('content-type') };
}

describe('access requests over HTTP on the local stack', () => {
  it('grants app-vm Crypto User on release-signing-key on approval and takes it away on expiry', async () => {
    await expect(signAsAppVm('release-signing-key')).rejects.toMatchObject({ statusCode: 403 });

    const submitted = await stack().api('/api/requests', {
      persona: 'dave',
      body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1M', justification: 'Release 1.4.0 signing window' },
    });
    expect(submitted.status).toBe(201);
    const request = (await submitted.json()) as { id: string; status: string };
    expect(request.status).toBe('Pending');
    expect(submitted.headers.get('location')).toBe(`/api/requests/${request.id}`);

    const approved = await stack().api(`/api/requests/${request.id}/decisions`, { persona: 'sam', body: { decision: 'approve', comment: 'release window' } });
    expect(approved.status).toBe(200);
    const active = (await approved.json()) as { status: string; grantedAt: string; expiresAt: string };
    expect(active.status).toBe('Active');
    expect(Date.parse(active.expiresAt) - Date.parse(active.grantedAt)).toBe(60_000);

    await expect(signAsAppVm('release-signing-key')).resolves.toMatchObject({ algorithm: 'RS256' });

    const expiresAt = Date.parse(active.expiresAt);
    const held = () => stack().stack.hsm.assignments().some((a) => a.properties.principalId === APP_VM && a.properties.scope === '/keys/release-signing-key');
    const goneAt = await waitUntil('the assignment to be removed', () => !held(), { timeoutMs: expiresAt + 20_000 - Date.now(), intervalMs: 200 });
    expect(goneAt - expiresAt).toBeLessThan(5_000);
    await expect(signAsAppVm('release-signing-key')).rejects.toMatchObject({ statusCode: 403 });

    const after = (await (await stack().api(`/api/requests/${request.id}`, { persona: 'dave' })).json()) as { status: string };
    expect(after.status).toBe('Expired');

    const records = await stack().ledger().audit();
    expect(verifyPartitionedAudit(await stack().ledger().auditTrail())).toMatchObject({ ok: true });
    expect(records.filter((r) => r.requestId === request.id).map((r) => r.action)).toEqual(['request.created', 'request.approved', 'request.active', 'request.expired']);
    // The HSM calls that made and removed the assignment are named by the HSM's own request ids.
    const hsmCalls = records.filter((r) => r.requestId === request.id && (r.action === 'request.active' || r.action === 'request.expired'));
    for (const record of hsmCalls) expect(record.hsmRequestId).toMatch(/^[0-9a-f-]{36}$/);
    const audit = await stack().api('/api/audit', { persona: 'alice' });
    expect(audit.status).toBe(200);
    expect(((await audit.json()) as { items: unknown[] }).items.length).toBe(records.length);
    expect((await stack().api('/api/audit', { persona: 'dave' })).status).toBe(403);
  }, 120_000);

  it('refuses bad requests with a problem code and changes nothing', async () => {
    const before = { requests: (await stack().ledger().list({ pageSize: 1000 })).items.length, assignments: stack().stack.hsm.assignments().length };
    const valid = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release' };
    const cases: Array<[string, { persona?: string; body?: unknown; headers?: Record<string, string> }, number, string]> = [
      ['not eligible', { persona: 'log-storage', body: valid }, 403, 'not-eligible'],
      ['role outside the caller\'s rules', { persona: 'alice', body: valid }, 403, 'role-not-allowed'],
      ['forbidden principal', { persona: 'dave', body: { ...valid, principalId: PERSONAS.dave.oid } }, 403, 'forbidden-principal'],
      ['duration over the maximum', { persona: 'dave', body: { ...valid, duration: 'PT9H' } }, 422, 'duration-too-long'],
      ['unknown role', { persona: 'dave', body: { ...valid, role: 'Key Wizard' } }, 422, 'unknown-role'],
      ['scope outside the rule', { persona: 'dave', body: { ...valid, scope: '/keys/app-signing-key' } }, 403, 'scope-not-allowed'],
      ['dot segments', { persona: 'dave', body: { ...valid, scope: '/keys/../' } }, 400, 'malformed-scope'],
      ['encoded slash', { persona: 'dave', body: { ...valid, scope: '/keys%2Frelease-signing-key' } }, 400, 'malformed-scope'],
      ['invalid JSON', { persona: 'dave', body: '{"role":', headers: { 'content-type': 'application/json' } }, 400, 'invalid-json'],
      ['oversized body', { persona: 'dave', body: { ...valid, justification: 'x'.repeat(20_000) } }, 413, 'payload-too-large'],
      ['anonymous', { body: valid }, 401, 'unauthenticated'],
    ];
    for (const [what, call, status, code] of cases) {
      const response = await stack().api('/api/requests', { method: 'POST', ...call });
      expect({ what, ...(await problemOf(response)) }).toEqual({ what, status, code, type: 'application/problem+json' });
    }

    const pending = (await (await stack().api('/api/requests', { persona: 'sam', body: { role: 'Crypto User', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'rotate test' } })).json()) as { id: string };
    const selfApproval = await stack().api(`/api/requests/${pending.id}/decisions`, { persona: 'sam', body: { decision: 'approve' } });
    expect(await problemOf(selfApproval)).toMatchObject({ status: 403, code: 'self-approval' });
    const nonApprover = await stack().api(`/api/requests/${pending.id}/decisions`, { persona: 'alice', body: { decision: 'approve' } });
    expect(await problemOf(nonApprover)).toMatchObject({ status: 403, code: 'not-an-approver' });
    const cancelled = await stack().api(`/api/requests/${pending.id}/cancel`, { persona: 'sam', method: 'POST' });
    expect(((await cancelled.json()) as { status: string }).status).toBe('Cancelled');

    expect((await stack().ledger().list({ pageSize: 1000 })).items.length).toBe(before.requests + 1);
    expect(stack().stack.hsm.assignments().length).toBe(before.assignments);
  });

  it('lists requests page by page with a continuation token', async () => {
    // One open request per access: each is cancelled before the next is made.
    for (const n of [1, 2, 3]) {
      const made = (await (await stack().api('/api/requests', { persona: 'dana', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: `paging ${n}` } })).json()) as { id: string };
      await stack().api(`/api/requests/${made.id}/cancel`, { persona: 'dana', method: 'POST' });
    }
    const seen: string[] = [];
    let continuation: string | null = null;
    do {
      const query: string = `?mine=true&pageSize=2${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
      const page = (await (await stack().api(`/api/requests${query}`, { persona: 'dana' })).json()) as { items: Array<{ id: string; requestedBy: string }>; continuation: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.items.every((item) => item.requestedBy === PERSONAS.dana.oid)).toBe(true);
      seen.push(...page.items.map((item) => item.id));
      continuation = page.continuation;
    } while (continuation);
    expect(new Set(seen).size).toBeGreaterThanOrEqual(3);
    expect(await problemOf(await stack().api('/api/requests?continuation=bm90LWpzb24', { persona: 'dana' }))).toMatchObject({ status: 400, code: 'invalid-query' });
    expect(await problemOf(await stack().api('/api/requests?status=Sleeping', { persona: 'dana' }))).toMatchObject({ status: 400, code: 'invalid-status' });
  });

  it('honours Idempotency-Key', async () => {
    const body = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'idempotent' };
    const headers = { 'idempotency-key': 'release-1.5.0' };
    const first = await stack().api('/api/requests', { persona: 'dana', body, headers });
    const second = await stack().api('/api/requests', { persona: 'dana', body, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    const firstId = ((await first.json()) as { id: string }).id;
    expect(((await second.json()) as { id: string }).id).toBe(firstId);
    const reused = await stack().api('/api/requests', { persona: 'dana', body: { ...body, justification: 'something else' }, headers });
    expect(await problemOf(reused)).toMatchObject({ status: 422, code: 'idempotency-key-reused' });
    await stack().api(`/api/requests/${firstId}/cancel`, { persona: 'dana', method: 'POST' });
  });

  it('makes exactly one assignment and one Active transition from 20 concurrent approvals', async () => {
    const submitted = (await (await stack().api('/api/requests', { persona: 'sara', body: { role: 'Crypto User', scope: '/keys/storage-cmk', duration: 'PT1H', justification: 'concurrency' } })).json()) as { id: string };
    const approvers = ['sam', 'sean'];
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stack().api(`/api/requests/${submitted.id}/decisions`, { persona: approvers[i % 2], body: { decision: 'approve' } })),
    );
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true);
    const final = (await (await stack().api(`/api/requests/${submitted.id}`, { persona: 'sara' })).json()) as { status: string; history: Array<{ to: string; from: string }> };
    expect(final.status).toBe('Active');
    expect(final.history.filter((h) => h.to === 'Active' && h.from !== 'Active')).toHaveLength(1);
    const sara = PERSONAS.sara.oid;
    expect(stack().stack.hsm.assignments().filter((a) => a.properties.principalId === sara && a.properties.scope === '/keys/storage-cmk')).toHaveLength(1);

    const revoked = await stack().api(`/api/requests/${submitted.id}/revoke`, { persona: 'sara', method: 'POST' });
    expect(((await revoked.json()) as { status: string }).status).toBe('Revoked');
    expect(stack().stack.hsm.assignments().filter((a) => a.properties.principalId === sara && a.properties.scope === '/keys/storage-cmk')).toHaveLength(0);
  });
});
