/** The Teams bot's settings and the shapes its two halves (index.ts, runtime.ts) share. */
import type { Activity } from 'botbuilder';
import type { BotConnectorPort } from '../../services/teamsCardPorts';

export interface BotSettings {
  /** The bot's Microsoft App ID: the client id of the app's user-assigned managed identity. */
  readonly appId: string;
  readonly tenantId: string;
  /** Where the Connector's signing keys are published (default: the Bot Framework's own). */
  readonly openIdMetadataUrl?: string;
  /** The `iss` of the Connector's tokens (default https://api.botframework.com). */
  readonly tokenIssuer?: string;
}

/** What an installation tells the bot: a person's chat, a team's channel, a person of a team. */
export type InstallationRecorder = (activity: Activity, tenantId: string) => Promise<void>;

export interface BotResponse {
  status: number;
  body?: unknown;
}

/** Runs one activity through the SDK; the answer is what the SDK would write to the HTTP response. */
export type ActivityProcessor = (headers: Record<string, string>, body: Record<string, unknown>) => Promise<BotResponse>;

export interface TeamsBot {
  /** Runs one activity the Bot Connector POSTed to /api/messages. */
  readonly process: ActivityProcessor;
  /** The bot's own calls to the Connector (cards sent and updated). */
  readonly connector: BotConnectorPort;
}
