import { randomUUID } from 'node:crypto';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { PERSONAS } from '../../dev/personas';
import { actAsWorkload, WorkloadError } from '../../dev/workload';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';
import { EVIDENCE_EVENT_TYPES, RECONCILIATION_EVENT_TYPES, type GrantUsage } from '../../shared/domain';
import type { AuditorsUsageReport } from '../../shared/services/evidence';
import { schemaErrors } from '../helpers/eventSchemas';
import { waitFor } from '../helpers/poll';
import { useStack, type TestStack } from '../helpers/stack';

/**
 * The HSM's own audit log on the local stack, end to end: the HSM emulator appends AuditEvent records
 * to Azurite, the log account's system topic raises BlobCreated for each append, Event Grid delivers
 * it to the blobs extension's webhook of the local host, and the app's blob trigger reads the blob
 * from its checkpoint. Workloads call the HSM through the real SDK (dev/workload.ts). The enforcing
 * case is evidence-drift-enforce.test.ts: one stack per file, as the managed identity's token cache
 * lives as long as the process and would carry one stack's tokens to the next.
 */
const APP_VM = PERSONAS['app-vm'].oid;
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';

async function sign(stack: TestStack, key = 'release-signing-key', persona = 'app-vm'): Promise<'signed' | 'refused'> {
  try {
    await actAsWorkload({ persona, operation: 'sign', key, text: `release ${randomUUID()}`, dataDir: stack.stack.dataDir });
    return 'signed';
  } catch (error) {
    if (error instanceof WorkloadError && error.exitCode === 4) return 'refused';
    throw error;
  }
}

/** `requester` asks for Crypto User on the key (for app-vm, or for themselves), `approver` approves; resolves once it is Active. */
async function granted(stack: TestStack, key: string, requester: 'dave' | 'sam', approver: 'sam' | 'sara'): Promise<string> {
  const body = { role: 'Crypto User', scope: `/keys/${key}`, duration: 'PT1H', justification: `evidence ${key}`, ...(requester === 'dave' ? { principalId: APP_VM } : {}) };
  const asked = await stack.api('/api/requests', { persona: requester, method: 'POST', body });
  expect(asked.status).toBe(201);
  const { id } = (await asked.json()) as { id: string };
  const approved = await stack.api(`/api/requests/${id}/decisions`, { persona: approver, method: 'POST', body: { decision: 'approve' } });
  expect(approved.status).toBe(200);
  await waitFor(`request ${id} active`, async () => ((await (await stack.api(`/api/requests/${id}`, { persona: approver })).json()) as { status: string }).status === 'Active' || undefined);
  return id;
}

async function usageOf(stack: TestStack, id: string): Promise<GrantUsage | undefined> {
  return ((await (await stack.api(`/api/requests/${id}`, { persona: 'sam' })).json()) as { usage?: GrantUsage }).usage;
}

async function report(stack: TestStack): Promise<AuditorsUsageReport> {
  const response = await stack.api('/api/reports/usage', { persona: 'alice' });
  expect(response.status).toBe(200);
  return (await response.json()) as AuditorsUsageReport;
}

describe('usage evidence from the HSM audit log', () => {
  const stack = useStack({ auditLog: true });

  it('three signatures under a grant show as 3 KeySign with first and last use; an unused grant and a refused attempt show too', async () => {
    // Before any grant: refused (403), and the log says so.
    expect(await sign(stack())).toBe('refused');

    const used = await granted(stack(), 'release-signing-key', 'dave', 'sam');
    for (let i = 0; i < 3; i++) expect(await sign(stack())).toBe('signed');
    // sam's own grant on the storage key, never used.
    const unused = await granted(stack(), 'storage-cmk', 'sam', 'sara');

    const signs = (found: GrantUsage | undefined) => found?.operations.find((o) => o.operation === 'KeySign');
    const usage = await waitFor('3 signatures on the grant', async () => {
      const found = await usageOf(stack(), used);
      return signs(found)?.count === 3 ? found : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    // The SDK reads the key before each signature (KeyGet), as it does against Azure.
    expect(usage).toMatchObject({ grantId: used, used: true });
    expect(usage.operations.map((o) => [o.operation, o.key, o.count])).toEqual([['KeyGet', 'release-signing-key', 3], ['KeySign', 'release-signing-key', 3]]);
    const keySign = signs(usage)!;
    expect(keySign.firstUse < keySign.lastUse).toBe(true);
    expect(usage.firstUse! <= keySign.firstUse && keySign.lastUse <= usage.lastUse!).toBe(true);
    expect(await usageOf(stack(), unused)).toEqual({ grantId: unused, used: false, operations: [] });

    const auditors = await report(stack());
    expect(auditors.evidence).toBe(true);
    expect(auditors.grants.find((g) => g.id === used)).toMatchObject({ used: true, operations: [{ operation: 'KeyGet', count: 3 }, { operation: 'KeySign', count: 3 }] });
    expect(auditors.grants.find((g) => g.id === used)!.firstUseAfterMs).toBeGreaterThanOrEqual(0);
    expect(auditors.grants.find((g) => g.id === unused)).toMatchObject({ used: false, operations: [] });
    // The release rule's default (PT1H) is far longer than its grant was used: a right-sizing line.
    expect(auditors.rules.find((r) => r.ruleId === 'release-signing')).toMatchObject({ defaultDurationMs: 3_600_000, used: 1, suggestion: expect.stringMatching(/^the default duration is PT1H but grants are used within PT[\d.]+S: consider a default duration of PT15M$/) });
    // The one refused attempt: the SDK's key read, refused (403), after which it gave up.
    expect(auditors.refusedAttempts).toEqual([expect.objectContaining({ principalId: APP_VM, key: 'release-signing-key', persistent: false })]);
    expect(auditors.outsideAnyGrant).toEqual([]);
    expect(auditors.assignmentChanges).toEqual([]);
    // Only auditors and administrators read it.
    expect((await stack().api('/api/reports/usage', { persona: 'dave' })).status).toBe(403);

    // The grant's end record carries its usage.
    expect((await stack().api(`/api/requests/${used}/revoke`, { persona: 'dave', method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const trail = await stack().ledger().audit();
    const revoked = trail.find((r) => r.requestId === used && r.action === 'request.revoked');
    expect(revoked?.details).toMatchObject({ usage: { used: true, operations: [{ operation: 'KeyGet', count: 3 }, { operation: 'KeySign', key: 'release-signing-key', count: 3 }] } });
  }, 120_000);

  it('a principal that keeps being refused is told to the security team once, with a link to ask for access', async () => {
    for (let i = 0; i < 4; i++) expect(await sign(stack(), 'storage-cmk')).toBe('refused');
    const refusalMails = () => stack().stack.mailSink.messages().filter((m) => /access refused again and again/i.test(m.subject));
    const told = await waitFor('refusals told', () => (refusalMails().length > 0 ? refusalMails() : undefined), { timeoutMs: 30_000, intervalMs: 250 });
    const events = () => stack().stack.eventGrid.received().map((r) => r.event).filter((e) => e.type === EVIDENCE_EVENT_TYPES.RefusedAttempts);
    const event = await waitFor('RefusedAttempts event', () => events()[0], { timeoutMs: 30_000 });
    expect(event.data).toMatchObject({ principalId: APP_VM, key: 'storage-cmk' });
    expect(schemaErrors(event)).toEqual([]);
    expect(told[0].text).toMatch(/\/ask\?principalId=/);
    const subjects = refusalMails().map((m) => m.to.join(','));
    // Once per recipient, however many more refusals came.
    expect(new Set(subjects).size).toBe(subjects.length);
    const trail = await stack().ledger().audit();
    expect(trail.filter((r) => r.action === 'evidence.refused-attempts')).toHaveLength(1);
  }, 120_000);

  it('a role given outside the service is reconciled at once (plan: reported, left in place); its use is use outside any grant', async () => {
    const { hsm, idp } = stack().stack;
    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });
    const name = randomUUID();
    await rbac.createRoleAssignment('/keys/release-signing-key', name, roleDefinitionIdFor(CRYPTO_USER), PERSONAS.dave.oid);
    const events = () => stack().stack.eventGrid.received().map((r) => r.event);
    const detected = await waitFor('Drift.Detected for dave', () => events().find((e) => e.type === RECONCILIATION_EVENT_TYPES.DriftDetected && (e.data as { assignmentName?: string }).assignmentName === name), { timeoutMs: 60_000, intervalMs: 250 });
    expect(detected.data).toMatchObject({ kind: 'forbidden-principal', mode: 'plan', principalId: PERSONAS.dave.oid });
    await waitFor('security team told', () => stack().stack.mailSink.messages().find((m) => /role assignment changed outside the service/i.test(m.subject)), { timeoutMs: 30_000 });
    expect(hsm.assignments().some((a) => a.name === name)).toBe(true);

    // dave (a developer, forbidden any data access) now signs: neither standing nor granted.
    expect(await sign(stack(), 'release-signing-key', 'dave')).toBe('signed');
    const outside = await waitFor('use outside any grant', () => events().find((e) => e.type === EVIDENCE_EVENT_TYPES.UseOutsideGrant && (e.data as { operation?: string }).operation === 'KeySign'), { timeoutMs: 30_000, intervalMs: 250 });
    expect(outside.data).toMatchObject({ principalId: PERSONAS.dave.oid, key: 'release-signing-key' });
    expect(schemaErrors(outside)).toEqual([]);
    const auditors = await report(stack());
    expect(auditors.outsideAnyGrant.map((c) => [c.principalId, c.operation, c.key])).toContainEqual([PERSONAS.dave.oid, 'KeySign', 'release-signing-key']);
    expect(auditors.assignmentChanges).toEqual([expect.objectContaining({ principalId: PERSONAS.sam.oid, scope: '/keys/release-signing-key' })]);
    await waitFor('told about the use', () => stack().stack.mailSink.messages().find((m) => /key used outside any grant/i.test(m.subject)), { timeoutMs: 30_000 });
    // The use is not explained by our records either: it reconciles at once too.
    const use = await waitFor('the use in the trail', async () => (await stack().ledger().audit()).find((r) => r.action === 'evidence.use-outside-any-grant' && (r.details as { operation?: string }).operation === 'KeySign'), { timeoutMs: 30_000 });
    expect(use).toMatchObject({ actor: PERSONAS.dave.oid, requestId: expect.stringMatching(/^\d{8}T/) });
    const html = await stack().api('/api/reports/usage', { persona: 'alice', headers: { accept: 'text/html' } });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toMatch(/Use outside any grant[\s\S]*KeySign/);
  }, 120_000);
});
