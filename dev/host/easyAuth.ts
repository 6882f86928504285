import { createHmac, timingSafeEqual } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { PERSONAS, persona, TENANT_ID } from '../personas';
import { ISSUER } from '../idp/server';
import type { TokenVerifier } from '../idp/verify';

/**
 * App Service Authentication ("Easy Auth") as the local host plays it. The platform, not the app,
 * authenticates the caller and hands the app `x-ms-client-principal*` headers; anything a client
 * sends under those names is dropped first.
 */

export const SESSION_COOKIE = 'AppServiceAuthSession';
const SESSION_LIFETIME_SECONDS = 8 * 3600;

export const CLAIM_TYPES = {
  objectId: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tenantId: 'http://schemas.microsoft.com/identity/claims/tenantid',
  nameIdentifier: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
  scope: 'http://schemas.microsoft.com/identity/claims/scope',
} as const;

/** JWT claim names Easy Auth renames (the .NET inbound claim map); others keep their JWT name. */
const RENAMED_CLAIMS: Record<string, string> = {
  oid: CLAIM_TYPES.objectId,
  tid: CLAIM_TYPES.tenantId,
  sub: CLAIM_TYPES.nameIdentifier,
  upn: CLAIM_TYPES.upn,
  unique_name: CLAIM_TYPES.name,
  roles: CLAIM_TYPES.role,
  scp: CLAIM_TYPES.scope,
};

export interface ClientClaim {
  typ: string;
  val: string;
}

export interface ClientPrincipal {
  auth_typ: 'aad';
  claims: ClientClaim[];
  name_typ: string;
  role_typ: string;
}

export interface AuthenticatedCaller {
  principal: ClientPrincipal;
  principalId: string;
  principalName: string;
  /** When the credential (token or session) stops being valid, seconds since the epoch. */
  expiresOn: number | undefined;
  via: 'bearer' | 'session';
  accessToken?: string;
}

export type IncomingHeaders = Record<string, string | string[] | undefined>;

export function isPlatformHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith('x-ms-client-principal') || lower.startsWith('x-ms-token-');
}

export function claimsFromPayload(payload: JWTPayload): ClientClaim[] {
  const claims: ClientClaim[] = [];
  for (const [key, value] of Object.entries(payload)) {
    if (value === undefined || value === null) continue;
    const typ = RENAMED_CLAIMS[key] ?? key;
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const item of values) {
      claims.push({ typ, val: typeof item === 'string' ? item : typeof item === 'object' ? JSON.stringify(item) : String(item) });
    }
  }
  if (!claims.some((c) => c.typ === CLAIM_TYPES.name)) {
    const upn = payload.preferred_username ?? payload.upn;
    if (typeof upn === 'string') claims.push({ typ: CLAIM_TYPES.name, val: upn });
  }
  return claims;
}

export function callerFromPayload(payload: JWTPayload, via: AuthenticatedCaller['via'], accessToken?: string): AuthenticatedCaller | undefined {
  const oid = typeof payload.oid === 'string' ? payload.oid : undefined;
  if (!oid) return undefined;
  const claims = claimsFromPayload(payload);
  const name = claims.find((c) => c.typ === CLAIM_TYPES.name)?.val ?? oid;
  return {
    principal: { auth_typ: 'aad', claims, name_typ: CLAIM_TYPES.name, role_typ: CLAIM_TYPES.role },
    principalId: oid,
    principalName: name,
    expiresOn: typeof payload.exp === 'number' ? payload.exp : undefined,
    via,
    ...(accessToken ? { accessToken } : {}),
  };
}

/** The headers App Service adds for an authenticated caller. */
export function principalHeaders(caller: AuthenticatedCaller): Record<string, string> {
  return {
    'x-ms-client-principal': Buffer.from(JSON.stringify(caller.principal), 'utf8').toString('base64'),
    'x-ms-client-principal-id': caller.principalId,
    'x-ms-client-principal-name': caller.principalName,
    'x-ms-client-principal-idp': 'aad',
  };
}

/** The claims a token of the dev identity provider would carry for this persona. */
export function personaPayload(personaName: string, expiresOn: number): JWTPayload {
  const who = persona(personaName);
  return {
    iss: ISSUER,
    tid: TENANT_ID,
    oid: who.oid,
    sub: who.oid,
    name: who.name,
    preferred_username: who.upn,
    groups: [...who.groups],
    idtyp: who.type === 'User' ? 'user' : 'app',
    exp: expiresOn,
  };
}

// ---- dev sign-in session cookie ----

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function createSessionCookieValue(secret: string, personaName: string, now = Date.now()): string {
  persona(personaName);
  const payload = Buffer.from(JSON.stringify({ p: personaName, exp: Math.floor(now / 1000) + SESSION_LIFETIME_SECONDS }), 'utf8').toString('base64url');
  return `${payload}.${sign(secret, payload)}`;
}

export function readSessionCookieValue(secret: string, value: string, now = Date.now()): { personaName: string; expiresOn: number } | undefined {
  const [payload, signature, extra] = value.split('.');
  if (!payload || !signature || extra !== undefined) return undefined;
  const expected = Buffer.from(sign(secret, payload));
  const actual = Buffer.from(signature);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  try {
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { p?: unknown; exp?: unknown };
    if (typeof decoded.p !== 'string' || typeof decoded.exp !== 'number') return undefined;
    if (decoded.exp * 1000 <= now || !(decoded.p in PERSONAS)) return undefined;
    return { personaName: decoded.p, expiresOn: decoded.exp };
  } catch {
    return undefined;
  }
}

export function sessionCookieHeader(value: string, maxAgeSeconds = SESSION_LIFETIME_SECONDS): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
}

export function clearedSessionCookieHeader(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
}

export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return undefined;
  for (const part of text.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

function bearerToken(header: string | string[] | undefined): string | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  const match = text ? /^Bearer\s+(\S+)\s*$/i.exec(text) : null;
  return match ? match[1] : undefined;
}

/**
 * Who is calling: a bearer token, when one is sent, decides alone (an invalid one leaves the
 * request anonymous, as Easy Auth does with "allow unauthenticated requests"); otherwise the dev
 * sign-in session cookie.
 */
export async function authenticate(headers: IncomingHeaders, options: { verifier?: TokenVerifier; sessionSecret: string }): Promise<AuthenticatedCaller | undefined> {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const token = bearerToken(authorization);
    if (!token || !options.verifier) return undefined;
    try {
      const payload = await options.verifier(token);
      return callerFromPayload(payload, 'bearer', token);
    } catch {
      return undefined;
    }
  }
  const cookie = cookieValue(headers.cookie, SESSION_COOKIE);
  const session = cookie ? readSessionCookieValue(options.sessionSecret, cookie) : undefined;
  if (!session) return undefined;
  return callerFromPayload(personaPayload(session.personaName, session.expiresOn), 'session');
}

/** Only same-site paths: `/x`, never `//host`, `/\host` or an absolute URL. */
export function safeRedirectPath(candidate: string | null | undefined, fallback = '/'): string {
  if (!candidate) return fallback;
  if (!candidate.startsWith('/') || candidate.startsWith('//') || candidate.startsWith('/\\')) return fallback;
  if ([...candidate].some((ch) => ch === '\\' || ch.charCodeAt(0) < 0x20)) return fallback;
  try {
    const resolved = new URL(candidate, 'http://local.invalid');
    if (resolved.host !== 'local.invalid') return fallback;
    return `${resolved.pathname}${resolved.search}${resolved.hash}`;
  } catch {
    return fallback;
  }
}
