/**
 * Review links and the review page's CSRF tokens. A review token is an HMAC-signed, expiring
 * reference to one request: it proves the link came from this service, and nothing more (the
 * reader must still sign in and be allowed to see or decide the request). Keys rotate with an
 * overlap: the first key signs, every listed key verifies. Pure: the time is a parameter.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const TOKEN_PURPOSE = 'hsm-access-governor/review/v1';
const CSRF_PURPOSE = 'hsm-access-governor/review-csrf/v1';
const MAX_TOKEN_LENGTH = 512;
/** A key must carry at least 256 bits (32 characters of base64url or more). */
export const MIN_REVIEW_KEY_LENGTH = 32;

export type ReviewTokenRefusal = 'malformed' | 'unknown-key' | 'bad-signature' | 'expired';

export type ReviewTokenCheck =
  | { readonly ok: true; readonly requestId: string; readonly expiresAt: Date; readonly keyId: string }
  | { readonly ok: false; readonly reason: ReviewTokenRefusal };

/** A short, public name for a key, carried in the token so that verification picks the right key. */
export function reviewKeyId(key: string): string {
  return createHash('sha256').update(`${TOKEN_PURPOSE}\n${key}`).digest('base64url').slice(0, 8);
}

function mac(key: string, purpose: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`${purpose}\n${payload}`).digest();
}

/**
 * Compares the encoded signatures, not the bytes they decode to: base64url leaves the low bits of a
 * final character unused, so several spellings decode alike, and only the one we issued is accepted.
 */
function sameSignature(expected: Buffer, presented: string): boolean {
  const a = Buffer.from(expected.toString('base64url'));
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `payload.signature`, both base64url; the payload names the request, the expiry and the key. */
export function signReviewToken(requestId: string, expiresAt: Date, keys: readonly string[]): string {
  const key = keys[0];
  if (!key) throw new Error('No review link key to sign with');
  const payload = Buffer.from(JSON.stringify({ r: requestId, e: Math.floor(expiresAt.getTime() / 1000), k: reviewKeyId(key) }), 'utf8').toString('base64url');
  return `${payload}.${mac(key, TOKEN_PURPOSE, payload).toString('base64url')}`;
}

/** Checks the signature with the key the token names (the current or a previous one) and the expiry at `now`. */
export function verifyReviewToken(token: unknown, keys: readonly string[], now: Date): ReviewTokenCheck {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]) || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return { ok: false, reason: 'malformed' };
  const [payload, signature] = parts;
  let claims: { r?: unknown; e?: unknown; k?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.r !== 'string' || typeof claims.k !== 'string' || typeof claims.e !== 'number' || !Number.isSafeInteger(claims.e)) {
    return { ok: false, reason: 'malformed' };
  }
  const key = keys.find((candidate) => reviewKeyId(candidate) === claims.k);
  if (!key) return { ok: false, reason: 'unknown-key' };
  if (!sameSignature(mac(key, TOKEN_PURPOSE, payload), signature)) return { ok: false, reason: 'bad-signature' };
  const expiresAt = new Date(claims.e * 1000);
  if (now.getTime() >= expiresAt.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, requestId: claims.r, expiresAt, keyId: claims.k };
}

function csrfMessage(principalId: string, requestId: string, nonce: string): string {
  return `${principalId.toLowerCase()}\n${requestId.toLowerCase()}\n${nonce}`;
}

/**
 * The review form's CSRF token: binds the signed-in principal, the request and the browser's
 * own random cookie (`nonce`). A page posted from elsewhere has neither the cookie nor the token.
 */
export function signCsrfToken(principalId: string, requestId: string, nonce: string, keys: readonly string[]): string {
  const key = keys[0];
  if (!key) throw new Error('No review link key to sign with');
  return mac(key, CSRF_PURPOSE, csrfMessage(principalId, requestId, nonce)).toString('base64url');
}

export function verifyCsrfToken(token: unknown, principalId: string, requestId: string, nonce: unknown, keys: readonly string[]): boolean {
  if (typeof token !== 'string' || typeof nonce !== 'string' || nonce.length < 16 || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return false;
  return keys.some((key) => sameSignature(mac(key, CSRF_PURPOSE, csrfMessage(principalId, requestId, nonce)), token));
}
