import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type KeyLike } from 'jose';
import { ADAPTIVE_CARDS_LIBRARY, CARD_PAGE_CSP, cardPage } from '../emulator-common/cardPage';
import { listenOnLoopback } from '../emulator-common/server';
import { PERSONAS, TENANT_ID, type Persona } from '../personas';

/**
 * The local Bot Framework channel for Microsoft Teams. Like the Bot Connector it publishes OpenID
 * metadata (`/v1/.well-known/openidconfiguration`) whose `jwks_uri` lists its signing keys, each
 * endorsed for `msteams`; it signs every activity it sends the bot with a JWT (`iss`
 * https://api.botframework.com, `aud` the bot's app id, `serviceurl` the activity's serviceUrl,
 * `nbf`/`exp`); and it takes the bot's replies on the Connector REST paths
 * (`POST /v3/conversations` to create a 1:1 chat, `POST /v3/conversations/{id}/activities` to post,
 * `PUT /v3/conversations/{id}/activities/{activityId}` to update in place), each with a bearer token
 * for `https://api.botframework.com` (checked against the identity provider's key when given).
 * `install()` and `installInTeam()` send the `conversationUpdate` Teams sends when the bot is added;
 * `click()` sends an `adaptiveCard/action` invoke as a persona clicks a button; `view()` is what a
 * persona sees of a posted card: Teams asks the bot for a listed viewer's own card (`refresh.userIds`).
 */

/** The audience of the bot's tokens for the Connector. */
export const CONNECTOR_AUDIENCE = 'https://api.botframework.com';

export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';

export interface TokenOptions {
  /** Default: the bot's app id. */
  audience?: string;
  /** Default: this channel's serviceUrl. */
  serviceUrl?: string;
  /** Seconds since the epoch at which it was issued (default now). */
  issuedAt?: number;
  /** Sign with other keys than the published ones (a forgery). */
  key?: KeyLike;
  issuer?: string;
}

export interface ClickOptions {
  comment?: string;
  tenantId?: string;
  token?: TokenOptions;
  /** Send exactly this Authorization header instead of a signed token. */
  authorization?: string;
  /** Send exactly this activity (a replay). */
  activity?: Record<string, unknown>;
}

export interface ClickResult {
  status: number;
  body: unknown;
  /** The activity sent, to replay it. */
  activity: Record<string, unknown>;
  authorization: string;
}

export interface ConnectorCall {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

/** A message the bot posted, as the channel holds it now (every version it had, oldest first). */
export interface PostedMessage {
  readonly conversationId: string;
  readonly activityId: string;
  /** The Adaptive Card of the current version. */
  readonly card: Record<string, unknown> | undefined;
  readonly versions: ReadonlyArray<Record<string, unknown>>;
}

export interface InstallOptions {
  /** The bot removed instead of added. */
  removed?: boolean;
  tenantId?: string;
  token?: TokenOptions;
}

export interface TeamInstallation {
  /** The team's id (its General channel's conversation id). */
  teamId: string;
  /** The channel chosen at installation (default: the General channel). */
  channelId?: string;
  /** People already in the team, announced to the bot as members added after it. */
  members?: readonly Persona[];
}


const chatPage = (name: string, persona: Persona): string =>
  cardPage({
    title: `Teams, signed in as ${persona.name}`,
    intro: `<p>The bot's cards in this person's chat and in the team's channels, each as this person sees it.</p>
<p><button id="install" type="button">Add the bot (personal chat)</button></p>`,
    script: '/chat.js',
    bodyAttributes: `data-persona="${name}"`,
    maxWidth: '36rem',
  });

/** Renders each card with the Adaptive Cards JavaScript SDK; Action.Execute goes to the bot as this persona's click. */
const CHAT_SCRIPT = `'use strict';
(async function () {
  const persona = document.body.getAttribute('data-persona');
  const list = document.getElementById('cards');
  document.getElementById('install').addEventListener('click', async function () {
    await fetch('/api/chats/' + encodeURIComponent(persona) + '/install', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    window.location.reload();
  });
  const messages = await (await fetch('/api/chats/' + encodeURIComponent(persona))).json();
  for (const message of messages) {
    const section = document.createElement('section');
    section.className = 'post';
    section.setAttribute('aria-label', 'Card ' + message.activityId);
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = message.conversationId + ' \u00b7 version ' + message.version;
    section.appendChild(meta);
    const holder = document.createElement('div');
    holder.className = 'card';
    const card = new AdaptiveCards.AdaptiveCard();
    card.onExecuteAction = async function (action) {
      if (action.getJsonTypeName() !== 'Action.Execute') return;
      await fetch('/api/chats/' + encodeURIComponent(persona) + '/execute', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ verb: action.verb, data: action.data }) });
      window.location.reload();
    };
    card.parse(message.card);
    const rendered = card.render();
    if (rendered) holder.appendChild(rendered);
    section.appendChild(holder);
    list.appendChild(section);
  }
  document.body.setAttribute('data-rendered', String(messages.length));
})();
`;

export interface TeamsChannel {
  readonly url: string;
  /** The OpenID metadata URL the bot validates tokens against (BOT_OPENID_METADATA_URL). */
  readonly openIdMetadataUrl: string;
  /** The serviceUrl on every activity: this channel's Connector REST API. */
  readonly serviceUrl: string;
  signToken(options?: TokenOptions): Promise<string>;
  /** A persona clicks an Action.Execute button (`verb`) of the card about `requestId`. */
  click(botUrl: string, persona: Persona, verb: string, requestId: string, options?: ClickOptions): Promise<ClickResult>;
  /** The bot is added to a persona's personal chat (conversationUpdate, personal scope). */
  install(botUrl: string, persona: Persona, options?: InstallOptions): Promise<ClickResult>;
  /** The bot is added to a team (conversationUpdate, teamMemberAdded), then the team's members are announced. */
  installInTeam(botUrl: string, team: TeamInstallation): Promise<ClickResult[]>;
  /** Where the bot listens (its /api/messages), for the pages at /chats/{persona}. */
  connectBot(botUrl: string): void;
  /** Calls the bot made to the Connector. */
  connectorCalls(): ConnectorCall[];
  /** The messages the bot posted, with their updates. */
  messages(): PostedMessage[];
  /** The card as `persona` sees it: its own (a refresh invoke, as Teams makes) when the card lists them in `refresh.userIds`. */
  view(botUrl: string, persona: Persona, message: PostedMessage): Promise<Record<string, unknown> | undefined>;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const cardOf = (activity: Record<string, unknown>): Record<string, unknown> | undefined => {
  const attachments = activity.attachments as Array<{ contentType?: string; content?: Record<string, unknown> }> | undefined;
  return attachments?.find((a) => a.contentType === 'application/vnd.microsoft.card.adaptive')?.content;
};

export interface TeamsChannelOptions {
  port?: number;
  botAppId: string;
  /** Verify the bot's Connector tokens (`aud` https://api.botframework.com) against this issuer's key. */
  connectorTokens?: { issuer: string; jwk: JWK };
}

export async function startTeamsChannel(options: TeamsChannelOptions): Promise<TeamsChannel> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  const calls: ConnectorCall[] = [];
  /** Posted messages by `{conversationId}|{activityId}`, in the order they were posted. */
  const posted = new Map<string, { conversationId: string; activityId: string; versions: Array<Record<string, unknown>> }>();
  const conversations = new Set<string>();
  const issuerKey = options.connectorTokens ? await importJWK(options.connectorTokens.jwk, 'RS256') : undefined;
  let url = '';

  /** The Connector refuses a call without a valid token for it (401), as Azure's does. */
  const authorized = async (authorization: string | undefined): Promise<boolean> => {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token) return false;
    if (!issuerKey || !options.connectorTokens) return true;
    try {
      await jwtVerify(token, issuerKey, { issuer: options.connectorTokens.issuer, audience: CONNECTOR_AUDIENCE });
      return true;
    } catch {
      return false;
    }
  };

  const connectorCall = async (request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean> => {
    const create = path === '/v3/conversations' && request.method === 'POST';
    const activityPath = /^\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path);
    if (!create && !(activityPath && (request.method === 'POST' || request.method === 'PUT'))) return false;
    const body = (await readBody(request)) as Record<string, unknown> | undefined;
    calls.push({ method: request.method!, path, authorization: request.headers.authorization, body });
    if (!(await authorized(request.headers.authorization))) {
      send(response, 401, { error: { code: 'Unauthorized', message: 'Authorization has been denied for this request.' } });
      return true;
    }
    if (create) {
      // A 1:1 chat is one per person and bot: Teams answers the existing conversation's id.
      const members = (body?.members as Array<{ id?: string }> | undefined) ?? [];
      const member = members[0]?.id;
      if (body?.isGroup || members.length !== 1 || !member?.startsWith('29:')) {
        send(response, 400, { error: { code: 'BadArgument', message: 'Only a 1:1 conversation with one member (29:...) can be created here' } });
        return true;
      }
      const conversationId = `a:${member.slice(3)}`;
      conversations.add(conversationId);
      send(response, 201, { id: conversationId });
      return true;
    }
    const conversationId = decodeURIComponent(activityPath![1]!);
    if (!conversations.has(conversationId)) {
      send(response, 404, { error: { code: 'ConversationNotFound', message: 'Conversation not found.' } });
      return true;
    }
    if (request.method === 'POST') {
      const activityId = `1${Date.now()}${Math.floor(Math.random() * 1000)}`;
      posted.set(`${conversationId}|${activityId}`, { conversationId, activityId, versions: [body ?? {}] });
      send(response, 201, { id: activityId });
      return true;
    }
    const activityId = decodeURIComponent(activityPath![2]!);
    const message = posted.get(`${conversationId}|${activityId}`);
    if (!message) {
      send(response, 404, { error: { code: 'NotFound', message: 'Activity not found' } });
      return true;
    }
    message.versions.push(body ?? {});
    send(response, 200, { id: activityId });
    return true;
  };

  const server = createServer((request, response) => {
    void (async () => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      if (request.method === 'GET' && path === '/v1/.well-known/openidconfiguration') {
        return send(response, 200, { issuer: BOT_FRAMEWORK_ISSUER, jwks_uri: `${url}/v1/.well-known/keys`, id_token_signing_alg_values_supported: ['RS256'], token_endpoint_auth_methods_supported: ['private_key_jwt'] });
      }
      if (request.method === 'GET' && path === '/v1/.well-known/keys') return send(response, 200, { keys: [{ ...jwk, endorsements: ['msteams'] }] });
      if (await connectorCall(request, response, path)) return;
      if (await chatCall(request, response, path)) return;
      send(response, 404, { error: { code: 'NotFound', message: `No route ${request.method} ${path}` } });
    })().catch((error: unknown) => send(response, 500, { error: { code: 'ServiceError', message: String(error) } }));
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  url = `http://127.0.0.1:${port}`;
  const serviceUrl = `${url}/`;

  const signToken = async (token: TokenOptions = {}): Promise<string> => {
    const now = token.issuedAt ?? Math.floor(Date.now() / 1000);
    return new SignJWT({ serviceurl: token.serviceUrl ?? serviceUrl })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(token.issuer ?? BOT_FRAMEWORK_ISSUER)
      .setAudience(token.audience ?? options.botAppId)
      .setNotBefore(now - 5)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(token.key ?? privateKey);
  };

  const activityFor = (persona: Persona, verb: string, requestId: string, click: ClickOptions): Record<string, unknown> => {
    const tenantId = click.tenantId ?? TENANT_ID;
    return {
      type: 'invoke',
      name: 'adaptiveCard/action',
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      channelId: 'msteams',
      serviceUrl,
      from: { id: `29:${persona.oid}`, name: persona.name, aadObjectId: persona.oid },
      recipient: { id: `28:${options.botAppId}`, name: 'hsm-access-governor' },
      conversation: { id: `a:${persona.oid}`, conversationType: 'personal', tenantId },
      channelData: { tenant: { id: tenantId } },
      value: { action: { type: 'Action.Execute', verb, data: { requestId, ...(click.comment ? { comment: click.comment } : {}) } }, trigger: 'manual' },
    };
  };

  /** POSTs an activity to the bot as the Connector does (signed, unless told otherwise). */
  const post = async (botUrl: string, activity: Record<string, unknown>, authorization?: string, token?: TokenOptions): Promise<ClickResult> => {
    authorization ??= `Bearer ${await signToken(token)}`;
    const response = await fetch(botUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(activity) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body, activity, authorization };
  };

  let connectedBot: string | undefined;
  const page = (response: ServerResponse, type: string, body: string | Buffer, headers: Record<string, string> = {}): void => {
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', ...headers });
    response.end(body);
  };

  /** The pages that show each persona's Teams: `/chats/{persona}`, its cards as JSON, its clicks. */
  const chatCall = async (request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean> => {
    if (request.method === 'GET' && path === '/adaptivecards.min.js') {
      page(response, 'text/javascript; charset=utf-8', readFileSync(ADAPTIVE_CARDS_LIBRARY));
      return true;
    }
    if (request.method === 'GET' && path === '/chat.js') {
      page(response, 'text/javascript; charset=utf-8', CHAT_SCRIPT);
      return true;
    }
    const chat = /^\/(api\/)?chats\/([^/]+)(\/execute|\/install)?$/.exec(path);
    if (!chat) return false;
    const name = decodeURIComponent(chat[2]!);
    const persona = (PERSONAS as Record<string, Persona>)[name];
    if (!persona || !connectedBot) {
      send(response, 404, { error: { code: 'NotFound', message: persona ? 'No bot is connected to this channel' : `No persona '${name}'` } });
      return true;
    }
    if (!chat[1] && !chat[3] && request.method === 'GET') {
      page(response, 'text/html; charset=utf-8', chatPage(name, persona), { 'content-security-policy': CARD_PAGE_CSP });
      return true;
    }
    if (chat[1] && !chat[3] && request.method === 'GET') {
      const visible = messages().filter((m) => m.conversationId === `a:${persona.oid}` || m.conversationId.startsWith('19:'));
      const shown = [];
      for (const message of visible) shown.push({ conversationId: message.conversationId, activityId: message.activityId, version: message.versions.length, card: await view(connectedBot, persona, message) });
      send(response, 200, shown);
      return true;
    }
    if (chat[1] && chat[3] && request.method === 'POST') {
      // JSON only: a page of another site cannot post it without asking first (CORS).
      if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) {
        send(response, 415, { error: { code: 'UnsupportedMediaType', message: 'Send the click as application/json' } });
        return true;
      }
      if (chat[3] === '/install') {
        const answer = await install(connectedBot, persona);
        send(response, answer.status, answer.body ?? {});
        return true;
      }
      const body = (await readBody(request)) as { verb?: string; data?: { requestId?: string; comment?: string } } | undefined;
      if (!body?.verb || !body.data?.requestId) {
        send(response, 400, { error: { code: 'BadArgument', message: 'verb and data.requestId are required' } });
        return true;
      }
      const answer = await click(connectedBot, persona, body.verb, body.data.requestId, body.data.comment ? { comment: body.data.comment } : {});
      send(response, answer.status, answer.body);
      return true;
    }
    return false;
  };

  const click = (botUrl: string, persona: Persona, verb: string, requestId: string, options: ClickOptions = {}): Promise<ClickResult> =>
    post(botUrl, options.activity ?? activityFor(persona, verb, requestId, options), options.authorization, options.token);

  const bot = { id: `28:${options.botAppId}`, name: 'hsm-access-governor' };
  const teamsUser = (persona: Persona) => ({ id: `29:${persona.oid}`, name: persona.name, aadObjectId: persona.oid });
  const update = (conversation: Record<string, unknown>, extra: Record<string, unknown>, channelData: Record<string, unknown> = {}, tenantId = TENANT_ID): Record<string, unknown> => ({
    type: 'conversationUpdate',
    id: `f:${randomUUID()}`,
    timestamp: new Date().toISOString(),
    channelId: 'msteams',
    serviceUrl,
    recipient: bot,
    conversation: { ...conversation, tenantId },
    channelData: { ...channelData, tenant: { id: tenantId } },
    ...extra,
  });

  const view = async (botUrl: string, persona: Persona, message: PostedMessage): Promise<Record<string, unknown> | undefined> => {
    const card = message.card;
    const refresh = card?.refresh as { action?: { verb?: string; data?: { requestId?: string } }; userIds?: string[] } | undefined;
    if (!card || !refresh?.userIds?.includes(`29:${persona.oid}`) || !refresh.action?.data?.requestId) return card;
    const answer = await click(botUrl, persona, refresh.action.verb ?? 'refresh', refresh.action.data.requestId);
    const value = (answer.body as { value?: Record<string, unknown>; type?: string } | undefined);
    return value?.type === 'application/vnd.microsoft.card.adaptive' ? value.value : card;
  };

  const install = async (botUrl: string, persona: Persona, options: InstallOptions = {}): Promise<ClickResult> => {
    const conversationId = `a:${persona.oid}`;
    conversations.add(conversationId);
    const activity = update({ id: conversationId, conversationType: 'personal' }, { from: teamsUser(persona), [options.removed ? 'membersRemoved' : 'membersAdded']: [bot, teamsUser(persona)] }, {}, options.tenantId);
    return post(botUrl, activity, undefined, options.token);
  };

  const messages = (): PostedMessage[] =>
    [...posted.values()].map((m) => ({ conversationId: m.conversationId, activityId: m.activityId, card: cardOf(m.versions[m.versions.length - 1]!), versions: [...m.versions] }));

  return {
    url,
    install,
    async installInTeam(botUrl, team) {
      const channelId = team.channelId ?? team.teamId;
      conversations.add(channelId);
      conversations.add(team.teamId);
      const channelData = { team: { id: team.teamId, name: 'Contoso Security', aadGroupId: randomUUID() }, settings: { selectedChannel: { id: channelId } }, eventType: 'teamMemberAdded' };
      const conversation = { id: channelId, conversationType: 'channel', isGroup: true, name: 'Approvals' };
      const installer = team.members?.[0];
      const results = [await post(botUrl, update(conversation, { ...(installer ? { from: teamsUser(installer) } : {}), membersAdded: [bot] }, channelData))];
      for (const member of team.members ?? []) results.push(await post(botUrl, update(conversation, { from: teamsUser(member), membersAdded: [teamsUser(member)] }, channelData)));
      return results;
    },
    messages,
    view,
    connectBot(botUrl) {
      connectedBot = botUrl;
    },
    openIdMetadataUrl: `${url}/v1/.well-known/openidconfiguration`,
    serviceUrl,
    signToken,
    click,
    connectorCalls: () => [...calls],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
