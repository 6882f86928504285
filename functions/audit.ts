import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { appContext } from '../shared/app';
import { callerOf, endpoint, json, problemResponse, respond, unauthenticated } from './http';

function instant(value: string | null): string | undefined | null {
  if (value === null) return undefined;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) || !/^\d{4}-\d{2}-\d{2}/.test(value) ? null : new Date(parsed).toISOString();
}

/** The audit trail for HSM administrators and auditors: `GET /api/audit?from=&to=` (ISO 8601, to exclusive). */
export async function audit(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const from = instant(request.query.get('from'));
  const to = instant(request.query.get('to'));
  if (from === null || to === null) return problemResponse(400, 'invalid-query', 'from and to must be ISO 8601 date-times');
  const outcome = await appContext().requests().audit(caller, { ...(from ? { from } : {}), ...(to ? { to } : {}) });
  return respond(outcome, (records) => json(200, { items: records }));
}

app.http('audit', { methods: ['GET'], authLevel: 'anonymous', route: 'api/audit', handler: endpoint(audit) });
