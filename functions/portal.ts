import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import { CSRF_COOKIE } from '../shared/services/csrf';
import type { Viewer } from '../shared/web/portal';
import { cookie, endpoint, identified, invocationLog, originOf } from './http';
import { htmlPage, readForm, scriptNonce } from './pages';

/** The signed-in viewer and the browser's CSRF cookie (a new one when it has none), or a redirect to sign in. */
export function viewerOf(request: HttpRequest): { viewer: Viewer; setCookie?: string } | { signIn: HttpResponseInit } {
  const who = identified(request);
  if (who.kind !== 'caller') {
    const url = new URL(request.url);
    return { signIn: { status: 302, headers: { location: `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(url.pathname)}`, 'cache-control': 'no-store' } } };
  }
  const nonce = appContext().csrf.nonce(cookie(request, CSRF_COOKIE));
  const viewer: Viewer = { caller: { objectId: who.principal.principalId, groups: who.principal.groups }, ...(who.principal.name ? { name: who.principal.name } : {}), nonce: nonce.value, scriptNonce: scriptNonce() };
  return { viewer, ...(nonce.fresh ? { setCookie: nonce.value } : {}) };
}

export function html(request: HttpRequest, status: number, body: string, viewer: Viewer, setCookie?: string): HttpResponseInit {
  return htmlPage(request, status, body, viewer.scriptNonce, setCookie);
}

/** `GET /`: my grants, my open requests, what waits for my decision. Any other unknown path is a 404 page. */
export async function home(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if ((request.params.page ?? '') !== '') return { status: 404, body: 'Not found', headers: { 'content-type': 'text/plain; charset=utf-8' } };
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  return html(request, 200, await appContext().portal(invocationLog(context)).home(who.viewer, request.query.get('done')), who.viewer, who.setCookie);
}

/** `GET /approvals`: the requests and extensions waiting for my decision. */
export async function approvals(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  return html(request, 200, await appContext().portal(invocationLog(context)).approvals(who.viewer, request.query.get('done')), who.viewer, who.setCookie);
}

/** `GET /ask`: the form, built from the caller's eligibility. */
export async function askForm(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  return html(request, 200, await appContext().portal(invocationLog(context)).askForm(who.viewer), who.viewer, who.setCookie);
}

/** `POST /ask`: asks, then 303 to the request's page; a refusal shows the form again with its words. */
export async function ask(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  const portal = appContext().portal(invocationLog(context));
  const crossSite = appContext().csrf.crossSite(originOf(request));
  if (crossSite) return html(request, 403, await portal.askForm(who.viewer, `refused: ${crossSite}`), who.viewer, who.setCookie);
  const body = await readForm(request);
  if (!body.ok) return html(request, body.status, await portal.askForm(who.viewer, body.detail), who.viewer, who.setCookie);
  const outcome = await portal.ask(who.viewer, body.form);
  if (outcome.ok) return { status: 303, headers: { location: outcome.location, 'cache-control': 'no-store' } };
  return html(request, 422, await portal.askForm(who.viewer, outcome.error, body.form), who.viewer, who.setCookie);
}

// The request page (`requests/{id}`) is registered with the review link's in functions/review.ts.
app.http('portal-ask-form', { methods: ['GET'], authLevel: 'anonymous', route: 'ask', handler: endpoint(askForm) });
app.http('portal-ask', { methods: ['POST'], authLevel: 'anonymous', route: 'ask', handler: endpoint(ask, { ownForm: true }) });
app.http('portal-approvals', { methods: ['GET'], authLevel: 'anonymous', route: 'approvals', handler: endpoint(approvals) });
app.http('portal-home', { methods: ['GET'], authLevel: 'anonymous', route: '{*page}', handler: endpoint(home) });
