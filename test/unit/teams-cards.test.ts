import type { Activity } from 'botbuilder';
import { installationRecorder } from '../../shared/adapters/teams-bot';
import { applyEvent, createRequest, evaluateRequest, parsePolicy, PolicyError, type AccessRequest, type EligibleRequest, type Policy } from '../../shared/domain';
import { DirectoryGroupMembers, InMemoryGroupMembers, PolicyGroupMembers } from '../../shared/services/groupMembers';
import { PolicyDirectory } from '../../shared/services/teamsApprovals';
import type { BotChannel, BotConnectorPort, BotConversation, BotUser, OpenCardSet, SentCard, TeamsBotStore } from '../../shared/services/teamsCardPorts';
import { TeamsCardService } from '../../shared/services/teamsCards';
import { InMemoryLedger } from '../fakes/ledger';
import { CALLERS, contosoPolicy, contosoPolicyText, NOW, OID } from './domain/fixtures';

const TENANT = 'a7f8a5ce-8fe6-4690-942d-d7a0682c5867';
const SERVICE_URL = 'https://smba.trafficmanager.net/emea/';
const CHANNEL = '19:0b7f32667e064dd9b25d7969801541f4@thread.tacv2';
const SECURITY_TEAM = '76891f9e-0de4-4e47-a3fd-e29f364921cd';
const SILENT = { info: () => undefined, warn: () => undefined, error: () => undefined };

class MemoryStore implements TeamsBotStore {
  users = new Map<string, BotUser>();
  channels = new Map<string, BotChannel>();
  cards = new Map<string, SentCard[]>();
  open = new Map<string, number>();
  async saveUser(user: BotUser) { this.users.set(user.aadObjectId, user); }
  async user(id: string) { return this.users.get(id.toLowerCase()); }
  async forgetUserChat(id: string) { const { conversationId: _, ...rest } = this.users.get(id) ?? ({} as BotUser); if (rest.aadObjectId) this.users.set(id, rest); }
  async saveChannel(channel: BotChannel) { this.channels.set(channel.channelId, channel); }
  async channel(id: string) { return this.channels.get(id); }
  async removeChannel(id: string) { this.channels.delete(id); }
  async addCard(requestId: string, card: SentCard) { this.cards.set(requestId, [...(this.cards.get(requestId) ?? []), card]); }
  async cardsOf(requestId: string) { return this.cards.get(requestId) ?? []; }
  async markShown(requestId: string, version: number) { if ((this.open.get(requestId) ?? -2) < version) this.open.set(requestId, version); }
  async shownVersion(requestId: string) { return this.open.get(requestId); }
  async close(requestId: string) { this.open.delete(requestId); }
  async openSets(): Promise<OpenCardSet[]> { return [...this.open].map(([requestId, shownVersion]) => ({ requestId, shownVersion })); }
}

class MemoryConnector implements BotConnectorPort {
  created: string[] = [];
  posts: Array<{ conversationId: string; card: Record<string, unknown> }> = [];
  updates: Array<{ conversationId: string; activityId: string; card: Record<string, unknown> }> = [];
  failUpdates = false;
  async createPersonalConversation(user: BotUser): Promise<BotConversation> {
    this.created.push(user.teamsUserId);
    return { serviceUrl: user.serviceUrl, conversationId: `a:${user.aadObjectId}`, tenantId: user.tenantId };
  }
  async sendCard(conversation: BotConversation, card: Record<string, unknown>) {
    this.posts.push({ conversationId: conversation.conversationId, card });
    return `activity-${this.posts.length}`;
  }
  async updateCard(conversation: BotConversation, activityId: string, card: Record<string, unknown>) {
    if (this.failUpdates) throw new Error('503 from the Connector');
    this.updates.push({ conversationId: conversation.conversationId, activityId, card });
  }
}

function setup(policy: Policy = contosoPolicy()) {
  const ledger = new InMemoryLedger();
  const store = new MemoryStore();
  const connector = new MemoryConnector();
  const members = new InMemoryGroupMembers({ [SECURITY_TEAM]: [OID.sam, OID.sara, OID.sean] });
  const service = new TeamsCardService({ policy, ledger, store, connector, members, directory: new PolicyDirectory(policy), clock: { now: () => NOW }, log: SILENT });
  const release = async (): Promise<AccessRequest> => {
    const asks = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, justification: 'release' }, NOW) as EligibleRequest;
    const request = createRequest(policy, asks, { id: '0b6c1f0e-8a57-4a43-9d2b-6b1f7f3c9a01', requestedBy: OID.dave }, NOW);
    await ledger.create(request, []);
    return request;
  };
  /** Commits sam's approval, as the writer does, without telling the cards. */
  const approve = async (request: AccessRequest): Promise<AccessRequest> => {
    const stored = (await ledger.get(request.id))!;
    const applied = applyEvent(stored.request, { type: 'decide', by: OID.sam, decision: 'approve' }, NOW);
    if (!applied.ok) throw new Error(applied.detail);
    await ledger.update(applied.request, stored.etag, []);
    return applied.request;
  };
  return { ledger, store, connector, service, release, approve, policy };
}

const installed = (oid: string, conversation = true): BotUser => ({ aadObjectId: oid, teamsUserId: `29:${oid}`, serviceUrl: SERVICE_URL, tenantId: TENANT, ...(conversation ? { conversationId: `a:${oid}` } : {}) });
const text = (card: Record<string, unknown>) => JSON.stringify(card.body);

describe('Teams cards', () => {
  it('personal: one card per member who installed the bot, none for the requester; a member known only from a team gets a chat created', async () => {
    const { store, connector, service, release } = setup();
    await store.saveUser(installed(OID.sam));
    await store.saveUser(installed(OID.sara, false));
    await store.saveUser(installed(OID.dave));
    const request = await release();
    await service.onTransition(undefined, request);
    expect(connector.posts.map((p) => p.conversationId).sort()).toEqual([`a:${OID.sam}`, `a:${OID.sara}`].sort());
    expect(connector.created).toEqual([`29:${OID.sara}`]);
    expect((await store.user(OID.sara))?.conversationId).toBe(`a:${OID.sara}`);
    const card = connector.posts[0]!.card;
    expect(card.actions).toBeUndefined();
    expect((card.refresh as { userIds: string[] }).userIds.sort()).toEqual([`29:${OID.sam}`, `29:${OID.sara}`].sort());
    expect(await store.shownVersion(request.id)).toBe(request.history.length);
  });

  it('nobody installed: nothing is sent, claimed or stored', async () => {
    const { store, connector, service, release } = setup();
    expect(await service.announce(await release())).toBe(0);
    expect(connector.posts).toEqual([]);
    expect(await store.openSets()).toEqual([]);
  });

  it('channel: one card in the channel the policy names, once the bot was added to its team', async () => {
    const policy = parsePolicy(contosoPolicyText().replace('      bot: personal', '      ' + `bot: { channel: "${CHANNEL}" }`), 'channel.yaml');
    const { store, connector, service, release } = setup(policy);
    const request = await release();
    expect(await service.announce(request)).toBe(0);
    await installationRecorder(store)(teamInstall() as Activity, TENANT);
    await service.announce(request);
    expect(connector.posts.map((p) => p.conversationId)).toEqual([CHANNEL]);
  });

  it('every change updates the sent cards in place; a failed update or a lost hook is caught up by the timer', async () => {
    const { ledger, store, connector, service, release, approve } = setup();
    await store.saveUser(installed(OID.sam));
    await store.saveUser(installed(OID.sean));
    const request = await release();
    await service.onTransition(undefined, request);
    // The process dies after committing the approval: no hook ran.
    const approved = await approve(request);
    expect(connector.updates).toEqual([]);
    expect(await service.catchUp()).toMatchObject({ updated: 1 });
    expect(connector.updates.map((u) => u.activityId).sort()).toEqual(['activity-1', 'activity-2']);
    expect(text(connector.updates[0]!.card)).toContain('Approved by Sam Security');
    expect(await store.shownVersion(request.id)).toBe(approved.history.length);
    // Nothing more to do: the timer sends nothing again.
    expect(await service.catchUp()).toMatchObject({ updated: 0 });
    expect(connector.updates).toHaveLength(2);

    // An update the Connector refuses is not recorded as shown, so the timer tries again.
    const stored = (await ledger.get(request.id))!;
    const revoked = applyEvent(stored.request, { type: 'revoke', by: OID.dave, reason: 'not needed' }, NOW);
    if (!revoked.ok) throw new Error(revoked.detail);
    await ledger.update(revoked.request, stored.etag, []);
    connector.failUpdates = true;
    await service.onTransition(stored.request, revoked.request);
    expect(await store.shownVersion(request.id)).toBe(approved.history.length);
    connector.failUpdates = false;
    await service.catchUp();
    expect(text(connector.updates[connector.updates.length - 1]!.card)).toContain('Revoked by Dave DevOps');
    // Final and shown: the set is closed.
    expect(await store.openSets()).toEqual([]);
  });

  it('an announcement taken over from a sender that died skips the chats that have their card', async () => {
    const { store, connector, service, release } = setup();
    await store.saveUser(installed(OID.sam));
    await store.saveUser(installed(OID.sara));
    const request = await release();
    await store.addCard(request.id, { conversation: { serviceUrl: SERVICE_URL, conversationId: `a:${OID.sam}`, tenantId: TENANT }, activityId: 'sent-before-dying', recipient: OID.sam });
    await service.announce(request);
    expect(connector.posts.map((p) => p.conversationId)).toEqual([`a:${OID.sara}`]);
  });
});

function teamInstall(): Partial<Activity> {
  // As Teams sends it when the bot is added to a team (docs: conversation events, "bot added to a team").
  return {
    type: 'conversationUpdate',
    membersAdded: [{ id: '28:bot', name: '' }],
    channelId: 'msteams',
    serviceUrl: SERVICE_URL,
    from: { id: '29:1ljv6N86roXr5pjPrCJVIz6xHh5QxjI', name: '', aadObjectId: OID.sam },
    conversation: { isGroup: true, conversationType: 'channel', tenantId: TENANT, id: CHANNEL, name: 'Approvals' },
    recipient: { id: '28:bot', name: 'hsm-access-governor' },
    channelData: { settings: { selectedChannel: { id: CHANNEL } }, team: { aadGroupId: SECURITY_TEAM, name: 'Security', id: '19:team@thread.tacv2' }, eventType: 'teamMemberAdded', tenant: { id: TENANT } },
  };
}

describe('installations', () => {
  it('a personal installation stores the chat; removing the bot forgets it', async () => {
    const store = new MemoryStore();
    const record = installationRecorder(store);
    const personal = (key: 'membersAdded' | 'membersRemoved'): Partial<Activity> => ({
      type: 'conversationUpdate',
      [key]: [{ id: '28:bot', name: '' }, { id: `29:${OID.sara}`, name: '', aadObjectId: OID.sara }],
      channelId: 'msteams',
      serviceUrl: SERVICE_URL,
      from: { id: `29:${OID.sara}`, name: '', aadObjectId: OID.sara },
      conversation: { conversationType: 'personal', id: 'a:1xyz', isGroup: false, name: '' },
      recipient: { id: '28:bot', name: 'bot' },
      channelData: { tenant: { id: TENANT } },
    });
    await record(personal('membersAdded') as Activity, TENANT);
    expect(await store.user(OID.sara)).toEqual({ aadObjectId: OID.sara, teamsUserId: `29:${OID.sara}`, serviceUrl: SERVICE_URL, tenantId: TENANT, conversationId: 'a:1xyz' });
    await record(personal('membersRemoved') as Activity, TENANT);
    expect((await store.user(OID.sara))?.conversationId).toBeUndefined();
  });

  it('a team installation stores the channel under its own, the chosen and the team id', async () => {
    const store = new MemoryStore();
    await installationRecorder(store)(teamInstall() as Activity, TENANT);
    expect([...store.channels.keys()].sort()).toEqual([CHANNEL, '19:team@thread.tacv2'].sort());
  });
});

describe('group members and the policy', () => {
  it('the policy names its groups\' people; the in-memory directory any', async () => {
    expect(await new PolicyGroupMembers(contosoPolicy()).membersOf(SECURITY_TEAM)).toEqual([OID.sam, OID.sara, OID.sean]);
    expect(await new InMemoryGroupMembers({ [SECURITY_TEAM.toUpperCase()]: [OID.sam.toUpperCase()] }).membersOf(SECURITY_TEAM)).toEqual([OID.sam]);
    expect(await new InMemoryGroupMembers({}).membersOf(SECURITY_TEAM)).toEqual([]);
    const graph = { membersOf: async () => [{ id: OID.sam.toUpperCase(), displayName: 'Sam Security' }, { id: OID.sara }] };
    expect(await new DirectoryGroupMembers(graph).membersOf(SECURITY_TEAM)).toEqual([OID.sam, OID.sara]);
  });

  it.each([['a channel id that is none', 'bot: { channel: "general" }'], ['another word', 'bot: everyone']])('a bot entry with %s is refused', (_name, line) => {
    expect(() => parsePolicy(contosoPolicyText().replace('      bot: personal', '      ' + line), 'bad.yaml')).toThrow(PolicyError);
  });
});
