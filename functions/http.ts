import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { appContext, bearerChallenge, identify, principalFromHeaders, WRONG_TENANT_DETAIL, type Identification } from '../shared/app';
import type { AccessRequest, Caller } from '../shared/domain';
import type { Outcome, Problem } from '../shared/services/accessRequests';
import { API_CSRF_BINDING, CSRF_COOKIE, CSRF_HEADER } from '../shared/services/csrf';
import { refusalPage, type ReportFrame } from '../shared/web/reports';
import { pageHeaders, scriptNonce } from './pages';
import type { LogFields, ServiceLog } from '../shared/services/ports';
import { currentInvocation, logAttributes, traceIdOf } from '../shared/app';

export const MAX_BODY_BYTES = 16 * 1024;
/** `application/json` or `application/*+json`, with parameters such as a charset. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** RFC 9457 problem details; `code` is the stable name clients test for, `traceId` finds the invocation's trace. */
export function problemResponse(status: number, code: string, detail: string, extensions: Record<string, string> = {}): HttpResponseInit {
  const traceId = currentInvocation()?.traceId;
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    body: JSON.stringify({ type: `https://hsm-access-governor/problems/${code}`, title: code.replace(/-/g, ' '), status, code, detail, ...(traceId ? { traceId } : {}), ...extensions }),
  };
}

export const fromProblem = (problem: Problem): HttpResponseInit => problemResponse(problem.status, problem.code, problem.detail);

/** Callers whose groups `endpoint` looked up in the directory (the groups overage), for the rest of their request. */
const identifications = new WeakMap<HttpRequest, Identification>();

/**
 * Who is calling, as App Service Authentication vouches for it, with the groups the directory gave
 * when the token could not list them all (looked up once per request, before the handler runs).
 */
export function identified(request: HttpRequest): Identification {
  return identifications.get(request) ?? identify(request.headers, appContext().config.tenantId);
}

/**
 * A caller whose token says it does not list all their groups gets them from Microsoft Graph
 * (cached per principal); when Graph cannot answer they have no group-based rights for this request
 * and an error-level log line says why. Never fails the request.
 */
async function resolveGroups(request: HttpRequest, context: InvocationContext): Promise<void> {
  // Only a caller in an overage needs the app's context here (a request of any other never builds it early).
  if (!principalFromHeaders(request.headers)?.groupOverage) return;
  let services: ReturnType<typeof appContext>;
  try {
    services = appContext();
  } catch {
    // A misconfigured app: the handler (or the start-up check's 503) answers as for anyone else.
    return;
  }
  const who = identify(request.headers, services.config.tenantId);
  if (who.kind !== 'caller' || !who.principal.groupOverage) return;
  const groups = await services.callerGroups.groupsOf(who.principal, invocationLog(context));
  identifications.set(request, { kind: 'caller', principal: { ...who.principal, groups: [...groups] } });
}

/** The caller as App Service Authentication vouches for it, of the service's own tenant; nobody else's headers are believed. */
export function callerOf(request: HttpRequest): Caller | undefined {
  const who = identified(request);
  return who.kind === 'caller' ? { objectId: who.principal.principalId, groups: who.principal.groups } : undefined;
}

/**
 * The answer to a request without a caller: 403 for a principal of another tenant; otherwise 401,
 * saying why when it carried a bearer token that App Service Authentication did not accept, and
 * how to get one that it does (`WWW-Authenticate`).
 */
export function unauthenticated(request: HttpRequest): HttpResponseInit {
  if (identify(request.headers, appContext().config.tenantId).kind === 'wrong-tenant') return problemResponse(403, 'wrong-tenant', WRONG_TENANT_DETAIL);
  const challenge = bearerChallenge(request.headers.get('authorization'), appContext().config.apiAudience, new Date());
  const response = problemResponse(401, challenge.code, challenge.detail);
  return { ...response, headers: { ...(response.headers as Record<string, string>), 'www-authenticate': challenge.header } };
}

export function isGuid(value: string | undefined): value is string {
  return value !== undefined && GUID.test(value);
}

// ignoreBOM keeps a byte order mark in the text, so that JSON.parse refuses it as before (RFC 8259 forbids sending one).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A JSON object body of bounded size, or the problem to answer with. */
export async function readJsonObject(request: HttpRequest): Promise<{ ok: true; value: Record<string, unknown> } | Problem> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) return { ok: false, status: 413, code: 'payload-too-large', detail: `The body may be at most ${MAX_BODY_BYTES} bytes` };
  if (!JSON_MEDIA_TYPE.test(request.headers.get('content-type') ?? '')) return { ok: false, status: 415, code: 'unsupported-media-type', detail: 'Send the body as application/json' };
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.length > MAX_BODY_BYTES) return { ok: false, status: 413, code: 'payload-too-large', detail: `The body may be at most ${MAX_BODY_BYTES} bytes` };
  let parsed: unknown;
  try {
    // JSON is UTF-8 (RFC 8259): invalid bytes are refused, not stored as replacement characters.
    parsed = JSON.parse(UTF8.decode(bytes));
  } catch {
    return { ok: false, status: 400, code: 'invalid-json', detail: 'The body is not valid JSON in UTF-8' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, status: 400, code: 'invalid-body', detail: 'The body must be a JSON object' };
  return { ok: true, value: parsed as Record<string, unknown> };
}

/** Checks that the body has only the named fields, each a string when present. */
export function stringFields<K extends string>(body: Record<string, unknown>, allowed: readonly K[], required: readonly K[] = []): { ok: true; value: Partial<Record<K, string>> } | Problem {
  for (const key of Object.keys(body)) {
    if (!(allowed as readonly string[]).includes(key)) return { ok: false, status: 400, code: 'invalid-body', detail: `Unknown field '${key}' (allowed: ${allowed.join(', ')})` };
  }
  const value: Partial<Record<K, string>> = {};
  for (const key of allowed) {
    const field = body[key];
    if (field === undefined || field === null) {
      if (required.includes(key)) return { ok: false, status: 400, code: 'invalid-body', detail: `'${key}' is required` };
      continue;
    }
    if (typeof field !== 'string') return { ok: false, status: 400, code: 'invalid-body', detail: `'${key}' must be a string` };
    value[key] = field;
  }
  return { ok: true, value };
}

/** What the API shows of a request: everything, with absent times and ticket as null. */
export function requestView(request: AccessRequest): Record<string, unknown> {
  return { ...request, ticket: request.ticket ?? null, grantedAt: request.grantedAt ?? null, expiresAt: request.expiresAt ?? null };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'cache-control': 'no-store', ...headers } };
}

export function respond<T>(outcome: Outcome<T>, onSuccess: (value: T) => HttpResponseInit): HttpResponseInit {
  return outcome.ok ? onSuccess(outcome.value) : fromProblem(outcome);
}

/**
 * The services' log, through the invocation context (the host ties each line to the invocation and
 * its trace): the words, then the line's facts as JSON (invocation id, trace id, request id, ...).
 */
export function invocationLog(context: InvocationContext): ServiceLog {
  const scope = () => currentInvocation() ?? { functionName: context.functionName, invocationId: context.invocationId, traceId: traceIdOf(context.traceContext?.traceParent) };
  const line = (message: string, fields?: LogFields) => `${message} ${JSON.stringify(logAttributes(fields, scope()))}`;
  return { info: (m, f) => context.log(line(m, f)), warn: (m, f) => context.warn(line(m, f)), error: (m, f) => context.error(line(m, f)) };
}

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function cookie(request: HttpRequest, name: string): string | undefined {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/**
 * Whether the platform authenticated this caller from the browser's session cookie rather than a
 * bearer token. App Service passes the `Authorization` header through and, when one is sent, it
 * alone authenticates; a cross-site form or a simple fetch cannot send one. So a caller without it
 * came through the session cookie (`AppServiceAuthSession`), whatever else the request carries.
 */
export function viaSessionCookie(request: HttpRequest): boolean {
  return !/^Bearer\s/i.test(request.headers.get('authorization') ?? '');
}

export function originOf(request: HttpRequest): { origin: string | null; fetchSite: string | null; ownOrigin: string } {
  return { origin: request.headers.get('origin'), fetchSite: request.headers.get('sec-fetch-site'), ownOrigin: new URL(request.url).origin };
}

/** Why a state-changing API call is refused before it runs: cross-site, not JSON, or a cookie session without its CSRF token. */
function refuseUnsafeCall(request: HttpRequest): HttpResponseInit | undefined {
  const { csrf } = appContext();
  const crossSite = csrf.crossSite(originOf(request));
  if (crossSite) return problemResponse(403, 'cross-site-request', `Refused: ${crossSite}. Nothing was changed; this API accepts no state-changing calls from other sites`);
  if (!JSON_MEDIA_TYPE.test(request.headers.get('content-type') ?? '')) {
    return problemResponse(415, 'unsupported-media-type', 'Send Content-Type: application/json with every POST, also when the body is empty');
  }
  const caller = callerOf(request);
  if (!caller || !viaSessionCookie(request)) return undefined;
  const token = request.headers.get(CSRF_HEADER);
  if (!token) return problemResponse(403, 'csrf-token-required', `A call signed in with the browser session needs the ${CSRF_HEADER} header: GET /api/csrf-token gives it (or call with a bearer token)`);
  if (!csrf.verify(token, caller.objectId, API_CSRF_BINDING, cookie(request, CSRF_COOKIE))) {
    return problemResponse(403, 'csrf-token-invalid', `The ${CSRF_HEADER} header does not belong to this session and browser: GET /api/csrf-token again`);
  }
  return undefined;
}

/** A problem+json 500 that names the invocation, for anything a handler did not expect; the error goes to the log. */
function unexpectedFailure(error: unknown, context: InvocationContext): HttpResponseInit {
  const traceParent = context.traceContext?.traceParent ?? undefined;
  context.error(`Unhandled error in ${context.functionName} (invocation ${context.invocationId}):`, error instanceof Error ? error.stack ?? error.message : String(error));
  const detail = `Something failed on the service's side; nothing was wrong with the request. Quote invocation ${context.invocationId} when you report it`;
  return problemResponse(500, 'internal-error', detail, { invocationId: context.invocationId, ...(traceParent ? { traceParent } : {}) });
}

/**
 * Every HTTP function is registered through this. A state-changing call (POST and the like) is
 * refused before the handler runs when it comes from another site, is not JSON, or comes from a
 * browser session without its CSRF token; `ownForm` routes (the review page's form) check the same
 * things themselves. A caller in a groups overage has their groups looked up first (`identified`).
 * Whatever a handler throws becomes a logged problem+json 500.
 */
export function endpoint(handler: HttpHandler, options: { ownForm?: boolean } = {}): HttpHandler {
  return async (request, context) => {
    try {
      await resolveGroups(request, context);
      if (UNSAFE_METHODS.has(request.method.toUpperCase()) && !options.ownForm) {
        const refused = refuseUnsafeCall(request);
        if (refused) return refused;
      }
      return await handler(request, context);
    } catch (error) {
      return unexpectedFailure(error, context);
    }
  };
}

/** A person's browser opening a link, rather than an API client (which asks for JSON and does not navigate). */
export function isBrowserNavigation(request: HttpRequest): boolean {
  return request.headers.get('sec-fetch-mode') === 'navigate' || /\btext\/html\b/i.test(request.headers.get('accept') ?? '') || request.query.get('format') === 'html';
}

/** The request's own path and query: a return URL that can only lead back to this site. */
function returnPath(request: HttpRequest): string {
  const url = new URL(request.url);
  const path = `${url.pathname}${url.search}`;
  return /^\/(?![/\\])/.test(path) ? path : '/';
}

const PAGE_HEADERS = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'", 'x-content-type-options': 'nosniff' };

/** A page of the portal's layout for `request`: who is signed in for its header, and a fresh script nonce. */
export function reportPage(request: HttpRequest, render: (frame: ReportFrame) => string, status = 200): HttpResponseInit {
  const who = identified(request);
  const nonce = scriptNonce();
  const signedIn = who.kind === 'caller' ? who.principal.name : undefined;
  return { status, headers: pageHeaders(nonce), body: render({ nonce, ...(signedIn ? { signedIn } : {}) }) };
}

/**
 * For pages people open from a link (reports): a browser without a session is sent to sign-in and
 * back, and a refusal is a page that says it; API clients keep their problem+json.
 */
export function forBrowsers(handler: HttpHandler): HttpHandler {
  return async (request, context) => {
    const response = await handler(request, context);
    const status = response.status ?? 200;
    const isProblem = /^application\/problem\+json/.test(String((response.headers as Record<string, string> | undefined)?.['content-type'] ?? ''));
    if (![401, 403, 404].includes(status) || !isProblem || !isBrowserNavigation(request)) return response;
    if (status === 401 && !request.headers.get('authorization')) {
      const login = `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(returnPath(request))}`;
      return { status: 302, headers: { ...PAGE_HEADERS, location: login }, body: refusalPage(401, 'Sign in to see this page.') };
    }
    const detail = typeof response.body === 'string' ? ((JSON.parse(response.body) as { detail?: string }).detail ?? '') : '';
    const signOut = status === 401 ? undefined : `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(returnPath(request))}`;
    return { status, headers: { ...PAGE_HEADERS, ...(status === 401 ? { 'www-authenticate': String((response.headers as Record<string, string>)['www-authenticate']) } : {}) }, body: refusalPage(status, detail, signOut) };
  };
}
