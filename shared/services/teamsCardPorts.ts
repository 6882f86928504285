/** The small interfaces the Teams bot's card sending drives; shared/adapters/teams-bot implements them. */

/** A conversation the bot can post in: a person's chat with the bot, or a Teams channel. */
export interface BotConversation {
  /** The Bot Connector of the conversation's region (the activity's `serviceUrl`). */
  readonly serviceUrl: string;
  readonly conversationId: string;
  readonly tenantId: string;
}

/** A person the bot learned of from Teams (an installation in a personal chat, or a team's roster event). */
export interface BotUser {
  /** Entra object id, lower case. */
  readonly aadObjectId: string;
  /** The Teams user id (`29:...`), unique to this bot. */
  readonly teamsUserId: string;
  readonly serviceUrl: string;
  readonly tenantId: string;
  /** The personal chat's conversation id, once there is one (installation, or created by the bot). */
  readonly conversationId?: string;
}

/** A Teams channel the bot was added to (under its own id, its team's, and the channel chosen at installation). */
export interface BotChannel {
  readonly channelId: string;
  readonly teamId?: string;
  readonly serviceUrl: string;
  readonly tenantId: string;
}

/** One card the bot sent: where, and the activity id Teams gave it (updated in place later). */
export interface SentCard {
  readonly conversation: BotConversation;
  readonly activityId: string;
  /** Whose chat, for a personal chat (object id); absent for a channel. */
  readonly recipient?: string;
}

/** Card sets not yet final: the request and the history length its cards show (-1: being sent). */
export interface OpenCardSet {
  readonly requestId: string;
  readonly shownVersion: number;
}

/** Conversation references stored when the bot is installed, and the cards it sent (Table Storage). */
export interface TeamsBotStore {
  saveUser(user: BotUser): Promise<void>;
  user(aadObjectId: string): Promise<BotUser | undefined>;
  /** The bot was removed from the person's chat: forget the chat (the Teams user id stays useful). */
  forgetUserChat(aadObjectId: string): Promise<void>;
  saveChannel(channel: BotChannel): Promise<void>;
  channel(channelId: string): Promise<BotChannel | undefined>;
  removeChannel(channelId: string): Promise<void>;

  addCard(requestId: string, card: SentCard): Promise<void>;
  cardsOf(requestId: string): Promise<SentCard[]>;
  /** Records what the request's cards show (a set is open until `close`); never lowers a higher version. */
  markShown(requestId: string, version: number): Promise<void>;
  shownVersion(requestId: string): Promise<number | undefined>;
  /** The request is final and every card shows it: the set leaves the open list. */
  close(requestId: string): Promise<void>;
  openSets(): Promise<OpenCardSet[]>;
}

/** The Bot Connector REST API, as the bot calls it (with the app's managed identity). */
export interface BotConnectorPort {
  /** `POST /v3/conversations`: the bot's 1:1 chat with a person (Teams answers the existing one when there is one). */
  createPersonalConversation(user: BotUser): Promise<BotConversation>;
  /** `POST /v3/conversations/{id}/activities`: posts the card; answers the new activity's id. */
  sendCard(conversation: BotConversation, card: Record<string, unknown>): Promise<string>;
  /** `PUT /v3/conversations/{id}/activities/{activityId}`: replaces the card in place. */
  updateCard(conversation: BotConversation, activityId: string, card: Record<string, unknown>): Promise<void>;
}
