/**
 * What of the Teams bot needs the Bot Framework SDK, loaded with the first activity or card (not at
 * cold start: the SDK and its HTTP stack are a third of the app's code).
 */
import type { TokenCredential } from '@azure/core-auth';
import { ActivityHandler, CloudAdapter, ConfigurationBotFrameworkAuthentication, type Activity, type ConversationReference, type AdaptiveCardInvokeResponse, type AdaptiveCardInvokeValue, type TurnContext } from 'botbuilder';
import { AuthenticationConstants, AuthenticationError, ServiceClientCredentialsFactory, type AuthenticateRequestResult, type ServiceClientCredentials } from 'botframework-connector';
import { CallerIdConstants } from 'botframework-schema';
import type { CardActionResult, TeamsApprovalService } from '../../services/teamsApprovals';
import type { BotConnectorPort, BotConversation, BotUser } from '../../services/teamsCardPorts';
import type { ActivityProcessor, BotResponse, BotSettings, InstallationRecorder, TeamsBot } from './types';

/** Our one bot, signing its Connector calls with the managed identity. */
class ManagedIdentityCredentialsFactory extends ServiceClientCredentialsFactory {
  constructor(private readonly appId: string, private readonly credential: TokenCredential) {
    super();
  }
  async isValidAppId(appId: string): Promise<boolean> {
    return appId === this.appId;
  }
  async isAuthenticationDisabled(): Promise<boolean> {
    return false;
  }
  async createCredentials(appId: string, audience: string | undefined): Promise<ServiceClientCredentials> {
    if (appId !== this.appId) throw new Error(`No credentials for bot ${appId}`);
    const scope = `${audience ?? 'https://api.botframework.com'}/.default`;
    const credential = this.credential;
    return {
      async signRequest(webResource) {
        const token = await credential.getToken(scope);
        if (!token) throw new Error(`The managed identity gave no token for ${scope}`);
        webResource.headers.set('authorization', `Bearer ${token.token}`);
        return webResource;
      },
    };
  }
}

/** A token that fails any check is a 401, never a 500: the SDK lets a bad signature through as another error. */
class FailClosedAuthentication extends ConfigurationBotFrameworkAuthentication {
  override async authenticateRequest(activity: Activity, authHeader: string): Promise<AuthenticateRequestResult> {
    try {
      return await super.authenticateRequest(activity, authHeader);
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      throw new AuthenticationError(`Unauthorized: ${error instanceof Error ? error.message : String(error)}`, 401);
    }
  }
}

function invokeResponse(result: CardActionResult): AdaptiveCardInvokeResponse {
  if (result.kind === 'card') return { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: result.card };
  return { statusCode: result.status, type: 'application/vnd.microsoft.error', value: { code: result.code, message: result.message } as unknown as Record<string, unknown> };
}

/** The tenant of a Teams activity: channelData's, which conversation's must not contradict. */
function tenantOf(context: TurnContext): string | undefined {
  const channelTenant = (context.activity.channelData as { tenant?: { id?: unknown } } | undefined)?.tenant?.id;
  const conversationTenant = context.activity.conversation?.tenantId;
  if (typeof channelTenant !== 'string') return undefined;
  if (conversationTenant && conversationTenant.toLowerCase() !== channelTenant.toLowerCase()) return undefined;
  return channelTenant;
}

class ApprovalBot extends ActivityHandler {
  constructor(private readonly approvals: () => TeamsApprovalService, private readonly tenantId: string, private readonly installations?: InstallationRecorder) {
    super();
    // conversationUpdate: the bot installed in (or removed from) a personal chat or a team, of our tenant only.
    this.onConversationUpdate(async (context, next) => {
      const tenantId = tenantOf(context);
      const ours = tenantId !== undefined && tenantId.toLowerCase() === this.tenantId.toLowerCase();
      if (this.installations && context.activity.channelId === 'msteams' && ours) await this.installations(context.activity, this.tenantId);
      await next();
    });
  }
  protected override async onAdaptiveCardInvoke(context: TurnContext, value: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    if (context.activity.channelId !== 'msteams') return invokeResponse({ kind: 'error', status: 400, code: 'wrong-channel', message: 'This bot takes card actions from Microsoft Teams only' });
    const result = await this.approvals().handle({
      tenantId: tenantOf(context),
      aadObjectId: context.activity.from?.aadObjectId,
      teamsUserId: context.activity.from?.id,
      verb: value.action.verb,
      data: value.action.data,
    });
    return invokeResponse(result);
  }
}

const ADAPTIVE_CARD = 'application/vnd.microsoft.card.adaptive';

/** The bot's side of the Bot Connector REST API, through the SDK's CloudAdapter (proactive messages). */
class CloudAdapterConnector implements BotConnectorPort {
  constructor(private readonly adapter: CloudAdapter, private readonly appId: string) {}

  private reference(conversation: BotConversation): Partial<ConversationReference> {
    return {
      channelId: 'msteams',
      serviceUrl: conversation.serviceUrl,
      bot: { id: `28:${this.appId}`, name: 'hsm-access-governor' },
      conversation: { id: conversation.conversationId, tenantId: conversation.tenantId, isGroup: false, conversationType: '', name: '' },
    };
  }

  async createPersonalConversation(user: BotUser): Promise<BotConversation> {
    let conversationId: string | undefined;
    await this.adapter.createConversationAsync(
      this.appId,
      'msteams',
      user.serviceUrl,
      AuthenticationConstants.ToChannelFromBotOAuthScope,
      { isGroup: false, bot: { id: `28:${this.appId}`, name: 'hsm-access-governor' }, members: [{ id: user.teamsUserId, name: '' }], tenantId: user.tenantId, channelData: { tenant: { id: user.tenantId } } },
      async (context) => {
        conversationId = context.activity.conversation?.id;
      },
    );
    if (!conversationId) throw new Error(`The Bot Connector created no conversation with ${user.teamsUserId}`);
    return { serviceUrl: user.serviceUrl, conversationId, tenantId: user.tenantId };
  }

  async sendCard(conversation: BotConversation, card: Record<string, unknown>): Promise<string> {
    let activityId: string | undefined;
    await this.adapter.continueConversationAsync(this.appId, this.reference(conversation), async (context) => {
      const sent = await context.sendActivity({ type: 'message', attachments: [{ contentType: ADAPTIVE_CARD, content: card }] });
      activityId = sent?.id;
    });
    if (!activityId) throw new Error(`The Bot Connector gave the card in ${conversation.conversationId} no activity id`);
    return activityId;
  }

  async updateCard(conversation: BotConversation, activityId: string, card: Record<string, unknown>): Promise<void> {
    await this.adapter.continueConversationAsync(this.appId, this.reference(conversation), async (context) => {
      await context.updateActivity({ type: 'message', id: activityId, conversation: context.activity.conversation, attachments: [{ contentType: ADAPTIVE_CARD, content: card }] });
    });
  }
}

export function createTeamsBotNow(settings: BotSettings, credential: TokenCredential, approvals: () => TeamsApprovalService, installations?: InstallationRecorder): TeamsBot {
  const auth = new FailClosedAuthentication(
    {
      MicrosoftAppId: settings.appId,
      MicrosoftAppTenantId: settings.tenantId,
      MicrosoftAppType: 'UserAssignedMSI',
      // Every value of the public cloud, spelled out: the SDK takes none of its defaults once one is given.
      ValidateAuthority: true,
      ToChannelFromBotLoginUrl: `${AuthenticationConstants.ToChannelFromBotLoginUrlPrefix}${settings.tenantId}`,
      ToChannelFromBotOAuthScope: AuthenticationConstants.ToChannelFromBotOAuthScope,
      ToBotFromChannelTokenIssuer: settings.tokenIssuer ?? AuthenticationConstants.ToBotFromChannelTokenIssuer,
      ToBotFromChannelOpenIdMetadataUrl: settings.openIdMetadataUrl ?? AuthenticationConstants.ToBotFromChannelOpenIdMetadataUrl,
      ToBotFromEmulatorOpenIdMetadataUrl: AuthenticationConstants.ToBotFromEmulatorOpenIdMetadataUrl,
      OAuthUrl: AuthenticationConstants.OAuthUrl,
      CallerId: CallerIdConstants.PublicAzureChannel,
    },
    new ManagedIdentityCredentialsFactory(settings.appId, credential),
  );
  const adapter = new CloudAdapter(auth);
  const bot = new ApprovalBot(approvals, settings.tenantId, installations);
  const process: ActivityProcessor = async (headers, body) => {
    const response: BotResponse = { status: 200 };
    const res = {
      socket: undefined,
      status(code: number) {
        response.status = code;
        return res;
      },
      header() {
        return res;
      },
      send(payload?: unknown) {
        if (payload !== undefined) response.body = payload;
        return res;
      },
      end() {
        return res;
      },
    };
    await adapter.process({ body, headers, method: 'POST' }, res, (context) => bot.run(context));
    return response;
  };
  return { process, connector: new CloudAdapterConnector(adapter, settings.appId) };
}
