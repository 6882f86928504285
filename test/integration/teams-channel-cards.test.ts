// A policy that sends the security team's cards to a Teams channel: one card in the channel, updated in
// place; in the channel the requester sees the status only, the approvers their own card with the buttons.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY_FILE } from '../../dev/stack';
import { PERSONAS } from '../../dev/personas';
import type { PostedMessage } from '../../dev/teams-channel';
import { eventually } from '../helpers/poll';
import { RELEASE_REQUEST } from '../helpers/security';
import { useStack } from '../helpers/stack';

const CHANNEL = '19:a1b2c3d4e5f64789a0b1c2d3e4f5a6b7@thread.tacv2';
const TEAM = '19:f0e1d2c3b4a5968778695a4b3c2d1e0f@thread.tacv2';
const dir = mkdtempSync(join(tmpdir(), 'hsm-governor-channel-policy-'));
const policyFile = join(dir, 'policy.yaml');
writeFileSync(policyFile, readFileSync(DEFAULT_POLICY_FILE, 'utf8').replace('      bot: personal', `      bot: { channel: "${CHANNEL}" }`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const stack = useStack({ policyFile });
const bot = (): string => `${stack().stack.endpoints.api}/api/messages`;
const channel = () => stack().stack.teamsChannel;
const { sam, sara, sean, dave } = PERSONAS;
const buttons = (card: Record<string, unknown> | undefined): string[] => ((card?.actions as Array<{ verb: string }> | undefined) ?? []).map((a) => a.verb);
const about = (id: string) => (m: PostedMessage) => JSON.stringify(m.card?.refresh ?? {}).includes(id);

it('one card in the channel: approvers see their buttons, dave (the requester) the status; after sam approves, everyone sees the grant', async () => {
  // The security team adds the bot to its team, choosing the approvals channel; its members are announced.
  const installed = await channel().installInTeam(bot(), { teamId: TEAM, channelId: CHANNEL, members: [sam, sara, sean, dave] });
  expect(installed.every((r) => r.status === 200)).toBe(true);

  const made = await stack().api('/api/requests', { persona: 'dave', body: { ...RELEASE_REQUEST, justification: `channel ${Math.random()}` } });
  const { id } = (await made.json()) as { id: string };
  const [posted] = await eventually('the channel card', () => channel().messages().filter(about(id)), (cards) => cards.length === 1, { timeoutMs: 15_000, intervalMs: 200 });
  expect(posted!.conversationId).toBe(CHANNEL);
  expect((posted!.card?.refresh as { userIds: string[] }).userIds.sort()).toEqual([sam, sara, sean].map((p) => `29:${p.oid}`).sort());
  expect(buttons(await channel().view(bot(), sam, posted!))).toEqual(['approve', 'deny']);
  expect(buttons(await channel().view(bot(), dave, posted!))).toEqual([]);
  // An Approve sent as dave is refused and changes nothing.
  const self = await channel().click(bot(), dave, 'approve', id);
  expect(JSON.stringify(self.body)).toContain('Your decision was not taken');

  expect((await channel().click(bot(), sam, 'approve', id)).status).toBe(200);
  const [active] = await eventually('the channel card updated', () => channel().messages().filter(about(id)), (cards) => cards.length === 1 && JSON.stringify(cards[0]!.card?.body).includes('Active until'), { timeoutMs: 15_000, intervalMs: 200 });
  expect(active!.activityId).toBe(posted!.activityId);
  for (const persona of [sam, sara, dave]) {
    const seen = await channel().view(bot(), persona, active!);
    expect(buttons(seen)).toEqual([]);
    expect(JSON.stringify(seen?.body)).toContain('Active until');
  }
  await stack().api(`/api/requests/${id}/revoke`, { persona: 'dave', method: 'POST' });
}, 60_000);
