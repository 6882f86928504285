import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { appContext } from '../shared/app';
import { API_CSRF_BINDING, CSRF_COOKIE, CSRF_COOKIE_MAX_AGE_SECONDS, CSRF_COOKIE_PATH, CSRF_HEADER } from '../shared/services/csrf';
import { callerOf, cookie, endpoint, json, problemResponse, unauthenticated } from './http';

/**
 * `GET /api/csrf-token`: the token a browser session sends in `X-CSRF-Token` with its state-changing
 * calls, bound to the caller and to this browser's `hsmgov-csrf` cookie (set here when missing).
 * Another site cannot read the answer (no CORS), so it cannot forge the header.
 */
export async function csrfToken(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const { csrf } = appContext();
  if (!csrf.enabled) return problemResponse(503, 'csrf-not-configured', 'This service has no HMAC key (REVIEW_LINK_KEYS): browser sessions cannot change anything; use a bearer token');
  const nonce = csrf.nonce(cookie(request, CSRF_COOKIE));
  const response = json(200, { token: csrf.token(caller.objectId, API_CSRF_BINDING, nonce.value), header: CSRF_HEADER });
  if (!nonce.fresh) return response;
  const secure = new URL(request.url).protocol === 'https:';
  return { ...response, cookies: [{ name: CSRF_COOKIE, value: nonce.value, path: CSRF_COOKIE_PATH, httpOnly: true, sameSite: 'Lax', maxAge: CSRF_COOKIE_MAX_AGE_SECONDS, secure }] };
}

app.http('csrf-token', { methods: ['GET'], authLevel: 'anonymous', route: 'api/csrf-token', handler: endpoint(csrfToken) });
