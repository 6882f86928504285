import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext, identify, WRONG_TENANT_DETAIL } from '../shared/app';
import { CSRF_COOKIE, CSRF_COOKIE_PATH } from '../shared/services/csrf';
import { errorPage, type PageResult, type PageViewer, type RequestPageInput } from '../shared/web/requestPage';
import { cookie, endpoint, identified, invocationLog, originOf } from './http';
import { htmlPage, readForm, scriptNonce } from './pages';

/**
 * The one page per request at its two addresses: `/requests/{id}` in the portal, and the signed
 * review link of the notifications (`/api/review/{id}?t=`), whose CSRF cookie stays under `/api`.
 */
const viaReviewLink = (request: HttpRequest): boolean => new URL(request.url).pathname.startsWith('/api/');
const cookiePath = (request: HttpRequest): string => (viaReviewLink(request) ? CSRF_COOKIE_PATH : '/');

/** A principal of another tenant gets a refusal page, never a sign-in loop or the request. */
function wrongTenant(request: HttpRequest, nonce: string): HttpResponseInit | undefined {
  if (identify(request.headers, appContext().config.tenantId).kind !== 'wrong-tenant') return undefined;
  return htmlPage(request, 403, errorPage(nonce, 'Wrong account', `Nothing was shown or changed. ${WRONG_TENANT_DETAIL}`), nonce);
}

function input(request: HttpRequest, nonce: string): RequestPageInput {
  const who = identified(request);
  const principal = who.kind === 'caller' ? who.principal : undefined;
  const caller: PageViewer | undefined = principal ? { objectId: principal.principalId, groups: principal.groups, name: principal.name } : undefined;
  const csrfCookie = cookie(request, CSRF_COOKIE);
  return {
    id: request.params.id,
    ...(viaReviewLink(request) ? { token: request.query.get('t') } : {}),
    path: new URL(request.url).pathname,
    scriptNonce: nonce,
    ...(caller ? { caller } : {}),
    ...(csrfCookie ? { csrfCookie } : {}),
  };
}

function toResponse(request: HttpRequest, page: PageResult, nonce: string): HttpResponseInit {
  return htmlPage(request, page.status, page.html, nonce, page.setCsrfCookie, cookiePath(request), page.location ? { location: page.location } : {});
}

/** GET and HEAD: read only. */
export async function requestPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const nonce = scriptNonce();
  const refused = wrongTenant(request, nonce);
  if (refused) return refused;
  const page = await appContext().requestPage(invocationLog(context)).view({ ...input(request, nonce), done: request.query.get('done') });
  return toResponse(request, page, nonce);
}

/** POST: a decision, extension, cancellation or revocation from one of the page's forms. */
export async function requestAction(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const nonce = scriptNonce();
  const body = await readForm(request);
  if (!body.ok) return htmlPage(request, body.status, errorPage(nonce, 'Form not accepted', `Nothing was changed: ${body.detail}.`), nonce);
  const refused = wrongTenant(request, nonce);
  if (refused) return refused;
  const page = await appContext().requestPage(invocationLog(context)).act({ ...input(request, nonce), form: body.form, ...originOf(request) });
  return toResponse(request, page, nonce);
}

app.http('review-page', { methods: ['GET', 'HEAD'], authLevel: 'anonymous', route: 'api/review/{id}', handler: endpoint(requestPage) });
app.http('review-decision', { methods: ['POST'], authLevel: 'anonymous', route: 'api/review/{id}', handler: endpoint(requestAction, { ownForm: true }) });
app.http('portal-request', { methods: ['GET', 'HEAD'], authLevel: 'anonymous', route: 'requests/{id}', handler: endpoint(requestPage) });
app.http('portal-request-action', { methods: ['POST'], authLevel: 'anonymous', route: 'requests/{id}', handler: endpoint(requestAction, { ownForm: true }) });
