import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { appContext } from '../shared/app';
import { AUDIT_LOG_CONTAINER, mayReadReports } from '../shared/domain';
import { usagePage } from '../shared/web/usageReport';
import { callerOf, endpoint, forBrowsers, invocationLog, json, problemResponse, reportPage, unauthenticated } from './http';

/** The app setting naming the storage account the HSM's diagnostic setting writes to (the trigger's `connection`). */
const AUDIT_LOGS_CONNECTION = 'AUDIT_LOGS_STORAGE';

/**
 * The HSM's AuditEvent blobs, as Event Grid reports them created or appended to (a BlobCreated per
 * Put Block List). The blob's content is not used: ingestion reads from the blob's checkpoint with
 * a ranged GET, so that an hour's blob is read once however often it grows. A throw (storage down,
 * a reconcile that cannot start yet) makes the event come again; what was done is not redone.
 */
export async function ingestAuditBlob(_content: unknown, context: InvocationContext): Promise<void> {
  const name = String(context.triggerMetadata?.name ?? '');
  const ingestion = appContext().auditIngestion(invocationLog(context));
  if (!ingestion) {
    context.warn(`${AUDIT_LOGS_CONNECTION} is not set: ${name} is not read`);
    return;
  }
  const outcome = await ingestion.ingest(name);
  // Every call the HSM answers grows the log: a line per read would drown the app's log.
  context.debug(`HSM audit log ${name}: ${outcome.records} record(s) read, up to byte ${outcome.offset}${outcome.refusedLines > 0 ? `, ${outcome.refusedLines} line(s) not AuditEvent records` : ''}`);
}

function wantsHtml(request: HttpRequest): boolean {
  const format = request.query.get('format');
  if (format) return format === 'html';
  return /\btext\/html\b/.test(request.headers.get('accept') ?? '');
}

/** `GET /api/reports/usage`: grants used and unused, time to first use, right-sizing per rule, refused attempts, use outside any grant. */
export async function usageReportPage(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  if (!mayReadReports(appContext().policy, caller)) return problemResponse(403, 'not-an-auditor', 'Reports are for HSM administrators and auditors');
  const report = await appContext().evidence().usageReport();
  return wantsHtml(request) ? reportPage(request, (frame) => usagePage(report, frame)) : json(200, report);
}

app.storageBlob('audit-ingest', { source: 'EventGrid', path: `${AUDIT_LOG_CONTAINER}/{name}`, connection: AUDIT_LOGS_CONNECTION, handler: ingestAuditBlob });
app.http('usageReport', { methods: ['GET'], authLevel: 'anonymous', route: 'api/reports/usage', handler: endpoint(forBrowsers(usageReportPage)) });
