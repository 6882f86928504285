/**
 * The portal's pages for HSM administrators and auditors: `GET /grants` (every running grant),
 * `GET /audit` (the audit trail, filtered and paged) and `GET /audit.csv` (the same records as
 * CSV). Signed in through App Service Authentication like the rest of the portal; GET only.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import { endpoint, invocationLog } from './http';
import { html, viewerOf } from './portal';

/** `GET /grants` */
export async function grantsPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  const answer = await appContext().oversight(invocationLog(context)).grants(who.viewer);
  return html(request, answer.status, answer.body, who.viewer, who.setCookie);
}

/** `GET /audit?who=&action=&key=&requestId=&from=&to=&tz=&continuation=` */
export async function auditPage(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  const answer = await appContext().oversight(invocationLog(context)).audit(who.viewer, new URL(request.url).searchParams);
  return html(request, answer.status, answer.body, who.viewer, who.setCookie);
}

/** `GET /audit.csv?...`: an attachment; `x-audit-truncated: true` when the filter selects more than one file holds. */
export async function auditCsv(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const who = viewerOf(request);
  if ('signIn' in who) return who.signIn;
  const answer = await appContext().oversight(invocationLog(context)).auditCsv(who.viewer, new URL(request.url).searchParams);
  if (!answer.ok) return html(request, answer.answer.status, answer.answer.body, who.viewer, who.setCookie);
  return {
    status: 200, body: answer.csv,
    headers: {
      'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${answer.filename}"`, 'cache-control': 'no-store',
      'x-content-type-options': 'nosniff', 'x-audit-truncated': String(answer.truncated),
    },
  };
}

app.http('portal-grants', { methods: ['GET'], authLevel: 'anonymous', route: 'grants', handler: endpoint(grantsPage) });
app.http('portal-audit', { methods: ['GET'], authLevel: 'anonymous', route: 'audit', handler: endpoint(auditPage) });
app.http('portal-audit-csv', { methods: ['GET'], authLevel: 'anonymous', route: 'audit.csv', handler: endpoint(auditCsv) });
