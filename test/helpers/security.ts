/** What the security suite (test/security) shares: the stack's state before and after an attack, raw requests, sessions, forged tokens. */
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import { importJWK, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';
import { PERSONAS, TENANT_ID } from '../../dev/personas';
import { ISSUER } from '../../dev/idp/server';
import { sleep } from './poll';
import { HSM as HSM_RESOURCE } from './managementPlane';
import { AUDIENCES, type TestStack } from './stack';

export const APP_VM = PERSONAS['app-vm'].oid;
/** A submission dave and dana may make (release-signing: for app-vm, approved by the security team). */
export const RELEASE_REQUEST = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release window' } as const;
/** A submission sam, sara and sean may make for themselves (security-crypto-user: any one key). */
export const SELF_KEY_REQUEST = { role: 'Crypto User', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'maintenance' } as const;
/**
 * A submission dave and dana may make for themselves (devops-hsm-contributor, on the management plane): a
 * second open request beside RELEASE_REQUEST, since one access is held by one open request at a time.
 */
export const CHANGE_REQUEST = { role: 'Managed HSM Contributor', scope: HSM_RESOURCE, duration: 'PT1H', ticket: 'CHG-1001', justification: 'change window' } as const;

/**
 * Everything an attack could change: every entity of every table of the app's storage (by its
 * ETag, so that any write shows), and the role assignments on the HSM and in Azure RBAC.
 */
export interface StackState {
  tables: Record<string, string[]>;
  hsmAssignments: string[];
  armAssignments: string[];
}

async function tableRows(stack: TestStack): Promise<Record<string, string[]>> {
  const connection = stack.stack.endpoints.storageConnectionString;
  const service = TableServiceClient.fromConnectionString(connection, stack.stack.azurite.clientOptions);
  const rows: Record<string, string[]> = {};
  for await (const table of service.listTables()) {
    const name = table.name as string;
    const client = TableClient.fromConnectionString(connection, name, stack.stack.azurite.clientOptions);
    const entities: string[] = [];
    for await (const entity of client.listEntities()) entities.push(`${entity.partitionKey}|${entity.rowKey}|${entity.etag}`);
    rows[name] = entities.sort();
  }
  return rows;
}

export async function stateOf(stack: TestStack): Promise<StackState> {
  const describe = (items: readonly unknown[]): string[] => items.map((item) => JSON.stringify(item)).sort();
  return {
    tables: await tableRows(stack),
    hsmAssignments: describe(stack.stack.hsm.assignments()),
    armAssignments: describe(stack.stack.arm.assignments()),
  };
}

/**
 * The state once the work that follows a change (notifications, the outbox's publishing) is done:
 * read until two reads a moment apart agree.
 */
export async function settledState(stack: TestStack, { timeoutMs = 15_000 } = {}): Promise<StackState> {
  const deadline = Date.now() + timeoutMs;
  let previous = await stateOf(stack);
  for (;;) {
    await sleep(400);
    const current = await stateOf(stack);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    if (Date.now() > deadline) throw new Error('The stack did not settle: its storage kept changing');
    previous = current;
  }
}

export interface Problem {
  status: number;
  contentType: string | null;
  code: string | undefined;
}

/** Status, content type and problem `code` of a response (code undefined when the body is not problem JSON). */
export async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), code };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request over node:http, which fetch cannot make: the same header twice (array values), header
 * names fetch refuses, bytes that are not UTF-8.
 */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {}): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method ?? 'GET', headers: options.headers ?? {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** The dev sign-in session cookie (`name=value`) of a persona, as a browser gets it from /.auth/login/dev. */
export async function sessionCookie(stack: TestStack, persona: string): Promise<string> {
  const response = await fetch(`${stack.stack.endpoints.api}/.auth/login/dev`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.stack.endpoints.api },
    body: new URLSearchParams({ persona, post_login_redirect_uri: '/' }).toString(),
  });
  const cookie = response.headers.getSetCookie().find((c) => c.startsWith('AppServiceAuthSession='));
  if (!cookie) throw new Error(`No session cookie for ${persona} (sign-in answered ${response.status})`);
  return cookie.split(';')[0] as string;
}

/** Submits as a persona with a bearer token (application/json, as every unsafe API call must be); returns the new request's id. */
export async function submitted(stack: TestStack, persona: string, body: Record<string, unknown> = RELEASE_REQUEST): Promise<string> {
  const response = await stack.api('/api/requests', { persona, method: 'POST', body, headers: { 'content-type': 'application/json' } });
  if (response.status !== 201) throw new Error(`Submission as ${persona} answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/** The review link of the approvers' email about a request, as the mail sink received it. */
export async function reviewLink(stack: TestStack, id: string, { timeoutMs = 10_000 } = {}): Promise<string> {
  const pattern = new RegExp(`https?://[^\\s"<>]+/api/review/${id}\\?t=[A-Za-z0-9_.%-]+`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const message of stack.stack.mailSink.messages()) {
      const match = pattern.exec(message.text ?? '');
      if (match) return match[0];
    }
    if (Date.now() > deadline) throw new Error(`No review link for request ${id} in the mail sink`);
    await sleep(100);
  }
}

/**
 * Tokens signed with the dev identity provider's own key (kept in the stack's data directory), with
 * any claim or header changed: each forged token differs from a valid one in one respect only.
 */
export interface TokenForge {
  /** The claims a valid API token of the persona carries. */
  claims(persona: string): JWTPayload;
  sign(payload: JWTPayload, header?: Record<string, unknown>): Promise<string>;
  readonly publicJwk: JWK;
}

export async function tokenForge(stack: TestStack): Promise<TokenForge> {
  const stored = JSON.parse(readFileSync(join(stack.stack.dataDir, 'idp-signing-key.json'), 'utf8')) as { privateJwk: JWK; publicJwk: JWK };
  const privateKey = (await importJWK(stored.privateJwk, 'RS256')) as KeyLike;
  return {
    publicJwk: stored.publicJwk,
    claims: (persona) => {
      const who = PERSONAS[persona as keyof typeof PERSONAS];
      const now = Math.floor(Date.now() / 1000);
      return {
        iss: ISSUER, aud: AUDIENCES.api, sub: who.oid, oid: who.oid, tid: TENANT_ID, name: who.name, preferred_username: who.upn,
        groups: [...who.groups], idtyp: who.type === 'User' ? 'user' : 'app', iat: now, nbf: now - 60, exp: now + 3600,
      };
    },
    sign: (payload, header = {}) => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: stored.publicJwk.kid as string, ...header }).sign(privateKey),
  };
}

/** What a reader's browser holds after opening a review page: the CSRF cookie it was given (or kept) and the form's hidden fields. */
export interface OpenedReviewPage {
  html: string;
  csrfCookie: string;
  csrf: string;
  version: string;
}

/** Opens a review link as a browser with these cookies (`name=value; ...`) would. */
export async function openReviewPage(link: string, cookies: string): Promise<OpenedReviewPage> {
  const response = await fetch(link, { headers: { cookie: cookies } });
  if (response.status !== 200) throw new Error(`The review page answered ${response.status}`);
  const html = await response.text();
  const field = (name: string): string => {
    const match = new RegExp(`name="${name}" value="([^"]+)"`).exec(html);
    if (!match) throw new Error(`The review page has no ${name} field`);
    return match[1] as string;
  };
  const issued = response.headers.getSetCookie().map((c) => c.split(';')[0] as string).find((c) => !c.startsWith('AppServiceAuthSession='));
  const kept = issued ?? cookies.split(';').map((c) => c.trim()).find((c) => c !== '' && !c.startsWith('AppServiceAuthSession='));
  if (!kept) throw new Error('The review page set no CSRF cookie');
  return { html, csrfCookie: kept, csrf: field('csrf'), version: field('version') };
}
