/**
 * The Teams bot on the Bot Framework SDK: the SDK validates the Bot Connector's token (signature
 * against the OpenID metadata's keys, `iss`, `aud` = our bot, `serviceurl` = the activity's, expiry),
 * then a card click goes to TeamsApprovalService. The bot's own calls to the Connector carry a token
 * of the app's managed identity: there is no client secret.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { TeamsApprovalService } from '../../services/teamsApprovals';
import type { TeamsBotStore } from '../../services/teamsCardPorts';

export { TableTeamsBotStore, TEAMS_BOT_TABLE } from './store';
export type { ActivityProcessor, BotResponse, BotSettings, InstallationRecorder, TeamsBot } from './types';
import type { ActivityProcessor, BotSettings, InstallationRecorder, TeamsBot } from './types';

/** BOT_APP_ID turns the bot on; BOT_OPENID_METADATA_URL and BOT_TOKEN_ISSUER point it at a stand-in locally. */
export function readBotSettings(env: NodeJS.ProcessEnv, tenantId: string): BotSettings | undefined {
  const appId = env.BOT_APP_ID?.trim();
  if (!appId) return undefined;
  return {
    appId,
    tenantId,
    ...(env.BOT_OPENID_METADATA_URL ? { openIdMetadataUrl: env.BOT_OPENID_METADATA_URL } : {}),
    ...(env.BOT_TOKEN_ISSUER ? { tokenIssuer: env.BOT_TOKEN_ISSUER } : {}),
  };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Stores the conversation references an installation gives (shapes as Teams sends them): a personal
 * chat (`conversationType: personal`, the person in `from`), a team (`channel`: the conversation, the
 * channel chosen at installation and the team, all under one region `serviceUrl`), and the people a
 * team's roster events name. The bot removed: the chat or the channel is forgotten.
 */
export function installationRecorder(store: TeamsBotStore): InstallationRecorder {
  return async (activity, tenantId) => {
    const botId = activity.recipient?.id;
    const serviceUrl = activity.serviceUrl;
    if (!botId || !serviceUrl || !activity.conversation?.id) return;
    const added = activity.membersAdded ?? [];
    const removed = activity.membersRemoved ?? [];
    const conversationType = activity.conversation.conversationType;
    const channelData = (activity.channelData ?? {}) as { team?: { id?: string }; settings?: { selectedChannel?: { id?: string } } };
    if (conversationType === 'personal') {
      const person = activity.from;
      if (!person?.id || !person.aadObjectId || !GUID.test(person.aadObjectId)) return;
      const aadObjectId = person.aadObjectId.toLowerCase();
      if (added.some((m) => m.id === botId)) await store.saveUser({ aadObjectId, teamsUserId: person.id, serviceUrl, tenantId, conversationId: activity.conversation.id });
      if (removed.some((m) => m.id === botId)) await store.forgetUserChat(aadObjectId);
      return;
    }
    if (conversationType !== 'channel') return;
    const channelIds = [...new Set([activity.conversation.id, channelData.settings?.selectedChannel?.id, channelData.team?.id].filter((id): id is string => typeof id === 'string' && id.length > 0))];
    const teamId = channelData.team?.id;
    if (added.some((m) => m.id === botId)) for (const channelId of channelIds) await store.saveChannel({ channelId, ...(teamId ? { teamId } : {}), serviceUrl, tenantId });
    if (removed.some((m) => m.id === botId)) for (const channelId of channelIds) await store.removeChannel(channelId);
    for (const member of added) {
      if (member.id === botId || !member.aadObjectId || !GUID.test(member.aadObjectId)) continue;
      const aadObjectId = member.aadObjectId.toLowerCase();
      const known = await store.user(aadObjectId);
      await store.saveUser({ ...(known ?? {}), aadObjectId, teamsUserId: member.id, serviceUrl, tenantId });
    }
  };
}

/** The bot: the SDK is loaded here, with the first activity or card, not when the app starts. */
export function createTeamsBot(settings: BotSettings, credential: TokenCredential, approvals: () => TeamsApprovalService, installations?: InstallationRecorder): TeamsBot {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const runtime = require('./runtime') as typeof import('./runtime');
  return runtime.createTeamsBotNow(settings, credential, approvals, installations);
}

/** The activity processor alone (no installations recorded, no cards sent). */
export function createActivityProcessor(settings: BotSettings, credential: TokenCredential, approvals: () => TeamsApprovalService): ActivityProcessor {
  return createTeamsBot(settings, credential, approvals).process;
}
