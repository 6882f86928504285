// The Teams bot sends the approval card to each approver who installed it, and every copy is updated
// in place after each change, over real sockets: the app's botbuilder code, the local Bot Framework
// channel (dev/teams-channel) and Azurite.
import { PERSONAS, type Persona } from '../../dev/personas';
import type { PostedMessage } from '../../dev/teams-channel';
import { createAppContext } from '../../shared/app';
import { eventually, sleep } from '../helpers/poll';
import { caller, workflowThatDiesAfterCommit } from '../helpers/workflow';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { usePhoneBrowser } from '../helpers/browser';
import { RELEASE_REQUEST } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();
const browser = usePhoneBrowser('hsm-governor-teams-');
const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts');
const bot = (): string => `${stack().stack.endpoints.api}/api/messages`;
const channel = () => stack().stack.teamsChannel;
const { sam, sara, sean, dave } = PERSONAS;

const requestIdOf = (message: PostedMessage): string | undefined => ((message.card?.refresh as { action?: { data?: { requestId?: string } } } | undefined)?.action?.data?.requestId);
const cardsAbout = (id: string): PostedMessage[] => channel().messages().filter((m) => requestIdOf(m) === id);
const textOf = (card: Record<string, unknown> | undefined): string => JSON.stringify(card?.body ?? []);
const buttons = (card: Record<string, unknown> | undefined): string[] => ((card?.actions as Array<{ verb: string }> | undefined) ?? []).map((a) => a.verb);
const viewAs = (persona: Persona, message: PostedMessage) => channel().view(bot(), persona, message);

/** Waits until every card about `id` shows `text`, and answers them. */
const allShow = (id: string, count: number, text: string | RegExp, timeoutMs = 15_000) =>
  eventually(`${count} card(s) about ${id} showing ${text}`, () => cardsAbout(id), (cards) => cards.length === count && cards.every((c) => (typeof text === 'string' ? textOf(c.card).includes(text) : text.test(textOf(c.card)))), { timeoutMs, intervalMs: 200 });

async function submit(persona: string, body: Record<string, unknown>): Promise<string> {
  const made = await stack().api('/api/requests', { persona, body });
  expect(made.status).toBe(201);
  return ((await made.json()) as { id: string }).id;
}

beforeAll(async () => {
  // sam, sara and sean add the bot in Teams (personal scope): the bot stores their chats.
  for (const persona of [sam, sara, sean]) expect((await channel().install(bot(), persona)).status).toBe(200);
}, 30_000);

describe('Teams bot cards', () => {
  it('posts one card to each approver, sam approves in Teams, every copy updates in place to Active, then Expired', async () => {
    const id = await submit('dave', { ...RELEASE_REQUEST, duration: 'PT1M', justification: `release ${Math.random()}` });
    const posted = await allShow(id, 3, 'Waiting for approval (0 of 1)');
    expect(posted.map((m) => m.conversationId).sort()).toEqual([sam, sara, sean].map((p) => `a:${p.oid}`).sort());
    // The card as posted has no buttons; Teams asks the bot for each listed approver's own card.
    for (const message of posted) {
      expect(buttons(message.card)).toEqual([]);
      expect((message.card?.refresh as { userIds: string[] }).userIds.sort()).toEqual([sam, sara, sean].map((p) => `29:${p.oid}`).sort());
      const own = await viewAs(PERSONAS[message.conversationId === `a:${sam.oid}` ? 'sam' : message.conversationId === `a:${sara.oid}` ? 'sara' : 'sean'], message);
      expect(buttons(own)).toEqual(['approve', 'deny']);
    }
    // The requester is sent no card and sees none of the buttons.
    expect(posted.some((m) => m.conversationId === `a:${dave.oid}`)).toBe(false);
    expect(buttons(await viewAs(dave, posted[0]!))).toEqual([]);

    const clicked = await channel().click(bot(), sam, 'approve', id, { comment: 'ok for the release' });
    expect(clicked.status).toBe(200);
    const active = await allShow(id, 3, 'Active until');
    for (const message of active) {
      expect(message.versions.length).toBeGreaterThan(1);
      expect(textOf(message.card)).toContain('approved by Sam Security');
      expect((message.card?.refresh as { userIds: string[] }).userIds).toEqual([]);
      expect(buttons(await viewAs(sara, message))).toEqual([]);
    }
    // No new messages: the same three activities were updated.
    expect(channel().messages().filter((m) => requestIdOf(m) === id)).toHaveLength(3);
    const updates = channel().connectorCalls().filter((c) => c.method === 'PUT' && posted.some((m) => c.path === `/v3/conversations/${encodeURIComponent(m.conversationId)}/activities/${m.activityId}`));
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(updates.every((c) => c.authorization?.startsWith('Bearer '))).toBe(true);

    // The one-minute grant ends by itself: the cards say so.
    await allShow(id, 3, 'Expired', 120_000);
    const finished = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string };
    expect(finished.status).toBe('Expired');
  }, 180_000);

  it('a privileged request needs two different clickers: after sara, the cards say 1 of 2 and only sean still sees the buttons', async () => {
    const id = await submit('sam', { role: 'Crypto Officer', scope: '/', duration: 'PT1H', ticket: 'CHG-4242', justification: `recovery ${Math.random()}` });
    // sam asked: his colleagues get the cards.
    const posted = await allShow(id, 2, 'Waiting for approval (0 of 2)');
    expect(posted.map((m) => m.conversationId).sort()).toEqual([sara, sean].map((p) => `a:${p.oid}`).sort());

    expect((await channel().click(bot(), sara, 'approve', id)).status).toBe(200);
    const half = await allShow(id, 2, /Approved by Sara Security at \d\d:\d\d \(1 of 2\)/);
    for (const message of half) {
      expect(buttons(await viewAs(sara, message))).toEqual([]);
      expect(buttons(await viewAs(sean, message))).toEqual(['approve', 'deny']);
      expect(buttons(await viewAs(sam, message))).toEqual([]);
    }
    // sara again is no second approval.
    const again = await channel().click(bot(), sara, 'approve', id);
    expect(textOf((again.body as { value: Record<string, unknown> }).value)).toContain('Your decision was not taken');

    expect((await channel().click(bot(), sean, 'approve', id)).status).toBe(200);
    await allShow(id, 2, 'Active until');
    await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST' });
    await allShow(id, 2, 'Revoked by Sam Security');
  }, 60_000);

  it('a process that dies between its commit and the card updates loses no update: the notification timer brings the cards up to date', async () => {
    const id = await submit('dana', { ...RELEASE_REQUEST, justification: `dies after commit ${Math.random()}` });
    await allShow(id, 3, 'Waiting for approval (0 of 1)');
    // sam's approval is committed (and granted) by a process that dies before its hook runs.
    const settings = stack().stack.appSettings;
    const dying = workflowThatDiesAfterCommit(createAppContext({ ...settings }));
    const decided = await dying.decide(caller('sam'), id, 'approve');
    expect(decided.ok && decided.value.status).toBe('Active');
    await sleep(1000);
    expect(cardsAbout(id).every((m) => m.versions.length === 1 && textOf(m.card).includes('Waiting for approval'))).toBe(true);
    // The next notify-due run finds the cards behind the ledger and updates them in place.
    await stack().stack.host.run('notify-due');
    await allShow(id, 3, 'Active until', 5_000);
    expect(cardsAbout(id)).toHaveLength(3);
    await stack().api(`/api/requests/${id}/revoke`, { persona: 'dana', method: 'POST' });
    await allShow(id, 3, 'Revoked by Dana DevOps');
  }, 60_000);

  it('in real Chromium: sam sees Approve on his card and clicks it; his and sara\'s cards then show the grant without buttons (screenshots)', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const id = await submit('dave', { ...RELEASE_REQUEST, justification: `**Release** [now](https://evil.example) ${Math.random()}` });
    await allShow(id, 3, 'Waiting for approval (0 of 1)');
    const short = `#${id.slice(0, 8)}`;
    const open = async (persona: string) => {
      const page = await browser().newPage();
      await page.goto(`${channel().url}/chats/${persona}`);
      await page.waitForSelector('body[data-rendered]');
      return { page, card: page.locator('section', { hasText: short }) };
    };
    const samPage = await open('sam');
    await samPage.card.screenshot({ path: join(ARTIFACTS, 'teams-bot-card-sam-before.png') });
    expect(await samPage.card.getByRole('button', { name: 'Approve' }).count()).toBe(1);
    // What dave wrote is text: no link in the card.
    expect(await samPage.card.locator('a').count()).toBe(0);
    const saraBefore = await open('sara');
    await saraBefore.card.screenshot({ path: join(ARTIFACTS, 'teams-bot-card-sara-before.png') });
    expect(await saraBefore.card.getByRole('button', { name: 'Deny' }).count()).toBe(1);

    await samPage.card.getByRole('textbox').fill('approved from Teams');
    await samPage.card.getByRole('button', { name: 'Approve' }).click();
    await samPage.page.waitForSelector(`section:has-text("${short}"):has-text("Active until")`, { timeout: 15_000 });
    await samPage.card.screenshot({ path: join(ARTIFACTS, 'teams-bot-card-sam-after.png') });
    expect(await samPage.card.getByRole('button').count()).toBe(0);
    await allShow(id, 3, 'Active until');
    const saraAfter = await open('sara');
    await saraAfter.card.screenshot({ path: join(ARTIFACTS, 'teams-bot-card-sara-after.png') });
    expect(await saraAfter.card.textContent()).toContain('Active until');
    expect(await saraAfter.card.getByRole('button').count()).toBe(0);
    const decided = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { decisions: Array<{ by: string; comment?: string }> };
    expect(decided.decisions).toMatchObject([{ by: sam.oid, comment: 'approved from Teams' }]);
    for (const page of [samPage.page, saraBefore.page, saraAfter.page]) await page.close();
    await stack().api(`/api/requests/${id}/revoke`, { persona: 'dave', method: 'POST' });
  }, 60_000);
});
