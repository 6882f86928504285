import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext, identify, WRONG_TENANT_DETAIL } from '../shared/app';
import { CSRF_COOKIE, CSRF_COOKIE_MAX_AGE_SECONDS, CSRF_COOKIE_PATH } from '../shared/services/csrf';
import { errorPage, type PageResult, type ReviewCaller, type ReviewInput } from '../shared/services/reviewPage';
import { cookie, endpoint, identified, invocationLog, originOf } from './http';

const MAX_FORM_BYTES = 8 * 1024;

/** Headers of every review page: never cached, never framed, and the link's token never leaks to another site as a referrer. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-robots-tag': 'noindex, nofollow',
};

/** A principal of another tenant gets a refusal page, never a sign-in loop or the request. */
function wrongTenant(request: HttpRequest): HttpResponseInit | undefined {
  if (identify(request.headers, appContext().config.tenantId).kind !== 'wrong-tenant') return undefined;
  return { status: 403, body: errorPage('Wrong account', `Nothing was shown or changed. ${WRONG_TENANT_DETAIL}`), headers: PAGE_HEADERS };
}

function input(request: HttpRequest): ReviewInput {
  const who = identified(request);
  const principal = who.kind === 'caller' ? who.principal : undefined;
  const caller: ReviewCaller | undefined = principal ? { objectId: principal.principalId, groups: principal.groups, name: principal.name } : undefined;
  const csrfCookie = cookie(request, CSRF_COOKIE);
  return {
    id: request.params.id,
    token: request.query.get('t'),
    path: new URL(request.url).pathname,
    ...(caller ? { caller } : {}),
    ...(csrfCookie ? { csrfCookie } : {}),
  };
}

function toResponse(request: HttpRequest, page: PageResult): HttpResponseInit {
  return {
    status: page.status,
    body: page.html,
    headers: { ...PAGE_HEADERS, ...(page.location ? { location: page.location } : {}) },
    ...(page.setCsrfCookie
      ? { cookies: [{ name: CSRF_COOKIE, value: page.setCsrfCookie, path: CSRF_COOKIE_PATH, httpOnly: true, sameSite: 'Lax' as const, maxAge: CSRF_COOKIE_MAX_AGE_SECONDS, secure: new URL(request.url).protocol === 'https:' }] }
      : {}),
  };
}

/** GET and HEAD: read only. */
export async function reviewPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const refused = wrongTenant(request);
  if (refused) return refused;
  const page = await appContext().reviewPage(invocationLog(context)).view({ ...input(request), done: request.query.get('done') });
  return toResponse(request, page);
}

/** POST: the decision (or cancel, revoke) from the page's form. */
export async function reviewDecision(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers.get('content-type') ?? '')) {
    return { status: 415, body: errorPage('Form not accepted', 'Nothing was changed: the form must be sent as application/x-www-form-urlencoded.'), headers: PAGE_HEADERS };
  }
  const refused = wrongTenant(request);
  if (refused) return refused;
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.length > MAX_FORM_BYTES) return { status: 413, body: errorPage('Form too large', 'Nothing was changed: the form is too large.'), headers: PAGE_HEADERS };
  const page = await appContext().reviewPage(invocationLog(context)).act({
    ...input(request),
    form: new URLSearchParams(bytes.toString('utf8')),
    ...originOf(request),
  });
  return toResponse(request, page);
}

app.http('review-page', { methods: ['GET', 'HEAD'], authLevel: 'anonymous', route: 'api/review/{id}', handler: endpoint(reviewPage) });
app.http('review-decision', { methods: ['POST'], authLevel: 'anonymous', route: 'api/review/{id}', handler: endpoint(reviewDecision, { ownForm: true }) });
