import type { TableClient } from '@azure/data-tables';
import type { BotChannel, BotUser, OpenCardSet, SentCard, TeamsBotStore } from '../../services/teamsCardPorts';
import { ensureTable, isContended, statusOf } from '../storage/setup';

export const TEAMS_BOT_TABLE = 'teamsbot';

const USERS = 'user';
const CHANNELS = 'channel';
const OPEN = 'open';
const cardsPartition = (requestId: string): string => `card|${requestId}`;
/** RowKey may not hold / \ # ? or control characters; Teams ids hold none of them but ':' '@' ';', which are allowed. */
const rowKeyOf = (key: string): string => [...key].map((ch) => (/[/\\#?]/.test(ch) || ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f) ? '_' : ch)).join('');
const MAX_VERSION_RETRIES = 10;

interface UserEntity { teamsUserId: string; serviceUrl: string; tenantId: string; conversationId?: string }
interface ChannelEntity { channelId: string; teamId?: string; serviceUrl: string; tenantId: string }
interface CardEntity { conversationId: string; activityId: string; serviceUrl: string; tenantId: string; recipient?: string }
interface OpenEntity { shownVersion: number }

/**
 * The bot's conversation references (stored on conversationUpdate) and the cards it sent, in one
 * table: `user|{objectId}`, `channel|{channelId}`, `card|{requestId}` rows per sent card, and
 * `open|{requestId}` with the history length the request's cards show until they show a final state.
 * Reads of a table not yet created answer nothing and create nothing.
 */
export class TableTeamsBotStore implements TeamsBotStore {
  constructor(private readonly table: TableClient) {}

  private async read<T extends object>(partitionKey: string, rowKey: string): Promise<(T & { etag: string }) | undefined> {
    try {
      return await this.table.getEntity<T>(partitionKey, rowKeyOf(rowKey));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async list<T extends object>(partitionKey: string): Promise<T[]> {
    const rows: T[] = [];
    try {
      for await (const entity of this.table.listEntities<T>({ queryOptions: { filter: `PartitionKey eq '${partitionKey.replace(/'/g, "''")}'` } })) rows.push(entity);
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw error;
    }
    return rows;
  }

  private async upsert(partitionKey: string, rowKey: string, values: object): Promise<void> {
    await ensureTable(this.table);
    await this.table.upsertEntity({ partitionKey, rowKey: rowKeyOf(rowKey), ...values }, 'Replace');
  }

  private async remove(partitionKey: string, rowKey: string): Promise<void> {
    try {
      await this.table.deleteEntity(partitionKey, rowKeyOf(rowKey));
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  async saveUser(user: BotUser): Promise<void> {
    const values: UserEntity = { teamsUserId: user.teamsUserId, serviceUrl: user.serviceUrl, tenantId: user.tenantId, ...(user.conversationId ? { conversationId: user.conversationId } : {}) };
    await this.upsert(USERS, user.aadObjectId.toLowerCase(), values);
  }

  async user(aadObjectId: string): Promise<BotUser | undefined> {
    const row = await this.read<UserEntity>(USERS, aadObjectId.toLowerCase());
    if (!row) return undefined;
    return { aadObjectId: aadObjectId.toLowerCase(), teamsUserId: row.teamsUserId, serviceUrl: row.serviceUrl, tenantId: row.tenantId, ...(row.conversationId ? { conversationId: row.conversationId } : {}) };
  }

  async forgetUserChat(aadObjectId: string): Promise<void> {
    const known = await this.user(aadObjectId);
    if (!known) return;
    await this.saveUser({ aadObjectId: known.aadObjectId, teamsUserId: known.teamsUserId, serviceUrl: known.serviceUrl, tenantId: known.tenantId });
  }

  async saveChannel(channel: BotChannel): Promise<void> {
    const values: ChannelEntity = { channelId: channel.channelId, serviceUrl: channel.serviceUrl, tenantId: channel.tenantId, ...(channel.teamId ? { teamId: channel.teamId } : {}) };
    await this.upsert(CHANNELS, channel.channelId, values);
  }

  async channel(channelId: string): Promise<BotChannel | undefined> {
    const row = await this.read<ChannelEntity>(CHANNELS, channelId);
    if (!row) return undefined;
    return { channelId: row.channelId, serviceUrl: row.serviceUrl, tenantId: row.tenantId, ...(row.teamId ? { teamId: row.teamId } : {}) };
  }

  removeChannel(channelId: string): Promise<void> {
    return this.remove(CHANNELS, channelId);
  }

  async addCard(requestId: string, card: SentCard): Promise<void> {
    const { conversation } = card;
    const values: CardEntity = { conversationId: conversation.conversationId, activityId: card.activityId, serviceUrl: conversation.serviceUrl, tenantId: conversation.tenantId, ...(card.recipient ? { recipient: card.recipient } : {}) };
    await this.upsert(cardsPartition(requestId), conversation.conversationId, values);
  }

  async cardsOf(requestId: string): Promise<SentCard[]> {
    return (await this.list<CardEntity>(cardsPartition(requestId))).map((row) => ({
      conversation: { serviceUrl: row.serviceUrl, conversationId: row.conversationId, tenantId: row.tenantId },
      activityId: row.activityId,
      ...(row.recipient ? { recipient: row.recipient } : {}),
    }));
  }

  async markShown(requestId: string, version: number): Promise<void> {
    await ensureTable(this.table);
    for (let attempt = 0; attempt < MAX_VERSION_RETRIES; attempt++) {
      const row = await this.read<OpenEntity>(OPEN, requestId);
      if (row && row.shownVersion >= version) return;
      try {
        if (row) await this.table.updateEntity<OpenEntity & { partitionKey: string; rowKey: string }>({ partitionKey: OPEN, rowKey: rowKeyOf(requestId), shownVersion: version }, 'Replace', { etag: row.etag });
        else await this.table.createEntity<OpenEntity & { partitionKey: string; rowKey: string }>({ partitionKey: OPEN, rowKey: rowKeyOf(requestId), shownVersion: version });
        return;
      } catch (error) {
        if (!isContended(error)) throw error;
      }
    }
    throw new Error(`Request ${requestId}: what its Teams cards show kept changing`);
  }

  async shownVersion(requestId: string): Promise<number | undefined> {
    return (await this.read<OpenEntity>(OPEN, requestId))?.shownVersion;
  }

  close(requestId: string): Promise<void> {
    return this.remove(OPEN, requestId);
  }

  async openSets(): Promise<OpenCardSet[]> {
    return (await this.list<OpenEntity & { rowKey: string }>(OPEN)).map((row) => ({ requestId: row.rowKey, shownVersion: row.shownVersion }));
  }
}
