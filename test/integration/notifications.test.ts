import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PERSONAS } from '../../dev/personas';
import type { ReceivedCard } from '../../dev/teams-sink';
import { verifyPartitionedAudit } from '../../shared/domain';
import { readCard } from '../helpers/cards';
import { sleep, waitFor } from '../helpers/poll';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';

/**
 * Notifications on the real local stack: what the Teams webhook sink and the mail sink receive,
 * Teams' 429 retried, failures that neither block nor undo the workflow, and the timer's reminder
 * and expiry warning. The Contoso policy, with short times so that the timer's work is due soon.
 */

const policyFile = join(mkdtempSync(join(tmpdir(), 'hsm-governor-notify-policy-')), 'policy.yaml');
writeFileSync(policyFile, readFileSync(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'), 'utf8')
  .replace('pendingLifetime: PT24H', 'pendingLifetime: PT8S')
  .replace('  minDuration: PT1M', '  minDuration: PT1S')
  .replace('expiryWarning: PT15M', 'expiryWarning: PT3S'));

const stack = useStack({ policyFile });
// One open request per access: each test asks for the same access afresh.
afterEach(() => closeOpenRequests(stack()));
const APP_VM = PERSONAS['app-vm'].oid;

async function submit(persona: string, body: Record<string, unknown>): Promise<{ id: string; status: string; createdAt: string; expiresAt: string | null }> {
  const response = await stack().api('/api/requests', { persona, body });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; status: string; createdAt: string; expiresAt: string | null };
}

function cardContent(card: ReceivedCard): { body: Array<Record<string, unknown>>; actions?: Array<Record<string, string>>; version: string; $schema: string } {
  return card.payload.attachments[0]!.content as never;
}

function cardFor(id: string, titleStart: string): ReceivedCard | undefined {
  return stack().stack.teamsSink.cards().find((card) => {
    const content = cardContent(card);
    return readCard(content).title.startsWith(titleStart) && (content.actions ?? []).some((a) => a.url?.includes(`/api/review/${id}?t=`));
  });
}

function factsOf(card: ReceivedCard): Record<string, string> {
  return readCard(cardContent(card)).facts;
}

const mails = (id: string, to: string): Array<{ subject: string; text: string; html: string }> =>
  stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id && m.to.includes(to));

describe('notifications on the local stack', () => {
  it('approvers get a card and an email with the facts and risk flags; the requester hears of each step', async () => {
    const request = await submit('sam', { role: 'Crypto Officer', scope: '/', duration: 'PT2H', justification: 'Recover the ${escrow} key <now>', ticket: 'CHG-42' });
    const { id } = request;
    const card = await waitFor('the approval card', () => cardFor(id, 'Approval needed'));
    const content = cardContent(card);
    expect(card.path).toBe('/webhook/security-team');
    expect(card.bytes).toBeLessThan(28 * 1024);
    expect(content).toMatchObject({ type: 'AdaptiveCard', version: '1.5', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(factsOf(card)).toEqual({
      Requester: 'Sam Security', Grantee: 'Sam Security', Role: 'Managed HSM Crypto Officer', Scope: '/', HSM: 'contoso-hsm', Duration: 'PT2H',
      Justification: 'Recover the ${escrow} key <now>', Ticket: 'CHG-42', 'Approvals still needed': '2 of 2', Status: 'Pending',
    });
    expect(JSON.stringify(content.body)).toContain('Risk: Privileged role · HSM-wide scope');
    const [action] = content.actions ?? [];
    expect(action).toMatchObject({ type: 'Action.OpenUrl', title: 'Review' });
    expect(action!.url).toMatch(new RegExp(`^${stack().stack.endpoints.api}/api/review/${id}\\?t=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));

    const [mail] = await waitFor('the approvers\' email', () => (mails(id, 'security-team@contoso.example').length > 0 ? mails(id, 'security-team@contoso.example') : undefined));
    expect(mail!.subject).toBe(`[HSM access] Crypto Officer on / for sam (#${id.slice(0, 8)}): approval needed`);
    for (const fact of ['Requester:', 'Sam Security', 'Managed HSM Crypto Officer', 'PT2H', 'Recover the ${escrow} key <now>', 'CHG-42', 'Approvals still needed: 2 of 2', 'Risk: Privileged role · HSM-wide scope']) {
      expect(mail!.text).toContain(fact);
    }
    expect(mail!.text).toContain(`Review: ${stack().stack.endpoints.api}/api/review/${id}?t=`);
    expect(mail!.html).toContain('Recover the ${escrow} key &lt;now&gt;');
    expect(mail!.html).toMatch(new RegExp(`<a href="${stack().stack.endpoints.api}/api/review/${id}\\?t=[^"]+"[^>]*>Review</a>`));
    expect(stack().stack.mailSink.messages().find((m) => m.headers['x-hsm-governor-request'] === id)?.from).toBe('hsm-governor@contoso.example');

    expect((await stack().api(`/api/requests/${id}/decisions`, { persona: 'sara', body: { decision: 'approve', comment: 'first' } })).status).toBe(200);
    const progress = await waitFor('the progress card', () => cardFor(id, 'Approval recorded'));
    expect(factsOf(progress)['Approvals still needed']).toBe('1 of 2');
    const approved = await stack().api(`/api/requests/${id}/decisions`, { persona: 'sean', body: { decision: 'approve' } });
    expect(((await approved.json()) as { status: string }).status).toBe('Active');
    const followUp = await waitFor('the follow-up card', () => cardFor(id, 'No action needed'));
    expect(readCard(cardContent(followUp)).summary).toBe('Already approved by Sean Security; the request is Approved.');
    expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST' })).status).toBe(200);

    const subjects = await waitFor('the requester\'s emails', () => {
      const list = mails(id, 'sam@contoso.example').map((m) => m.subject.split(': ').pop());
      return list.length >= 3 ? list : undefined;
    });
    expect(subjects).toEqual(['approved', 'granted', 'revoked']);
  });

  it('retries a 429 from Teams after its Retry-After', async () => {
    const teams = stack().stack.teamsSink;
    teams.clear();
    teams.failNext(2, 429, 1);
    const started = Date.now();
    const { id } = await submit('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'throttled' });
    await waitFor('the card after the 429s', () => cardFor(id, 'Approval needed'));
    const attempts = teams.attempts();
    expect(attempts.map((a) => a.status)).toEqual([429, 429, 202]);
    expect(Date.parse(attempts[2]!.at) - Date.parse(attempts[0]!.at)).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a failing channel neither blocks nor undoes the workflow; the failure is in the audit trail', async () => {
    stack().stack.mailSink.failNext(1000, 550);
    stack().stack.teamsSink.failNext(1000, 500);
    try {
      const submitStarted = Date.now();
      const { id, status } = await submit('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'channels down' });
      expect(status).toBe('Pending');
      expect(Date.now() - submitStarted).toBeLessThan(3_500);
      const approveStarted = Date.now();
      const approved = await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } });
      expect(approved.status).toBe(200);
      expect(((await approved.json()) as { status: string }).status).toBe('Active');
      expect(Date.now() - approveStarted).toBeLessThan(6_000);

      const failures = await waitFor('the failures in the audit trail', async () => {
        const records = (await stack().ledger().audit()).filter((r) => r.requestId === id && r.action === 'notification.failed');
        const channels = new Set(records.map((r) => `${String(r.details?.channel)}:${String(r.details?.kind)}`));
        return channels.has('teams:approval-needed') && channels.has('email:approval-needed') && channels.has('email:granted') ? records : undefined;
      }, { timeoutMs: 15_000 });
      const teamsFailure = failures.find((r) => r.details?.channel === 'teams' && r.details?.kind === 'approval-needed');
      expect(teamsFailure).toMatchObject({ actor: 'system', details: { target: 'TEAMS_WEBHOOK_URL', attempts: 4 } });
      expect(teamsFailure?.reason).toContain('HTTP 500');
      const mailFailure = failures.find((r) => r.details?.channel === 'email' && r.details?.kind === 'approval-needed');
      expect(mailFailure).toMatchObject({ details: { target: 's***@contoso.example', attempts: 1 } });
      expect(mailFailure?.reason).toContain('SMTP 550');
      expect(verifyPartitionedAudit(await stack().ledger().auditTrail())).toMatchObject({ ok: true });
      const after = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string };
      expect(after.status).toBe('Active');
    } finally {
      stack().stack.mailSink.failNext(0);
      stack().stack.teamsSink.failNext(0);
    }
  }, 30_000);

  it('the timer reminds the approvers at half the pending lifetime and warns before a grant ends, once each', async () => {
    const pending = await submit('dana', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'waits' });
    const grant = await submit('alice', { role: 'Crypto Auditor', scope: '/keys/app-signing-key', duration: 'PT6S', justification: 'quick look' });
    expect(grant.status).toBe('Active');
    // The messages of the changes leave after the commit, from their notice rows.
    await waitFor('the approval and grant messages', () => (mails(pending.id, 'security-team@contoso.example').length > 0 && mails(grant.id, 'alice@contoso.example').length > 0 ? true : undefined));
    await stack().stack.host.run('notify-due');
    const releaseFor = (id: string, what: string): string => `[HSM access] Crypto User on /keys/release-signing-key for app-vm (#${id.slice(0, 8)}): ${what}`;
    const auditFor = (id: string, what: string): string => `[HSM access] Crypto Auditor on /keys/app-signing-key for alice (#${id.slice(0, 8)}): ${what}`;
    expect(mails(pending.id, 'security-team@contoso.example').map((m) => m.subject)).toEqual([releaseFor(pending.id, 'approval needed')]);
    expect(mails(grant.id, 'alice@contoso.example').map((m) => m.subject)).toEqual([auditFor(grant.id, 'granted')]);

    const halfway = Date.parse(pending.createdAt) + 4_000;
    const warnAt = Date.parse(grant.expiresAt as string) - 3_000;
    await sleep(Math.max(halfway, warnAt) - Date.now() + 200);
    await stack().stack.host.run('notify-due');
    await stack().stack.host.run('notify-due');
    expect(mails(pending.id, 'security-team@contoso.example').map((m) => m.subject)).toEqual([releaseFor(pending.id, 'approval needed'), releaseFor(pending.id, 'reminder: approval needed')]);
    expect(cardFor(pending.id, 'Reminder: approval needed')).toBeDefined();
    expect(mails(grant.id, 'alice@contoso.example').map((m) => m.subject)).toEqual([auditFor(grant.id, 'granted'), auditFor(grant.id, 'ending soon')]);
    // The grant ends on time and its requester is told.
    await waitFor('the expiry email', () => mails(grant.id, 'alice@contoso.example').find((m) => m.subject.endsWith(': ended')));
  }, 30_000);
});
