import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { identify, WRONG_TENANT_DETAIL } from '../shared/adapters/easyAuth';
import { appContext } from '../shared/app';
import type { AccessRequest, Caller } from '../shared/domain';
import type { Outcome, Problem } from '../shared/services/accessRequests';
import type { ServiceLog } from '../shared/services/ports';

export const MAX_BODY_BYTES = 16 * 1024;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** RFC 9457 problem details; `code` is the stable name clients test for. */
export function problemResponse(status: number, code: string, detail: string): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    body: JSON.stringify({ type: `https://hsm-access-governor/problems/${code}`, title: code.replace(/-/g, ' '), status, code, detail }),
  };
}

export const fromProblem = (problem: Problem): HttpResponseInit => problemResponse(problem.status, problem.code, problem.detail);

/** The caller as App Service Authentication vouches for it, of the service's own tenant; nobody else's headers are believed. */
export function callerOf(request: HttpRequest): Caller | undefined {
  const who = identify(request.headers, appContext().config.tenantId);
  return who.kind === 'caller' ? { objectId: who.principal.principalId, groups: who.principal.groups } : undefined;
}

/** The answer to a request without a caller: 403 for a principal of another tenant, 401 for nobody. */
export function unauthenticated(request?: HttpRequest): HttpResponseInit {
  if (request && identify(request.headers, appContext().config.tenantId).kind === 'wrong-tenant') return problemResponse(403, 'wrong-tenant', WRONG_TENANT_DETAIL);
  return problemResponse(401, 'unauthenticated', 'Sign in (App Service Authentication) to call this API');
}

export function isGuid(value: string | undefined): value is string {
  return value !== undefined && GUID.test(value);
}

/** A JSON object body of bounded size, or the problem to answer with. */
export async function readJsonObject(request: HttpRequest): Promise<{ ok: true; value: Record<string, unknown> } | Problem> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) return { ok: false, status: 413, code: 'payload-too-large', detail: `The body may be at most ${MAX_BODY_BYTES} bytes` };
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)) return { ok: false, status: 415, code: 'unsupported-media-type', detail: 'Send the body as application/json' };
  const bytes = Buffer.from(await request.arrayBuffer());
  if (bytes.length > MAX_BODY_BYTES) return { ok: false, status: 413, code: 'payload-too-large', detail: `The body may be at most ${MAX_BODY_BYTES} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, status: 400, code: 'invalid-json', detail: 'The body is not valid JSON' };
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

export function invocationLog(context: InvocationContext): ServiceLog {
  return { info: (m) => context.log(m), warn: (m) => context.warn(m), error: (m) => context.error(m) };
}
