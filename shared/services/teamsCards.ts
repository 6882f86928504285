/**
 * The Teams bot's approval cards: sent to the approvers (a channel, or each member's personal chat,
 * as the policy says per approver alias) when a request waits for them, and updated in place on every
 * later change. Sends happen after the change is committed, never inside it; what the cards show is
 * recorded per request, so the notification timer brings back up to date any card a crash left behind.
 */
import {
  APPROVAL_CATCH_UP_MS,
  APPROVAL_CATCH_UP_UNTIL_MS,
  approvalCard,
  isTerminal,
  MAX_REFRESH_USERS,
  mayDecide,
  type AccessRequest,
  type BotTarget,
  type Policy,
} from '../domain';
import type { GroupMembers } from './groupMembers';
import type { NotificationMarks } from './notificationPorts';
import { listAll, type Clock, type LedgerPort, type ServiceLog } from './ports';
import type { BotConnectorPort, BotConversation, TeamsBotStore } from './teamsCardPorts';
import type { DirectoryPort } from './teamsApprovals';

/** A claim left unconfirmed this long was left by a sender that died (as for the approvers' request). */
const RECLAIM_ANNOUNCEMENT_AFTER_MS = 5 * 60_000;
/** A change that lands while the cards are being updated makes them go round again, this often at most. */
const MAX_UPDATE_ROUNDS = 5;

export interface TeamsCardDependencies {
  readonly policy: Policy;
  readonly ledger: LedgerPort;
  readonly store: TeamsBotStore;
  readonly connector: BotConnectorPort;
  readonly members: GroupMembers;
  readonly directory: DirectoryPort;
  readonly clock: Clock;
  readonly log: ServiceLog;
  /** Claims the announcement once per request (the approvers' request is claimed the same way). */
  readonly marks?: NotificationMarks;
}

interface Destination {
  readonly conversation: BotConversation;
  readonly recipient?: string;
}

export const announcementKey = (requestId: string): string => `teams-cards|${requestId}`;

export class TeamsCardService {
  constructor(private readonly deps: TeamsCardDependencies) {}

  /** The workflow's hook after every saved change; never throws. */
  async onTransition(before: AccessRequest | undefined, after: AccessRequest): Promise<void> {
    try {
      if (!before) {
        if (after.status === 'Pending') await this.announce(after);
        return;
      }
      await this.update(after.id);
    } catch (error) {
      this.deps.log.error(`Request ${after.id}: the Teams cards could not be sent or updated: ${(error as Error).message}`, { requestId: after.id });
    }
  }

  /** The bot targets of the request's rule, per approver alias that has one. */
  private targets(request: AccessRequest): Array<{ alias: string; bot: BotTarget }> {
    const rule = this.deps.policy.eligibility.find((r) => r.id === request.ruleId);
    return (rule?.approval.approvers ?? []).flatMap((alias) => {
      const bot = this.deps.policy.notifications?.approvers[alias]?.bot;
      return bot ? [{ alias, bot }] : [];
    });
  }

  /** The people an approver alias stands for: a group's members (the directory), or the user itself. */
  private async people(alias: string): Promise<readonly string[]> {
    const principal = this.deps.policy.principals[alias];
    if (!principal) return [];
    return principal.type === 'Group' ? this.deps.members.membersOf(principal.objectId) : [principal.objectId];
  }

  /**
   * The Teams user ids whose cards Teams refreshes by itself: the approvers who may still decide (by
   * every rule the API applies), as far as the bot knows their Teams ids. Everyone else sees the card
   * as posted, with the status only.
   */
  async refreshUserIds(request: AccessRequest): Promise<string[]> {
    const rule = this.deps.policy.eligibility.find((r) => r.id === request.ruleId);
    const candidates = new Set<string>();
    for (const alias of rule?.approval.approvers ?? []) for (const oid of await this.people(alias)) candidates.add(oid.toLowerCase());
    const ids: string[] = [];
    for (const objectId of candidates) {
      if (ids.length >= MAX_REFRESH_USERS) break;
      const groups = await this.deps.directory.memberGroups(objectId);
      if (!mayDecide(this.deps.policy, { objectId, groups }, request)) continue;
      const user = await this.deps.store.user(objectId);
      if (user) ids.push(user.teamsUserId);
    }
    return ids;
  }

  /** The card as posted (no viewer: status only); Teams asks the bot for each listed approver's own. */
  private async postedCard(request: AccessRequest): Promise<Record<string, unknown>> {
    return approvalCard(this.deps.policy, request, undefined, this.deps.clock.now(), { refreshUserIds: await this.refreshUserIds(request) });
  }

  private async destinations(request: AccessRequest): Promise<Destination[]> {
    const { store, connector, log } = this.deps;
    const exclude = new Set([request.requestedBy.toLowerCase(), request.principalId.toLowerCase()]);
    const found = new Map<string, Destination>();
    for (const { alias, bot } of this.targets(request)) {
      if (bot.kind === 'channel') {
        const channel = await store.channel(bot.channelId);
        if (!channel) {
          log.warn(`Request ${request.id}: the bot is not in Teams channel ${bot.channelId} of '${alias}': add it to the team there`, { requestId: request.id });
          continue;
        }
        found.set(channel.channelId, { conversation: { serviceUrl: channel.serviceUrl, conversationId: bot.channelId, tenantId: channel.tenantId } });
        continue;
      }
      for (const objectId of await this.people(alias)) {
        if (exclude.has(objectId)) continue;
        const user = await store.user(objectId);
        if (!user) {
          log.info(`Request ${request.id}: ${objectId} of '${alias}' has not installed the bot; told by the other channels only`, { requestId: request.id });
          continue;
        }
        let conversation: BotConversation;
        if (user.conversationId) {
          conversation = { serviceUrl: user.serviceUrl, conversationId: user.conversationId, tenantId: user.tenantId };
        } else {
          conversation = await connector.createPersonalConversation(user);
          await store.saveUser({ ...user, conversationId: conversation.conversationId });
        }
        found.set(conversation.conversationId, { conversation, recipient: objectId });
      }
    }
    return [...found.values()];
  }

  /**
   * Sends the request's card to every destination of its approvers, once: claimed under the
   * request's key, the set opened before anything is sent, and a destination that has its card
   * already (a claim taken over from a sender that died) is skipped.
   */
  async announce(request: AccessRequest, reclaimAfterMs?: number): Promise<number> {
    if (this.targets(request).length === 0) return 0;
    const { store, connector, marks, log } = this.deps;
    // Nobody to send to (nobody installed the bot): nothing is claimed or stored.
    const destinations = await this.destinations(request);
    if (destinations.length === 0) return 0;
    const key = announcementKey(request.id);
    if (marks && !(await marks.claim(key, reclaimAfterMs))) return 0;
    // Opened before anything is sent: whatever happens next, the timer finds the set and brings it up to date.
    await store.markShown(request.id, -1);
    const already = new Set((await store.cardsOf(request.id)).map((c) => c.conversation.conversationId));
    const card = await this.postedCard(request);
    let sent = 0;
    for (const destination of destinations) {
      if (already.has(destination.conversation.conversationId)) continue;
      try {
        const activityId = await connector.sendCard(destination.conversation, card);
        await store.addCard(request.id, { ...destination, activityId });
        sent++;
      } catch (error) {
        log.error(`Request ${request.id}: the Teams card could not be sent to ${destination.conversation.conversationId}: ${(error as Error).message}`, { requestId: request.id });
      }
    }
    await store.markShown(request.id, request.history.length);
    await marks?.confirm(key);
    log.info(`Request ${request.id}: Teams cards sent to ${sent} conversation(s)`, { requestId: request.id });
    // A change committed while the cards went out is shown at once.
    await this.update(request.id);
    return sent;
  }

  /**
   * Replaces every sent card of the request with the card as the request is now (read again from
   * the ledger, so an older update never wins over a newer one for long): again while the request
   * keeps changing. Records what they show only when every update went through.
   */
  async update(requestId: string): Promise<boolean> {
    const { store, ledger, connector, log } = this.deps;
    const cards = await store.cardsOf(requestId);
    if (cards.length === 0) return false;
    for (let round = 0; round < MAX_UPDATE_ROUNDS; round++) {
      const stored = await ledger.get(requestId);
      if (!stored) return false;
      const request = stored.request;
      const version = request.history.length;
      if (round === 0 && (await store.shownVersion(requestId)) === version) {
        if (isTerminal(request.status)) await store.close(requestId);
        return false;
      }
      const card = await this.postedCard(request);
      const results = await Promise.all(
        cards.map((c) =>
          connector.updateCard(c.conversation, c.activityId, card).then(
            () => true,
            (error: Error) => {
              log.warn(`Request ${requestId}: the Teams card in ${c.conversation.conversationId} could not be updated (the timer tries again): ${error.message}`, { requestId });
              return false;
            },
          ),
        ),
      );
      if (results.includes(false)) return false;
      await store.markShown(requestId, version);
      const after = await ledger.get(requestId);
      if (after && after.request.history.length !== version) continue;
      if (isTerminal(request.status)) await store.close(requestId);
      return true;
    }
    return false;
  }

  /**
   * The notification timer's part: every open card set whose cards show an older state than the
   * ledger's is updated (a process died between its commit and the update, or an update failed), and
   * a request whose process died before announcing it is announced (once, as the approvers' request is).
   */
  async catchUp(): Promise<{ updated: number; announced: number }> {
    const { store, ledger, clock } = this.deps;
    let updated = 0;
    for (const set of await store.openSets()) {
      const stored = await ledger.get(set.requestId);
      if (!stored) {
        await store.close(set.requestId);
        continue;
      }
      if (stored.request.history.length !== set.shownVersion) {
        if (await this.update(set.requestId)) updated++;
      } else if (isTerminal(stored.request.status)) {
        await store.close(set.requestId);
      }
    }
    let announced = 0;
    const at = clock.now().getTime();
    for (const { request } of await listAll(ledger, { statuses: ['Pending'], pageSize: 500 })) {
      const created = Date.parse(request.createdAt);
      if (at < created + APPROVAL_CATCH_UP_MS || at >= created + APPROVAL_CATCH_UP_UNTIL_MS) continue;
      if ((await this.announce(request, RECLAIM_ANNOUNCEMENT_AFTER_MS)) > 0) announced++;
    }
    return { updated, announced };
  }
}
