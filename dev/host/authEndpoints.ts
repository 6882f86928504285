import type { IncomingMessage, ServerResponse } from 'node:http';
import { PERSONAS } from '../personas';
import type { TokenVerifier } from '../idp/verify';
import {
  authenticate, clearedSessionCookieHeader, createSessionCookieValue, safeRedirectPath, sessionCookieHeader,
} from './easyAuth';
import { escapeHtml, readBody, sendHtml, sendJson, sendText } from './httpIo';

const LOGIN_FORM_LIMIT = 4096;

export interface AuthEndpointOptions {
  verifier?: TokenVerifier;
  sessionSecret: string;
  /** `http://127.0.0.1:port`, to refuse sign-in posts from other origins. */
  origin: () => string;
}

function loginPage(redirect: string): string {
  const choices = Object.entries(PERSONAS)
    .map(([alias, p]) => `<li><button name="persona" value="${escapeHtml(alias)}">${escapeHtml(p.name)}</button> <code>${escapeHtml(p.upn)}</code> <small>${escapeHtml(p.type)}</small></li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (local development)</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}li{margin:.4rem 0;list-style:none}button{min-width:12rem}</style></head>
<body><h1>Sign in as a Contoso persona</h1>
<p>Local development only: App Service Authentication is emulated by the local Functions host.</p>
<form method="post" action="/.auth/login/dev">
<input type="hidden" name="post_login_redirect_uri" value="${escapeHtml(redirect)}">
<ul>
${choices}
</ul>
</form></body></html>`;
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(302, { location, 'content-length': '0', 'cache-control': 'no-store', ...headers });
  res.end();
}

/** `/.auth/me`, `/.auth/login/dev` (page and form post), `/.auth/login/aad` and `/.auth/logout`. */
export async function handleAuthEndpoint(req: IncomingMessage, res: ServerResponse, url: URL, options: AuthEndpointOptions): Promise<void> {
  const path = url.pathname.replace(/\/+$/, '').toLowerCase();
  const method = req.method ?? 'GET';

  if (path === '/.auth/me' && method === 'GET') {
    const caller = await authenticate(req.headers, options);
    if (!caller) return sendJson(res, 401, { error: 'Not signed in' });
    return sendJson(res, 200, [{
      provider_name: 'aad',
      user_id: caller.principalName,
      user_claims: caller.principal.claims,
      ...(caller.expiresOn ? { expires_on: new Date(caller.expiresOn * 1000).toISOString() } : {}),
      ...(caller.accessToken ? { access_token: caller.accessToken } : {}),
    }], { 'cache-control': 'no-store' });
  }

  if ((path === '/.auth/login/dev' || path === '/.auth/login/aad') && method === 'GET') {
    const target = safeRedirectPath(url.searchParams.get('post_login_redirect_uri'));
    if (path === '/.auth/login/aad') return redirect(res, `/.auth/login/dev?post_login_redirect_uri=${encodeURIComponent(target)}`);
    return sendHtml(res, 200, loginPage(target), { 'cache-control': 'no-store' });
  }

  if (path === '/.auth/login/dev' && method === 'POST') {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== options.origin()) return sendText(res, 403, 'Sign-in must be posted from this host');
    const form = new URLSearchParams((await readBody(req, LOGIN_FORM_LIMIT)).toString('utf8'));
    const personaName = form.get('persona') ?? '';
    if (!Object.prototype.hasOwnProperty.call(PERSONAS, personaName)) {
      return sendText(res, 400, `Unknown persona '${personaName}'. Known: ${Object.keys(PERSONAS).join(', ')}`);
    }
    const cookie = createSessionCookieValue(options.sessionSecret, personaName);
    return redirect(res, safeRedirectPath(form.get('post_login_redirect_uri')), { 'set-cookie': sessionCookieHeader(cookie) });
  }

  if (path === '/.auth/logout' && method === 'GET') {
    const target = safeRedirectPath(url.searchParams.get('post_logout_redirect_uri'), '/.auth/login/dev');
    return redirect(res, target, { 'set-cookie': clearedSessionCookieHeader() });
  }

  sendText(res, 404, 'Not found');
}
