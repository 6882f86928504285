import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { tokenPrincipal } from '../emulator-common/auth';
import type { TokenVerifier } from '../idp/verify';

/**
 * Publisher authentication as an Event Grid topic does it: a Microsoft Entra bearer token, or, where
 * the topic allows local authentication, the access key in `aeg-sas-key` (header or query
 * parameter) or a shared access signature `r=...&e=...&s=...` in `aeg-sas-token` or
 * `Authorization: SharedAccessSignature ...`, signed with HMAC-SHA256 under the base64-decoded key.
 */

export type AuthOutcome = { ok: true } | { ok: false; message: string };

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

const SAS_EXPIRY = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$/i;

/** The SAS expiry is .NET's en-US `M/d/yyyy h:mm:ss tt`, in UTC. */
export function parseSasExpiry(text: string): Date | undefined {
  const match = SAS_EXPIRY.exec(text.trim());
  if (!match) return undefined;
  const [, month, day, year, hour12, minute, second, meridiem] = match;
  const hour = (Number(hour12) % 12) + (meridiem.toUpperCase() === 'PM' ? 12 : 0);
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day), hour, Number(minute), Number(second)));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function normalisedPath(resource: string): string | undefined {
  try {
    return new URL(resource).pathname.replace(/\/+$/, '').toLowerCase();
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

export function verifySharedAccessSignature(token: string, accessKey: string, topicPath: string, now: Date = new Date()): AuthOutcome {
  const signatureAt = token.lastIndexOf('&s=');
  if (signatureAt < 0) return { ok: false, message: 'The shared access signature has no s= part' };
  const unsigned = token.slice(0, signatureAt);
  const fields = new URLSearchParams(unsigned);
  const resource = fields.get('r');
  const expiry = fields.get('e');
  // Decoded by hand: URLSearchParams would turn a literal '+' of base64 into a space.
  const signature = safeDecode(token.slice(signatureAt + 3));
  if (!resource || !expiry || !signature) return { ok: false, message: 'The shared access signature must have the form r={resource}&e={expiry}&s={signature}' };
  const expected = createHmac('sha256', Buffer.from(accessKey, 'base64')).update(unsigned).digest('base64');
  if (!sameSecret(signature, expected)) return { ok: false, message: 'The shared access signature is not signed with this topic\'s access key' };
  const expiresOn = parseSasExpiry(expiry);
  if (!expiresOn) return { ok: false, message: `The shared access signature expiry '${expiry}' is not in the form M/d/yyyy h:mm:ss AM|PM` };
  if (expiresOn.getTime() <= now.getTime()) return { ok: false, message: `The shared access signature expired at ${expiresOn.toISOString()}` };
  if (normalisedPath(resource) !== topicPath.toLowerCase()) return { ok: false, message: `The shared access signature is for '${resource}', not for this topic's ${topicPath}` };
  return { ok: true };
}

/** Decides whether a publish request carries this topic's key or a valid signature made with it (bearer tokens are checked by authenticateBearer). */
export function authenticatePublisher(headers: IncomingHttpHeaders, query: URLSearchParams, accessKey: string, topicPath: string, now: Date = new Date()): AuthOutcome {
  const key = header(headers, 'aeg-sas-key') ?? query.get('aeg-sas-key') ?? undefined;
  if (key !== undefined) {
    return sameSecret(key, accessKey) ? { ok: true } : { ok: false, message: 'The aeg-sas-key is not a valid access key for this topic' };
  }
  const authorization = header(headers, 'authorization');
  const sasPrefix = 'sharedaccesssignature ';
  const token = header(headers, 'aeg-sas-token')
    ?? (authorization?.toLowerCase().startsWith(sasPrefix) ? authorization.slice(sasPrefix.length).trim() : undefined);
  if (token !== undefined) return verifySharedAccessSignature(token, accessKey, topicPath, now);
  return { ok: false, message: 'The request carries no credentials: send a Microsoft Entra token (Authorization: Bearer), the access key in aeg-sas-key or a shared access signature in aeg-sas-token' };
}

/** The resource Event Grid tokens are issued for (`https://eventgrid.azure.net/.default`). */
export const EVENTGRID_AUDIENCES = ['https://eventgrid.azure.net', 'https://eventgrid.azure.net/'];

/** How a topic takes Microsoft Entra tokens: whose tokens, and who holds "EventGrid Data Sender" on it. */
export interface EntraPublishing {
  verify: TokenVerifier;
  /** Object ids (users, service principals, groups) that may send; none given means any valid token. */
  dataSenders?: readonly string[];
}

/**
 * A bearer token as Event Grid checks it: signed by the tenant's issuer for the Event Grid audience
 * and not expired (as the HSM emulator checks its tokens), and its principal, or one of its groups,
 * a data sender of the topic.
 */
export async function authenticateBearer(token: string, entra: EntraPublishing | undefined): Promise<AuthOutcome> {
  if (!entra) return { ok: false, message: 'This topic takes no Microsoft Entra tokens; use the access key (aeg-sas-key) or a shared access signature (aeg-sas-token)' };
  let principal: ReturnType<typeof tokenPrincipal>;
  try {
    principal = tokenPrincipal(await entra.verify(token));
  } catch (error) {
    return { ok: false, message: `The bearer token is not valid for ${EVENTGRID_AUDIENCES[0]}: ${(error as Error).message}` };
  }
  if (!principal) return { ok: false, message: 'The bearer token names no principal (oid)' };
  const senders = entra.dataSenders?.map((id) => id.toLowerCase());
  if (senders && !principal.principalIds.some((id) => senders.includes(id.toLowerCase()))) {
    return { ok: false, message: `The principal '${principal.objectId}' has no "EventGrid Data Sender" role on this topic` };
  }
  return { ok: true };
}
