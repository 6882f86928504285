import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { listenOnLoopback } from '../emulator-common/server';
import { TENANT_ID, type Persona } from '../personas';

/**
 * The local Bot Framework channel for Microsoft Teams. Like the Bot Connector it publishes OpenID
 * metadata (`/v1/.well-known/openidconfiguration`) whose `jwks_uri` lists its signing keys, each
 * endorsed for `msteams`; it signs every activity it sends the bot with a JWT (`iss`
 * https://api.botframework.com, `aud` the bot's app id, `serviceurl` the activity's serviceUrl,
 * `nbf`/`exp`); and it takes the bot's replies on the Connector REST paths
 * (`POST /v3/conversations/{id}/activities`, `PUT /v3/conversations/{id}/activities/{activityId}`).
 * `click()` sends an `adaptiveCard/action` invoke as a persona clicks a button.
 */

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

export interface TeamsChannel {
  readonly url: string;
  /** The OpenID metadata URL the bot validates tokens against (BOT_OPENID_METADATA_URL). */
  readonly openIdMetadataUrl: string;
  /** The serviceUrl on every activity: this channel's Connector REST API. */
  readonly serviceUrl: string;
  signToken(options?: TokenOptions): Promise<string>;
  /** A persona clicks an Action.Execute button (`verb`) of the card about `requestId`. */
  click(botUrl: string, persona: Persona, verb: string, requestId: string, options?: ClickOptions): Promise<ClickResult>;
  /** Calls the bot made to the Connector. */
  connectorCalls(): ConnectorCall[];
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

export async function startTeamsChannel(options: { port?: number; botAppId: string }): Promise<TeamsChannel> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  const calls: ConnectorCall[] = [];
  let url = '';

  const server = createServer((request, response) => {
    void (async () => {
      const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
      if (request.method === 'GET' && path === '/v1/.well-known/openidconfiguration') {
        return send(response, 200, { issuer: BOT_FRAMEWORK_ISSUER, jwks_uri: `${url}/v1/.well-known/keys`, id_token_signing_alg_values_supported: ['RS256'], token_endpoint_auth_methods_supported: ['private_key_jwt'] });
      }
      if (request.method === 'GET' && path === '/v1/.well-known/keys') return send(response, 200, { keys: [{ ...jwk, endorsements: ['msteams'] }] });
      const activityPath = /^\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path);
      if (activityPath && (request.method === 'POST' || request.method === 'PUT')) {
        calls.push({ method: request.method, path, authorization: request.headers.authorization, body: await readBody(request) });
        return send(response, request.method === 'POST' ? 201 : 200, { id: activityPath[2] ?? randomUUID() });
      }
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

  return {
    url,
    openIdMetadataUrl: `${url}/v1/.well-known/openidconfiguration`,
    serviceUrl,
    signToken,
    async click(botUrl, persona, verb, requestId, click = {}) {
      const activity = click.activity ?? activityFor(persona, verb, requestId, click);
      const authorization = click.authorization ?? `Bearer ${await signToken(click.token)}`;
      const response = await fetch(botUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(activity) });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      return { status: response.status, body, activity, authorization };
    },
    connectorCalls: () => [...calls],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
