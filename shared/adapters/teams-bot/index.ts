/**
 * The Teams bot on the Bot Framework SDK: the SDK validates the Bot Connector's token (signature
 * against the OpenID metadata's keys, `iss`, `aud` = our bot, `serviceurl` = the activity's, expiry),
 * then a card click goes to TeamsApprovalService. The bot's own calls to the Connector carry a token
 * of the app's managed identity: there is no client secret.
 */
import type { TokenCredential } from '@azure/core-auth';
import { ActivityHandler, CloudAdapter, ConfigurationBotFrameworkAuthentication, type Activity, type AdaptiveCardInvokeResponse, type AdaptiveCardInvokeValue, type TurnContext } from 'botbuilder';
import { AuthenticationConstants, AuthenticationError, ServiceClientCredentialsFactory, type AuthenticateRequestResult, type ServiceClientCredentials } from 'botframework-connector';
import { CallerIdConstants } from 'botframework-schema';
import type { CardActionResult, TeamsApprovalService } from '../../services/teamsApprovals';

export interface BotSettings {
  /** The bot's Microsoft App ID: the client id of the app's user-assigned managed identity. */
  readonly appId: string;
  readonly tenantId: string;
  /** Where the Connector's signing keys are published (default: the Bot Framework's own). */
  readonly openIdMetadataUrl?: string;
  /** The `iss` of the Connector's tokens (default https://api.botframework.com). */
  readonly tokenIssuer?: string;
}

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
  constructor(private readonly approvals: () => TeamsApprovalService) {
    super();
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

export interface BotResponse {
  status: number;
  body?: unknown;
}

/** Runs one activity through the SDK; the answer is what the SDK would write to the HTTP response. */
export type ActivityProcessor = (headers: Record<string, string>, body: Record<string, unknown>) => Promise<BotResponse>;

export function createActivityProcessor(settings: BotSettings, credential: TokenCredential, approvals: () => TeamsApprovalService): ActivityProcessor {
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
  const bot = new ApprovalBot(approvals);
  return async (headers, body) => {
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
}
