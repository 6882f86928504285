// Keeps out markdown, HTML and bidi injection: text a requester or approver writes never becomes a link, an image, markup or reordered text in a Teams card, an email or the review page.
import { PERSONAS } from '../../dev/personas';
import type { ReceivedCard } from '../../dev/teams-sink';
import { readCard } from '../helpers/cards';
import { waitFor } from '../helpers/poll';
import { useStack } from '../helpers/stack';

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;

const NASTY = [
  'Release [Approve here](https://evil.example/link) ![img](https://evil.example/i.png) <https://evil.example/auto>',
  'https://evil.example/bare **bold** _italic_ # heading <b>html</b> <a href="https://evil.example/a">a</a> <img src=https://evil.example/x>',
  '\nReview: https://evil.example/line \u202Eelpmaxe.live\u202C ${evil}',
].join(' ');
const COMMENT = 'ok [Deny instead](https://evil.example/deny)\n- [ ] list';
const REASON = 'done <script>alert(1)</script> [undo](https://evil.example/undo)';

const cardsFor = (id: string): ReceivedCard[] => stack().stack.teamsSink.cards().filter((card) => JSON.stringify(card.payload).includes(id.slice(0, 8)));
const mailsFor = (id: string) => stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id);

/** Every URL an HTML document would fetch or follow: the href, src and action attributes of its real tags. */
const urlsIn = (html: string): string[] => [...html.matchAll(/<[a-z][^>]*>/gi)]
  .flatMap((tag) => [...tag[0].matchAll(/\s(?:href|src|action)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi)].map((m) => m[1]!.replace(/^["']|["']$/g, '').replace(/&amp;/g, '&')));

describe('what people write is shown as text on every channel', () => {
  it('a justification, a comment and a reason full of markup reach cards, emails and the review page as typed', async () => {
    const submitted = await stack().api('/api/requests', { persona: 'dave', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: NASTY } });
    expect(submitted.status).toBe(201);
    const { id } = (await submitted.json()) as { id: string };
    expect((await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve', comment: COMMENT } })).status).toBe(200);
    expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', body: { reason: REASON } })).status).toBe(200);

    // Teams: the approval card, the follow-up. Nothing anyone wrote is where Teams renders markdown.
    const cards = await waitFor('the cards', () => (cardsFor(id).length >= 2 ? cardsFor(id) : undefined));
    for (const card of cards) {
      const view = readCard(card.payload.attachments[0]!.content);
      expect(view.markdownTexts.join('\n')).not.toMatch(/evil|Approve here|Deny instead|\*\*|<b>/);
      expect(JSON.stringify(card.payload)).not.toMatch(/selectAction|"Image"|\u202E/);
      expect(view.facts.Justification).toContain('[Approve here](https://evil.example/link)');
      expect(view.facts.Justification).toContain(' ↵ Review: https://evil.example/line [U+202E]elpmaxe.live[U+202C] ${evil}');
      expect(view.actions.map((a) => a.url)).toEqual([expect.stringMatching(new RegExp(`^${stack().stack.endpoints.api}/api/review/${id}\\?t=`))]);
    }
    expect(readCard(cards.at(-1)!.payload.attachments[0]!.content).facts['Last decision']).toBe('approve by Sam Security: ok [Deny instead](https://evil.example/deny) ↵ - [ ] list');

    // Email: approvers' and requester's, HTML and text parts.
    const mails = await waitFor('the emails', () => {
      const list = mailsFor(id);
      return list.some((m) => m.subject.endsWith(': revoked')) && list.some((m) => m.subject.endsWith(': approval needed')) ? list : undefined;
    });
    for (const mail of mails) {
      for (const url of urlsIn(mail.html)) expect(url).toMatch(new RegExp(`^${stack().stack.endpoints.api}/api/review/${id}\\?t=`));
      expect(mail.html).not.toMatch(/<(script|img|b)\b|\u202E/);
      expect(mail.text).not.toMatch(/^Review: https:\/\/evil/m);
      expect(mail.text).not.toContain('\u202E');
      expect(mail.subject).not.toMatch(/evil/);
    }
    const approval = mails.find((m) => m.subject.endsWith(': approval needed'))!;
    expect(approval.html).toContain('[Approve here](https://evil.example/link) ![img](https://evil.example/i.png) &lt;https://evil.example/auto&gt;');
    expect(approval.html).toContain('&lt;a href=&quot;https://evil.example/a&quot;&gt;a&lt;/a&gt;');
    expect(approval.text).toContain('↵ Review: https://evil.example/line [U+202E]elpmaxe.live[U+202C]');
    const revoked = mails.find((m) => m.subject.endsWith(': revoked'))!;
    expect(revoked.html).toContain('done &lt;script&gt;alert(1)&lt;/script&gt; [undo](https://evil.example/undo)');

    // The review page, signed in, from the email's link.
    const link = /Open request: (\S+)/.exec(revoked.text)?.[1] ?? /Review: (http\S+)/.exec(approval.text)![1]!;
    const page = await fetch(link, { headers: { authorization: `Bearer ${await stack().tokenFor('sam')}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('[Approve here](https://evil.example/link)');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('[U+202E]elpmaxe.live[U+202C]');
    // The page's one script is its own, with the nonce of its CSP; nothing typed became markup.
    const ownScript = /<script nonce="[A-Za-z0-9_-]+">[\s\S]*?<\/script>\s*<\/body>/;
    expect(html).toMatch(ownScript);
    expect(html.replace(ownScript, '')).not.toMatch(/<(script|img|b)\b|\u202E/);
    for (const url of urlsIn(html)) expect(url).not.toMatch(/evil/);
  }, 40_000);
});
