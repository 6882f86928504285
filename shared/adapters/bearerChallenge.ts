/**
 * The 401 challenge (RFC 6750) for a request that reached the app without a caller. App Service
 * Authentication, when it lets unauthenticated requests through, passes a request whose bearer
 * token it did not accept on without a principal and with its `Authorization` header as sent; it
 * says nothing about why. The app then reads the token's claims, without believing any of them (it
 * never authenticates anyone from them), only to tell the client what to fix: expired, not yet
 * valid, another audience, an issuer that is not Microsoft Entra ID, or else a signature or tenant
 * the platform did not accept.
 */

export interface BearerChallenge {
  /** The problem's stable code: `unauthenticated` (no token) or `invalid-token`. */
  readonly code: 'unauthenticated' | 'invalid-token';
  readonly detail: string;
  /** The `WWW-Authenticate` header value. */
  readonly header: string;
}

const ENTRA_ISSUER = /^https:\/\/(?:sts\.windows\.net\/[0-9a-f-]{36}\/|login\.microsoftonline\.com\/[0-9a-f-]{36}\/v2\.0)$/i;

/** A header parameter value: quoted, with what RFC 6750 forbids in it (`"` and `\`) left out. */
const quoted = (text: string): string => `"${text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?')}"`;

function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const seconds = (value: unknown): Date | undefined => (typeof value === 'number' && Number.isFinite(value) ? new Date(value * 1000) : undefined);

/** Why App Service Authentication did not accept the token, as far as its claims tell. */
function whyRejected(token: string, audience: string, now: Date): string {
  const claims = unverifiedClaims(token);
  if (!claims) return 'the bearer token is not a JSON Web Token';
  const expires = seconds(claims.exp);
  if (expires && expires.getTime() <= now.getTime()) return `the token expired at ${expires.toISOString()}; get a new one`;
  const notBefore = seconds(claims.nbf);
  if (notBefore && notBefore.getTime() > now.getTime()) return `the token is not valid before ${notBefore.toISOString()}`;
  const audiences = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter((a): a is string => typeof a === 'string');
  if (!audiences.includes(audience)) {
    return `the token is for audience ${audiences.length ? audiences.map((a) => `'${a}'`).join(', ') : '(none)'}, but this API expects '${audience}': ask for scope ${audience}/.default`;
  }
  if (typeof claims.iss !== 'string' || !ENTRA_ISSUER.test(claims.iss)) return `the token's issuer '${String(claims.iss ?? '')}' is not Microsoft Entra ID`;
  const tenant = typeof claims.tid === 'string' ? ` (tenant ${claims.tid})` : '';
  return `the token was not accepted: its signature does not verify, or its issuer ${claims.iss}${tenant} is not this service's tenant`;
}

function bearerToken(authorization: string | null): string | undefined {
  const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  return match ? match[1] : undefined;
}

export function bearerChallenge(authorization: string | null, audience: string, now: Date): BearerChallenge {
  const hint = `realm=${quoted(audience)}, scope=${quoted(`${audience}/.default`)}`;
  if (authorization === null) {
    return { code: 'unauthenticated', header: `Bearer ${hint}`, detail: `Sign in, or send a bearer token for audience ${audience} (scope ${audience}/.default)` };
  }
  const token = bearerToken(authorization);
  const reason = token ? whyRejected(token, audience, now) : "the Authorization header is not 'Bearer <token>'";
  return {
    code: 'invalid-token',
    header: `Bearer ${hint}, error="invalid_token", error_description=${quoted(reason)}`,
    detail: `The bearer token was refused: ${reason}`,
  };
}
