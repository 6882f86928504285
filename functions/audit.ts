import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { appContext } from '../shared/app';
import { AUDIT_PAGE_DEFAULT, parseAuditQuery } from '../shared/domain';
import { callerOf, endpoint, json, problemResponse, respond, unauthenticated } from './http';

/**
 * The audit trail for HSM administrators and auditors: `GET /api/audit?from=&to=` (ISO 8601, `to`
 * exclusive) with the filters `who`, `action`, `key` or `scope`, `requestId`. Without `limit` or
 * `continuation` every matching record comes at once, as it always did; with either, one page and
 * the `continuation` of the next.
 */
export async function audit(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const { policy, requests } = appContext();
  const query = parseAuditQuery((name) => request.query.get(name), policy);
  if (!query.ok) return problemResponse(400, 'invalid-query', query.detail);
  if (query.limit === undefined && query.continuation === undefined) {
    const outcome = await requests().auditAll(caller, query.filter, Number.MAX_SAFE_INTEGER);
    return respond(outcome, (all) => json(200, { items: all.records }));
  }
  const outcome = await requests().auditPage(caller, { filter: query.filter, limit: query.limit ?? AUDIT_PAGE_DEFAULT, ...(query.continuation ? { continuation: query.continuation } : {}) });
  return respond(outcome, (page) => json(200, { items: page.records, ...(page.continuation ? { continuation: page.continuation } : {}) }));
}

app.http('audit', { methods: ['GET'], authLevel: 'anonymous', route: 'api/audit', handler: endpoint(audit) });
