import { app, type HttpRequest, type HttpResponseInit, type InvocationContext, type Timer } from '@azure/functions';
import { appContext, RECONCILE_QUEUE, type RunMessage } from '../shared/app';
import { accessReport, azureRbacGrants, keysReport, mayReadReports, mayRunReconciliation, type Caller } from '../shared/domain';
import { accessReportBody } from '../shared/services/reportPages';
import { accessPage, keysPage, runPage } from '../shared/web/reports';
import { callerOf, endpoint, forBrowsers, reportPage, invocationLog, json, problemResponse, unauthenticated } from './http';

const SYSTEM = 'system:reconcile-timer';

function wantsHtml(request: HttpRequest): boolean {
  const format = request.query.get('format');
  if (format) return format === 'html';
  return /\btext\/html\b/.test(request.headers.get('accept') ?? '');
}

const noInventory = (): HttpResponseInit => problemResponse(404, 'no-inventory', 'No reconciliation has completed yet: POST /api/reconcile runs one');

function overseerOnly(request: HttpRequest): { caller: Caller } | { refused: HttpResponseInit } {
  const caller = callerOf(request);
  if (!caller) return { refused: unauthenticated(request) };
  if (!mayReadReports(appContext().policy, caller)) return { refused: problemResponse(403, 'not-an-auditor', 'Reports are for HSM administrators and auditors') };
  return { caller };
}

/** `POST /api/reconcile?mode=plan|apply`: administrators only. Answers with the report, or 202 while it goes on. */
export async function reconcileNow(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const caller = callerOf(request);
  if (!caller) return unauthenticated(request);
  const mode = request.query.get('mode') ?? 'plan';
  if (mode !== 'plan' && mode !== 'apply') return problemResponse(400, 'invalid-query', "mode must be 'plan' or 'apply'");
  const { policy, reconciliation, reconcileSettings } = appContext();
  if (!mayRunReconciliation(policy, caller)) return problemResponse(403, 'not-an-administrator', 'Only HSM administrators run reconciliation');
  const service = reconciliation(invocationLog(context));
  const started = await service.start(mode, caller.objectId);
  if (!started.ok) return problemResponse(409, started.code, `Run ${started.runningRunId} of this HSM is still in progress; see /api/reconcile/reports/${started.runningRunId}`);
  const run = await service.step(started.run.id, reconcileSettings.httpBudgetMs);
  const location = `/api/reconcile/reports/${started.run.id}`;
  const headers = { location, 'content-type': 'application/json' };
  if (!run || run.status === 'running') return json(202, { id: started.run.id, status: 'running', report: location }, headers);
  return json(200, await service.report(run.id), headers);
}

/** Steps a run; schedules the next step while it is not done (later after a failed execution). */
export async function continueRun(message: unknown, context: InvocationContext): Promise<void> {
  const { runId } = (typeof message === 'string' ? JSON.parse(message) : message) as RunMessage;
  if (typeof runId !== 'string') {
    context.error('Reconcile message without a run id: dropped');
    return;
  }
  const { reconciliation, reconcileSettings } = appContext();
  const service = reconciliation(invocationLog(context));
  const run = await service.step(runId, reconcileSettings.executionBudgetMs);
  if (run?.status === 'running') await service.continueLater(run);
}

/** Nightly (RECONCILE_SCHEDULE, 02:00 UTC by default): a plan, or an apply where the policy enforces. */
export async function reconcileNightly(_timer: Timer, context: InvocationContext): Promise<void> {
  const { policy, reconciliation } = appContext();
  const started = await reconciliation(invocationLog(context)).start(policy.reconcile.mode === 'enforce' ? 'apply' : 'plan', SYSTEM);
  context.log(started.ok ? `Reconcile run ${started.run.id} started` : `Reconcile skipped: run ${started.runningRunId} is still in progress`);
}

async function reportById(request: HttpRequest, id: string | undefined): Promise<HttpResponseInit> {
  const allowed = overseerOnly(request);
  if ('refused' in allowed) return allowed.refused;
  const service = appContext().reconciliation();
  if (id !== undefined && !/^[\w-]{1,80}$/.test(id)) return problemResponse(400, 'invalid-run-id', 'Not a run id');
  const report = id === undefined ? await service.latestReport() : await service.report(id);
  if (!report) return id === undefined ? noInventory() : problemResponse(404, 'report-not-found', `No run ${id}`);
  return wantsHtml(request) ? reportPage(request, (frame) => runPage(report.run, report.items, frame)) : json(200, report);
}

export const latestReport = (request: HttpRequest): Promise<HttpResponseInit> => reportById(request, undefined);
export const runReport = (request: HttpRequest): Promise<HttpResponseInit> => reportById(request, request.params.id);

/** `GET /api/reports/access`: effective access per key, from the latest run's inventory and today's grants. */
export async function accessReportPage(request: HttpRequest): Promise<HttpResponseInit> {
  const allowed = overseerOnly(request);
  if ('refused' in allowed) return allowed.refused;
  const { policy, reconciliation, reconcileSettings } = appContext();
  const key = request.query.get('key') ?? undefined;
  const inventory = await reconciliation().latestInventory();
  if (!inventory) return noInventory();
  const keys = key === undefined ? inventory.keys : inventory.keys.filter((k) => k.name === key);
  if (key !== undefined && keys.length === 0) return problemResponse(404, 'key-not-found', `No key '${key}' in the inventory`);
  const now = new Date();
  const report = accessReport({
    policy, hsm: inventory.run.hsm, keys, assignments: inventory.assignments, roleDefinitions: inventory.run.roleDefinitions, requests: inventory.requests,
    items: inventory.items, ...(reconcileSettings.serviceObjectId ? { serviceObjectId: reconcileSettings.serviceObjectId } : {}), now,
  });
  const page = accessReportBody(inventory.run, now, report, azureRbacGrants(policy, inventory.requests, now));
  return wantsHtml(request) ? reportPage(request, (frame) => accessPage(policy, page, frame)) : json(200, page);
}

/** `GET /api/reports/keys?days=30`: keys expiring soon, without expiry, or not rotated. */
export async function keysReportPage(request: HttpRequest): Promise<HttpResponseInit> {
  const allowed = overseerOnly(request);
  if ('refused' in allowed) return allowed.refused;
  const { policy, reconciliation } = appContext();
  const rawDays = request.query.get('days');
  const days = rawDays === null ? Math.round(policy.reconcile.keyExpiryWarningMs / 86_400_000) : Number(rawDays);
  if (!Number.isInteger(days) || days < 0 || days > 3650) return problemResponse(400, 'invalid-query', 'days must be a whole number from 0 to 3650');
  const inventory = await reconciliation().latestInventory();
  if (!inventory) return noInventory();
  const report = keysReport(inventory.keys, days, policy.reconcile.keyRotationPeriodMs, new Date());
  const asOf = inventory.run.finishedAt ?? inventory.run.startedAt;
  return wantsHtml(request) ? reportPage(request, (frame) => keysPage(asOf, report, frame)) : json(200, { hsm: inventory.run.hsm, runId: inventory.run.id, asOf, ...report });
}

app.http('reconcile', { methods: ['POST'], authLevel: 'anonymous', route: 'api/reconcile', handler: endpoint(reconcileNow) });
app.http('reconcileLatestReport', { methods: ['GET'], authLevel: 'anonymous', route: 'api/reconcile/reports/latest', handler: endpoint(forBrowsers(latestReport)) });
app.http('reconcileReport', { methods: ['GET'], authLevel: 'anonymous', route: 'api/reconcile/reports/{id}', handler: endpoint(forBrowsers(runReport)) });
app.http('accessReport', { methods: ['GET'], authLevel: 'anonymous', route: 'api/reports/access', handler: endpoint(forBrowsers(accessReportPage)) });
app.http('keysReport', { methods: ['GET'], authLevel: 'anonymous', route: 'api/reports/keys', handler: endpoint(forBrowsers(keysReportPage)) });
app.storageQueue('reconcile-continue', { queueName: RECONCILE_QUEUE, connection: 'AzureWebJobsStorage', handler: continueRun });
app.timer('reconcile-nightly', { schedule: '%RECONCILE_SCHEDULE%', runOnStartup: false, handler: reconcileNightly });
