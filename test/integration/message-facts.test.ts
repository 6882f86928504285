import { PERSONAS } from '../../dev/personas';
import { readCard } from '../helpers/cards';
import { waitFor } from '../helpers/poll';
import { useStack } from '../helpers/stack';

/**
 * What messages and reports say on the local stack: when access really ended and how long it really
 * lasted (extensions counted), subjects and email threads that name the request, and an access
 * report that shows grants made after the last reconciliation.
 */
const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;

type View = { id: string; status: string; expiresAt: string | null; history: Array<{ at: string; to: string }> };

async function call(path: string, persona: string, body?: unknown): Promise<View> {
  const response = await stack().api(path, { persona, ...(body !== undefined ? { body } : { method: 'POST', body: {} }) });
  expect(response.status).toBeLessThan(300);
  return (await response.json()) as View;
}

async function activeRelease(justification: string): Promise<View> {
  const { id } = await call('/api/requests', 'dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification });
  const approved = await call(`/api/requests/${id}/decisions`, 'sam', { decision: 'approve' });
  expect(approved.status).toBe('Active');
  return approved;
}

const mailsFor = (id: string) => stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id);
const mailEnding = (id: string, what: string) => waitFor(`the '${what}' email`, () => mailsFor(id).find((m) => m.subject.endsWith(`: ${what}`)));
const factLine = (text: string, title: string): string | undefined => new RegExp(`^${title}:\\s+(.*)$`, 'm').exec(text)?.[1];

describe('messages tell the real times', () => {
  it('a revoked grant says when access ended and how long it lasted, extensions counted, never its original expiry', async () => {
    const granted = await activeRelease('release 3.0');
    const originalEnd = granted.expiresAt!;
    await call(`/api/requests/${granted.id}/extend`, 'dave', { duration: 'PT30M' });
    const extended = await call(`/api/requests/${granted.id}/decisions`, 'sam', { decision: 'approve' });
    expect(Date.parse(extended.expiresAt!) - Date.parse(originalEnd)).toBe(30 * 60_000);
    const extendedMail = await mailEnding(granted.id, 'extended');
    expect(factLine(extendedMail.text, 'Duration')).toBe('PT1H30M (PT1H asked for, extended 1 time by PT30M in all)');
    expect(factLine(extendedMail.text, 'Ends')).toBe(extended.expiresAt);

    const revoked = await call(`/api/requests/${granted.id}/revoke`, 'sam', { reason: 'release done' });
    const revokedAt = revoked.history.find((h) => h.to === 'Revoked')!.at;
    const mail = await mailEnding(granted.id, 'revoked');
    expect(factLine(mail.text, 'Ended')).toBe(`${revokedAt} (revoked)`);
    expect(factLine(mail.text, 'Ends')).toBeUndefined();
    expect(factLine(mail.text, 'Duration')).toMatch(/^lasted PT\d+(\.\d+)?S of PT1H30M \(PT1H asked for, extended 1 time by PT30M in all\)$/);
    expect(mail.text).toContain(`revoked the grant at ${revokedAt}: release done.`);
    expect(mail.text).not.toContain(originalEnd);
    expect(mail.text).not.toContain(extended.expiresAt!);
  });
});

describe('subjects and threads name the request', () => {
  it('every email of a request names role, scope, grantee and short id, and follows up the first one', async () => {
    const granted = await activeRelease('threading');
    await call(`/api/requests/${granted.id}/revoke`, 'dave', { reason: 'not needed' });
    await mailEnding(granted.id, 'revoked');
    const short = granted.id.slice(0, 8);
    const mails = mailsFor(granted.id);
    const root = `<hsm-access.request.${granted.id}@contoso.example>`;
    const first = mails.find((m) => m.subject.endsWith(': approval needed'))!;
    expect(first.subject).toBe(`[HSM access] Crypto User on /keys/release-signing-key for app-vm (#${short}): approval needed`);
    expect(first.headers['message-id']).toBe(root);
    expect(first.headers['in-reply-to']).toBeUndefined();
    const followUps = mails.filter((m) => m !== first);
    expect(followUps.map((m) => m.subject.split(': ').pop()).sort()).toEqual(['approved', 'granted', 'no action needed', 'revoked']);
    for (const mail of followUps) {
      expect(mail.subject.startsWith(`[HSM access] Crypto User on /keys/release-signing-key for app-vm (#${short}): `)).toBe(true);
      expect(mail.headers['in-reply-to']).toBe(root);
      expect(mail.headers.references).toBe(root);
      expect(mail.headers['message-id']).not.toBe(root);
    }
    expect(new Set(followUps.map((m) => m.headers['message-id'])).size).toBe(followUps.length);
    const cards = stack().stack.teamsSink.cards().map((c) => readCard(c.payload.attachments[0]!.content)).filter((c) => c.title.includes(`(#${short})`));
    expect(cards.map((c) => c.title)).toEqual([
      `Approval needed: Crypto User on /keys/release-signing-key for app-vm (#${short})`,
      `No action needed: Crypto User on /keys/release-signing-key for app-vm (#${short})`,
    ]);
  });
});

describe('the access report', () => {
  it('shows a grant made after the last reconciliation, and says what is as of when', async () => {
    const ran = await stack().api('/api/reconcile', { method: 'POST', persona: 'sam' });
    expect(ran.status).toBe(200);
    const granted = await activeRelease('after the run');
    const response = await stack().api('/api/reports/access?key=release-signing-key', { persona: 'alice' });
    expect(response.status).toBe(200);
    const report = (await response.json()) as { inventoryAsOf: string; grantsAsOf: string; keys: Array<{ key: string; access: Array<Record<string, unknown>> }> };
    expect(Date.parse(report.grantsAsOf)).toBeGreaterThan(Date.parse(report.inventoryAsOf));
    expect(report.keys[0]!.access).toContainEqual(expect.objectContaining({ principal: 'app-vm', role: 'Managed HSM Crypto User', basis: 'just-in-time', requestId: granted.id, expiresAt: granted.expiresAt, source: 'running-grant' }));
    const html = await (await stack().api('/api/reports/access?key=release-signing-key&format=html', { persona: 'alice' })).text();
    expect(html).toContain(`Grants as of <time datetime="${report.grantsAsOf.slice(0, 16)}`);
    expect(html).toContain(`as of <time datetime="${report.inventoryAsOf}"`);
    expect(html).toContain('granted after the inventory');
  });
});
