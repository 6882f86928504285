import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import type { Caller, RequestStatus } from '../shared/domain';
import { REQUEST_STATUSES } from '../shared/domain';
import type { AccessRequestService } from '../shared/services/accessRequests';
import { callerOf, endpoint, invocationLog, isGuid, json, problemResponse, readJsonObject, requestView, respond, stringFields, unauthenticated, fromProblem } from './http';

type Handler = (service: AccessRequestService, caller: Caller, request: HttpRequest) => Promise<HttpResponseInit>;

/** Every request handler: an authenticated caller, the workflow service, and problems for what fails. */
function handler(body: Handler) {
  return endpoint(async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const caller = callerOf(request);
    if (!caller) return unauthenticated(request);
    return body(appContext().requests(invocationLog(context)), caller, request);
  });
}

function withRequestId(body: (service: AccessRequestService, caller: Caller, id: string, request: HttpRequest) => Promise<HttpResponseInit>): Handler {
  return async (service, caller, request) => {
    const id = request.params.id;
    if (!isGuid(id)) return problemResponse(404, 'request-not-found', 'Request ids are GUIDs');
    return body(service, caller, id.toLowerCase(), request);
  };
}

const submit: Handler = async (service, caller, request) => {
  const body = await readJsonObject(request);
  if (!body.ok) return fromProblem(body);
  const fields = stringFields(body.value, ['role', 'scope', 'principalId', 'duration', 'justification', 'ticket', 'hsm'] as const, ['role', 'scope'] as const);
  if (!fields.ok) return fromProblem(fields);
  const idempotencyKey = request.headers.get('idempotency-key') ?? undefined;
  if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) return problemResponse(400, 'invalid-idempotency-key', 'Idempotency-Key must be 1-200 visible ASCII characters');
  const { role, scope, ...rest } = fields.value;
  const outcome = await service.submit(caller, { role: role as string, scope: scope as string, ...rest, ...(idempotencyKey ? { idempotencyKey } : {}) });
  return respond(outcome, ({ request: created, created: isNew, notes }) =>
    json(isNew ? 201 : 200, { ...requestView(created), ...(notes.length > 0 ? { notes } : {}) }, { location: `/api/requests/${created.id}` }),
  );
};

/** A key of a row the API may continue from: text Table Storage accepts in a key (no control characters, `/`, `\\`, `#`, `?`). */
// eslint-disable-next-line no-control-regex -- control characters are what a table key may not hold
const TABLE_KEY = /^[^\u0000-\u001f\u007f-\u009f/\\#?]{0,1024}$/u;
/** Whether a string is well-formed UTF-16 (no lone surrogates), which the SDK must encode into a URL. */
function isWellFormed(value: string): boolean {
  try {
    encodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}
const isTableKey = (value: unknown): boolean => typeof value === 'string' && isWellFormed(value) && TABLE_KEY.test(value);

/**
 * Table Storage continuation tokens are base64 JSON naming the next row; anything else is refused, not
 * passed on: a key that is not text, or text no table key can be, would fail in the SDK instead.
 */
function isContinuationToken(value: string): boolean {
  if (!/^[A-Za-z0-9+/=_-]{1,2000}$/.test(value)) return false;
  try {
    const decoded = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as unknown;
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) return false;
    const { nextPartitionKey, nextRowKey, ...rest } = decoded as Record<string, unknown>;
    return Object.keys(rest).length === 0 && isTableKey(nextPartitionKey) && (nextRowKey === undefined || isTableKey(nextRowKey));
  } catch {
    return false;
  }
}

const list: Handler = async (service, caller, request) => {
  const status = request.query.get('status') ?? undefined;
  if (status !== undefined && !REQUEST_STATUSES.includes(status as RequestStatus)) {
    return problemResponse(400, 'invalid-status', `status must be one of ${REQUEST_STATUSES.join(', ')}`);
  }
  const mine = request.query.get('mine');
  if (mine !== null && mine !== 'true' && mine !== 'false') return problemResponse(400, 'invalid-query', 'mine must be true or false');
  const pageSize = request.query.get('pageSize');
  if (pageSize !== null && !/^(?:[1-9]\d?|100)$/.test(pageSize)) return problemResponse(400, 'invalid-query', 'pageSize must be 1 to 100');
  const continuation = request.query.get('continuation') ?? undefined;
  if (continuation !== undefined && !isContinuationToken(continuation)) return problemResponse(400, 'invalid-query', 'continuation is not a token this API gave out');
  const outcome = await service.list(caller, {
    ...(status ? { status: status as RequestStatus } : {}),
    mine: mine === 'true',
    ...(continuation ? { continuation } : {}),
    ...(pageSize ? { pageSize: Number(pageSize) } : {}),
  });
  return respond(outcome, (page) => json(200, { items: page.items.map(requestView), continuation: page.continuation ?? null }));
};

/** A request, with what the grantee did under it (its `usage`, from the HSM's audit log) once it was granted on the HSM. */
const get = withRequestId(async (service, caller, id) => {
  const outcome = await service.get(caller, id);
  if (!outcome.ok) return fromProblem(outcome);
  const found = outcome.value;
  const usage = found.grantedAt && found.plane !== 'azure-rbac' ? await appContext().evidence().grantUsage(found) : undefined;
  return json(200, { ...requestView(found), ...(usage ? { usage } : {}) });
});

const decide = withRequestId(async (service, caller, id, request) => {
  const body = await readJsonObject(request);
  if (!body.ok) return fromProblem(body);
  const fields = stringFields(body.value, ['decision', 'comment'] as const, ['decision'] as const);
  if (!fields.ok) return fromProblem(fields);
  const { decision, comment } = fields.value;
  if (decision !== 'approve' && decision !== 'deny') return problemResponse(400, 'invalid-body', "decision must be 'approve' or 'deny'");
  return respond(await service.decide(caller, id, decision, comment), (updated) => json(200, requestView(updated)));
});

const cancel = withRequestId(async (service, caller, id) => respond(await service.cancel(caller, id), (updated) => json(200, requestView(updated))));

async function optionalBody(request: HttpRequest, allowed: readonly ('reason' | 'duration' | 'justification')[]) {
  if ((request.headers.get('content-length') ?? '0') === '0' && !request.headers.get('transfer-encoding')) return { ok: true as const, value: {} };
  const body = await readJsonObject(request);
  if (!body.ok) return body;
  return stringFields(body.value, allowed);
}

const revoke = withRequestId(async (service, caller, id, request) => {
  const fields = await optionalBody(request, ['reason']);
  if (!fields.ok) return fromProblem(fields);
  return respond(await service.revoke(caller, id, fields.value.reason), (updated) => json(200, requestView(updated)));
});

const extend = withRequestId(async (service, caller, id, request) => {
  const fields = await optionalBody(request, ['duration', 'justification']);
  if (!fields.ok) return fromProblem(fields);
  if (!fields.value.duration) return problemResponse(400, 'invalid-body', "'duration' is required");
  return respond(await service.extend(caller, id, fields.value.duration, fields.value.justification), (updated) => json(200, requestView(updated)));
});

app.http('requests-submit', { methods: ['POST'], authLevel: 'anonymous', route: 'api/requests', handler: handler(submit) });
app.http('requests-list', { methods: ['GET'], authLevel: 'anonymous', route: 'api/requests', handler: handler(list) });
app.http('requests-get', { methods: ['GET'], authLevel: 'anonymous', route: 'api/requests/{id}', handler: handler(get) });
app.http('requests-decide', { methods: ['POST'], authLevel: 'anonymous', route: 'api/requests/{id}/decisions', handler: handler(decide) });
app.http('requests-cancel', { methods: ['POST'], authLevel: 'anonymous', route: 'api/requests/{id}/cancel', handler: handler(cancel) });
app.http('requests-revoke', { methods: ['POST'], authLevel: 'anonymous', route: 'api/requests/{id}/revoke', handler: handler(revoke) });
app.http('requests-extend', { methods: ['POST'], authLevel: 'anonymous', route: 'api/requests/{id}/extend', handler: handler(extend) });
