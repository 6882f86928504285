import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, JWK, KeyLike, SignJWT } from 'jose';
import { PERSONAS, persona, SERVICE_PERSONA, TENANT_ID } from '../personas';
import { listenOnLoopback } from '../emulator-common/server';

/**
 * Local stand-in for Entra ID: signs RS256 access tokens for the Contoso personas, publishes its
 * JWKS, and serves the App Service managed-identity endpoint so that the function app's own
 * ManagedIdentityCredential works unchanged on the local stack.
 */
export interface IdentityProviderOptions {
  port?: number;
  /** Where the signing key is kept so tokens stay valid across restarts. */
  dataDir?: string;
  /** Secret the managed-identity endpoint expects in X-IDENTITY-HEADER. */
  identityHeader?: string;
  tokenLifetimeSeconds?: number;
}

/**
 * How Entra marks a token whose `groups` claim would be too long (the groups overage): past 200
 * groups in a JWT, `_claim_names`/`_claim_sources` in place of `groups`; in the implicit flow past
 * 5 groups, `hasgroups: true`. The persona's groups are then only in the directory (the local Graph).
 */
export type GroupOverageForm = 'distributed-claim' | 'hasgroups';
export const GROUP_OVERAGE_FORMS: readonly GroupOverageForm[] = ['distributed-claim', 'hasgroups'];

/** The claims that stand for the groups in an overage token, as Entra writes them. */
export function overageClaims(form: GroupOverageForm, objectId: string): Record<string, unknown> {
  if (form === 'hasgroups') return { hasgroups: true };
  // Entra still names the retired Azure AD Graph here; apps are to ask Microsoft Graph instead.
  return { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: `https://graph.windows.net/${TENANT_ID}/users/${objectId}/getMemberObjects` } } };
}

export interface TokenRequest {
  audience: string;
  lifetimeSeconds?: number;
  /** Leave the groups out of the token as Entra does in an overage (default: every group in `groups`). */
  groupOverage?: GroupOverageForm;
  /** Extra or overriding claims (tests use this to forge bad tokens). */
  claims?: Record<string, unknown>;
}

export interface IdentityProvider {
  readonly url: string;
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly tenantId: string;
  /** For IDENTITY_ENDPOINT / IDENTITY_HEADER of the function app. */
  readonly managedIdentityEndpoint: string;
  readonly identityHeader: string;
  readonly publicJwk: JWK;
  issueToken(personaName: string, request: TokenRequest): Promise<string>;
  close(): Promise<void>;
}

export const ISSUER = `https://sts.windows.net/${TENANT_ID}/`;

/** `https://managedhsm.azure.net/.default` and `https://managedhsm.azure.net` name the same audience. */
export function audienceFromScope(scopeOrResource: string): string {
  return scopeOrResource.replace(/\/\.default$/, '').replace(/\/$/, '');
}

async function loadOrCreateKey(dataDir: string | undefined): Promise<{ privateKey: KeyLike; publicJwk: JWK }> {
  const file = dataDir ? join(dataDir, 'idp-signing-key.json') : undefined;
  if (file && existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { privateJwk: JWK; publicJwk: JWK };
    return { privateKey: (await importJWK(stored.privateJwk, 'RS256')) as KeyLike, publicJwk: stored.publicJwk };
  }
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  if (file && dataDir) {
    mkdirSync(dataDir, { recursive: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256' };
    writeFileSync(file, JSON.stringify({ privateJwk, publicJwk }), { mode: 0o600 });
  }
  return { privateKey, publicJwk };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  return JSON.parse(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startIdentityProvider(options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  const { privateKey, publicJwk } = await loadOrCreateKey(options.dataDir);
  const identityHeader = options.identityHeader ?? randomUUID();
  const defaultLifetime = options.tokenLifetimeSeconds ?? 3600;

  async function issueToken(personaName: string, request: TokenRequest): Promise<string> {
    const who = persona(personaName);
    const audience = audienceFromScope(request.audience);
    const now = Math.floor(Date.now() / 1000);
    const lifetime = request.lifetimeSeconds ?? defaultLifetime;
    const claims: Record<string, unknown> = {
      tid: TENANT_ID,
      oid: who.oid,
      name: who.name,
      preferred_username: who.upn,
      ...(request.groupOverage ? overageClaims(request.groupOverage, who.oid) : { groups: [...who.groups] }),
      idtyp: who.type === 'User' ? 'user' : 'app',
      ...(who.type === 'ServicePrincipal' ? { appid: who.oid } : {}),
      ...request.claims,
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: publicJwk.kid as string })
      .setIssuer(ISSUER)
      .setSubject(who.oid)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 60)
      .setExpirationTime(now + lifetime)
      .setJti(randomUUID())
      .sign(privateKey);
  }

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => send(res, 400, { error: 'invalid_request', error_description: String(error) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://idp.local');
    const path = url.pathname;
    if (req.method === 'GET' && (path.endsWith('/discovery/v2.0/keys') || path === '/keys')) {
      return send(res, 200, { keys: [publicJwk] });
    }
    if (req.method === 'GET' && path.endsWith('/.well-known/openid-configuration')) {
      return send(res, 200, { issuer: ISSUER, jwks_uri: `${base()}/${TENANT_ID}/discovery/v2.0/keys`, token_endpoint: `${base()}/token` });
    }
    if (req.method === 'GET' && path === '/personas') {
      return send(res, 200, Object.entries(PERSONAS).map(([alias, p]) => ({ alias, ...p })));
    }
    if (req.method === 'POST' && path === '/token') {
      // Development-only: hands out a token for any persona. Never part of the deployed app.
      const body = (await readJson(req)) as { persona?: string; audience?: string; scope?: string; lifetimeSeconds?: number; groupOverage?: unknown };
      if (!body.persona || !(body.audience || body.scope)) return send(res, 400, { error: 'invalid_request', error_description: 'persona and audience (or scope) are required' });
      if (body.groupOverage !== undefined && !GROUP_OVERAGE_FORMS.includes(body.groupOverage as GroupOverageForm)) {
        return send(res, 400, { error: 'invalid_request', error_description: `groupOverage must be one of ${GROUP_OVERAGE_FORMS.join(', ')}` });
      }
      const lifetime = body.lifetimeSeconds ?? defaultLifetime;
      const token = await issueToken(body.persona, {
        audience: (body.audience ?? body.scope) as string, lifetimeSeconds: lifetime, ...(body.groupOverage ? { groupOverage: body.groupOverage as GroupOverageForm } : {}),
      });
      return send(res, 200, { token_type: 'Bearer', access_token: token, expires_in: lifetime, expires_on: Math.floor(Date.now() / 1000) + lifetime });
    }
    if (req.method === 'GET' && path === '/msi/token') {
      // App Service managed identity protocol (api-version 2019-08-01).
      if (req.headers['x-identity-header'] !== identityHeader) return send(res, 401, { error: 'unauthorized', error_description: 'X-IDENTITY-HEADER missing or wrong' });
      const resource = url.searchParams.get('resource');
      if (!resource) return send(res, 400, { error: 'invalid_request', error_description: 'resource is required' });
      const token = await issueToken(SERVICE_PERSONA, { audience: resource });
      const expiresOn = Math.floor(Date.now() / 1000) + defaultLifetime;
      return send(res, 200, { access_token: token, expires_on: String(expiresOn), resource, token_type: 'Bearer', client_id: persona(SERVICE_PERSONA).oid });
    }
    send(res, 404, { error: 'not_found' });
  }

  const port = await listenOnLoopback(server, options.port);
  const base = (): string => `http://127.0.0.1:${port}`;

  return {
    url: base(),
    issuer: ISSUER,
    jwksUrl: `${base()}/${TENANT_ID}/discovery/v2.0/keys`,
    tenantId: TENANT_ID,
    managedIdentityEndpoint: `${base()}/msi/token`,
    identityHeader,
    publicJwk,
    issueToken,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
