import { ConfigurationError, loadNotificationConfig } from '../../shared/adapters/config';
import { emailContentFor, senderDomain, threadHeaders } from '../../shared/adapters/notify/email';
import { readCard } from '../helpers/cards';
import { MAX_CARD_PAYLOAD_BYTES, teamsMessageFor } from '../../shared/adapters/notify/teamsCard';
import { retryAfterMs } from '../../shared/adapters/hsm-rbac/retryPolicy';
import type { OutgoingNotification } from '../../shared/services/notificationPorts';

const base: OutgoingNotification = {
  kind: 'approval-needed',
  audience: 'approvers',
  requestId: '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  status: 'Pending',
  title: 'Approval needed: Crypto Officer on / for sam (#6f1c2d3e)',
  subject: '[HSM access] Crypto Officer on / for sam (#6f1c2d3e): approval needed',
  thread: { id: 'request.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f', first: true, message: 'approval-needed.1' },
  summary: 'Sam Security asks for Managed HSM Crypto Officer on / for PT2H. 2 more approvals needed.',
  facts: [
    { title: 'Requester', value: 'Sam Security' },
    { title: 'Justification', value: 'Recover ${escrow} <b>now</b>' },
  ],
  riskFlags: ['Privileged role', 'HSM-wide scope'],
  approvalsNeeded: 2,
  linkLabel: 'Review',
  actionRequired: true,
  link: 'https://governor.contoso.example/api/review/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f?t=abc.def',
};

describe('the Teams card', () => {
  it('is an Adaptive Card 1.5 in a Workflows webhook message, data kept literal', () => {
    const message = teamsMessageFor(base);
    expect(message.type).toBe('message');
    expect(message.attachments).toHaveLength(1);
    const [attachment] = message.attachments;
    expect(attachment!.contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = attachment!.content as { version: string; body: Array<Record<string, unknown>>; actions: Array<Record<string, unknown>> };
    expect(card.version).toBe('1.5');
    expect(JSON.stringify(card.body)).toContain('Recover ${escrow} <b>now</b>');
    expect(JSON.stringify(card.body)).toContain('Risk: Privileged role · HSM-wide scope');
    expect(card.actions).toEqual([{ type: 'Action.OpenUrl', title: 'Review', url: base.link, style: 'positive' }]);
  });

  it('puts no data where Teams renders markdown: every value is a TextRun', () => {
    const nasty = '[Approve here](https://evil.example) ![x](https://evil.example/p.png) <https://evil.example> **now** _x_';
    const card = readCard(teamsMessageFor({ ...base, summary: nasty, facts: [{ title: 'Justification', value: nasty }] }).attachments[0]!.content);
    expect(card.markdownTexts.join('\n')).not.toMatch(/evil|Justification|Approval needed/);
    expect(card.facts.Justification).toBe(nasty);
    expect(card.summary).toBe(nasty);
    expect(card.title).toBe(base.title);
  });

  it('has no Review button without a link and no risk block without flags', () => {
    const card = teamsMessageFor({ ...base, link: undefined, riskFlags: [] }).attachments[0]!.content as { body: unknown[]; actions?: unknown[] };
    expect(card.actions ?? []).toEqual([]);
    expect(JSON.stringify(card.body)).not.toContain('Risk:');
  });

  it('stays under 28 KB by shortening free text', () => {
    const huge = { ...base, facts: [{ title: 'Justification', value: 'x'.repeat(60_000) }] };
    const message = teamsMessageFor(huge);
    expect(Buffer.byteLength(JSON.stringify(message))).toBeLessThanOrEqual(MAX_CARD_PAYLOAD_BYTES);
    expect(JSON.stringify(message)).toContain('… (shortened)');
  });
});

describe('the email', () => {
  it('carries the same facts and link as text and escaped HTML; the subject is one line', () => {
    const mail = emailContentFor({ ...base, subject: 'Approval needed:\r\nBcc: evil@example.com' });
    expect(mail.subject).toBe('Approval needed: ↵ Bcc: evil@example.com');
    expect(mail.text).toContain('Justification: Recover ${escrow} <b>now</b>');
    expect(mail.text).toContain(`Review: ${base.link}`);
    expect(mail.html).toContain('Recover ${escrow} &lt;b&gt;now&lt;/b&gt;');
    expect(mail.html).toContain(`<a href="${base.link}"`);
    expect(mail.html).toContain('Risk: Privileged role · HSM-wide scope');
  });
});

describe('email threads', () => {
  it('the first message has an id derived from the request and the sender domain; follow-ups refer to it', () => {
    expect(senderDomain('Governor <governor@Contoso.example>')).toBe('contoso.example');
    expect(threadHeaders(base.thread, 'contoso.example')).toEqual({ messageId: '<hsm-access.request.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f@contoso.example>' });
    expect(threadHeaders({ ...base.thread, first: false, message: 'granted.3' }, 'contoso.example')).toEqual({
      messageId: '<hsm-access.request.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f.granted.3@contoso.example>',
      inReplyTo: '<hsm-access.request.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f@contoso.example>',
      references: '<hsm-access.request.6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f@contoso.example>',
    });
    expect(threadHeaders({ id: 'drift.a>b c', first: false, message: 'x' }, 'd.example').messageId).toBe('<hsm-access.drift.a_b_c.x@d.example>');
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('notification settings', () => {
  const key = 'k'.repeat(40);
  it('are all optional', () => {
    expect(loadNotificationConfig({}, ['TEAMS_WEBHOOK_URL'])).toEqual({ reviewLinkKeys: [], reviewLinkTtlMs: 7 * 24 * 3600 * 1000, teamsWebhooks: {} });
  });

  it('read keys (current first), SMTP, the public URL and the webhooks the policy names', () => {
    const config = loadNotificationConfig({
      PUBLIC_BASE_URL: 'https://governor.contoso.example/', REVIEW_LINK_KEYS: `${key}, ${'p'.repeat(32)}`, REVIEW_LINK_TTL: 'P2D',
      SMTP_HOST: 'smtp.contoso.example', SMTP_USER: 'governor', SMTP_PASSWORD: 'secret', SMTP_FROM: 'Governor <governor@contoso.example>',
      TEAMS_WEBHOOK_URL: 'https://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y', OTHER: 'https://unused.example',
    }, ['TEAMS_WEBHOOK_URL']);
    expect(config).toEqual({
      publicBaseUrl: 'https://governor.contoso.example',
      reviewLinkKeys: [key, 'p'.repeat(32)],
      reviewLinkTtlMs: 2 * 24 * 3600 * 1000,
      smtp: { host: 'smtp.contoso.example', port: 587, secure: false, loopback: false, user: 'governor', password: 'secret', from: 'Governor <governor@contoso.example>' },
      teamsWebhooks: { TEAMS_WEBHOOK_URL: 'https://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y' },
    });
  });

  it('refuse malformed values, naming the setting and never its value', () => {
    let error: unknown;
    try {
      loadNotificationConfig({ PUBLIC_BASE_URL: 'http://governor.example', REVIEW_LINK_KEYS: 'short', SMTP_HOST: 'smtp', SMTP_PORT: '99999', TEAMS_WEBHOOK_URL: 'http://hooks.example/x' }, ['TEAMS_WEBHOOK_URL']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    const problems = (error as ConfigurationError).problems;
    expect(problems.map((p) => p.split(' ')[0])).toEqual(['PUBLIC_BASE_URL', 'REVIEW_LINK_KEYS', 'SMTP_PORT', 'SMTP_FROM', 'TEAMS_WEBHOOK_URL']);
    expect(problems.join('\n')).not.toContain('hooks.example');
  });
});
