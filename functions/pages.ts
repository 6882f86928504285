/**
 * What every HTML page of the portal answers with: a strict CSP with the nonce of the page's one
 * script, never cached or framed, no referrer to other sites; and the browser's CSRF cookie.
 */
import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { CSRF_COOKIE, CSRF_COOKIE_MAX_AGE_SECONDS } from '../shared/services/csrf';

export const MAX_FORM_BYTES = 8 * 1024;

/** A fresh nonce for the page's one script. */
export function scriptNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function pageHeaders(nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'same-origin',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'x-robots-tag': 'noindex, nofollow',
  };
}

/** An HTML answer, setting the CSRF cookie (at `path`) when the page made a new one. */
export function htmlPage(request: HttpRequest, status: number, body: string, nonce: string, setCookie?: string, path = '/', extra: Record<string, string> = {}): HttpResponseInit {
  const secure = new URL(request.url).protocol === 'https:';
  return {
    status, body, headers: { ...pageHeaders(nonce), ...extra },
    ...(setCookie ? { cookies: [{ name: CSRF_COOKIE, value: setCookie, path, httpOnly: true, sameSite: 'Lax' as const, maxAge: CSRF_COOKIE_MAX_AGE_SECONDS, secure }] } : {}),
  };
}

/** A form body, or why it is not one: wrong content type (415) or too large (413). */
export async function readForm(request: HttpRequest): Promise<{ ok: true; form: URLSearchParams } | { ok: false; status: number; detail: string }> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers.get('content-type') ?? '')) return { ok: false, status: 415, detail: 'the form must be sent as application/x-www-form-urlencoded' };
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.length > MAX_FORM_BYTES) return { ok: false, status: 413, detail: 'the form is too large' };
  return { ok: true, form: new URLSearchParams(bytes.toString('utf8')) };
}
