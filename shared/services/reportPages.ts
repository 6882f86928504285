/** Plain server-rendered HTML for the reports: readable on a phone, no script, escaped throughout. */
import type { AzureRbacGrant, DriftItem, KeyAccess, KeysReport } from '../domain';
import { escapeHtml } from './html';
import type { ReconcileRun } from './reconciliationPorts';
import type { AuditorsUsageReport } from './evidence';


function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #8a8a8a;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#ececec}code{font-size:.9em;word-break:break-all}.kind{font-weight:600}
.drift{background:#fde7e9}.ok{color:#0b6a0b}.warn{color:#8a3c00}
@media (max-width:40rem){table,thead,tbody,tr,th,td{display:block}th{display:none}td{border:0;border-bottom:1px solid #ccc}}
</style></head><body><main>
${body}
</main></body></html>`;
}

function table(headers: readonly string[], rows: readonly (readonly string[])[], rowClass: (i: number) => string = () => ''): string {
  if (rows.length === 0) return '<p class="ok">None.</p>';
  const head = headers.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r, i) => `<tr${rowClass(i) ? ` class="${rowClass(i)}"` : ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Which RBAC an item or action is on, as the report names it. */
function planeName(plane: string | undefined): string {
  return plane === 'azure-rbac' ? 'Azure RBAC' : 'HSM';
}

/** What a browser is shown instead of a 403 or 404 problem: the same words, as a page. */
export function refusalPage(status: number, detail: string, signOut?: string): string {
  const title = status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Not available';
  const switchAccount = signOut ? `<p>Signed in with another account than you meant? <a href="${escapeHtml(signOut)}">Sign out</a> and sign in again.</p>` : '';
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p>${switchAccount}`);
}

export function runPage(run: ReconcileRun, items: readonly DriftItem[]): string {
  const counts = Object.entries(run.counts ?? {}).map(([k, v]) => [escapeHtml(k), escapeHtml(v)]);
  const facts = table(['', ''], [
    ['Run', `<code>${escapeHtml(run.id)}</code>`], ['HSM', escapeHtml(run.hsm)], ['Mode', escapeHtml(run.mode)], ['Status', escapeHtml(`${run.status} (${run.phase})`)],
    ['Requested by', `<code>${escapeHtml(run.requestedBy)}</code>`], ['Started', escapeHtml(run.startedAt)], ['Finished', escapeHtml(run.finishedAt ?? '—')],
    ['Time worked', escapeHtml(`${(run.durationMs / 1000).toFixed(1)} s over ${run.executions} execution(s)`)], ['HSM calls', escapeHtml(`${run.hsmCalls} (${run.hsmThrottled} throttled)`)],
    ['Keys', escapeHtml(run.keyCount)], ...(run.refused ? [['Apply refused', `<span class="warn">${escapeHtml(run.refused.detail)}</span>`]] : []),
    ...(run.planes ?? []).map((p) => [escapeHtml(planeName(p.plane)), `${escapeHtml(`${p.itemCount} item(s) on ${p.scopes.length} scope(s)`)}${p.refused ? ` <span class="warn">${escapeHtml(`apply refused: ${p.refused.detail}`)}</span>` : ''}`]),
    ...(run.error ? [[run.status === 'failed' ? 'Failed' : 'Last error', `<span class="warn">${escapeHtml(`${run.error} (${run.failedAttempts ?? 0} failed attempt(s) in a row)`)}</span>`]] : []),
  ]);
  const itemRows = items.map((i) => [`<span class="kind">${escapeHtml(i.kind)}</span>`, escapeHtml(planeName(i.plane)), escapeHtml(i.principal ?? i.principalId), escapeHtml(i.role), `<code>${escapeHtml(i.scope)}</code>`, `<code>${escapeHtml(i.assignmentName || i.createName || '')}</code>`, escapeHtml(i.reason), escapeHtml(i.action)]);
  const actionRows = run.actions.map((a) => [escapeHtml(a.action), escapeHtml(planeName(a.plane)), escapeHtml(a.kind), `<code>${escapeHtml(a.scope)}</code>`, `<code>${escapeHtml(a.assignmentName)}</code>`, escapeHtml(a.detail ?? ''), escapeHtml(a.at)]);
  return page(`Drift report ${run.id}`, `<h1>Drift report</h1>${facts}
<h2>Drift by kind</h2>${table(['Kind', 'Count'], counts)}
<h2>Items</h2>${table(['Kind', 'Plane', 'Principal', 'Role', 'Scope', 'Assignment', 'Reason', 'Repair'], itemRows, () => 'drift')}
<h2>Actions taken</h2>${table(['Action', 'Plane', 'Kind', 'Scope', 'Assignment', 'Detail', 'At'], actionRows)}`);
}

/** The access report as JSON and HTML show it: each part says what it is as of. */
export interface AccessReportBody {
  readonly hsm: string;
  readonly runId: string;
  /** The inventory's time (the last reconciliation's end); kept under its old name too. */
  readonly asOf: string;
  readonly inventoryAsOf: string;
  /** Running grants come from the service's own records at the time of the request. */
  readonly grantsAsOf: string;
  readonly keys: readonly KeyAccess[];
  /** The management plane's running grants (Azure RBAC), as of `grantsAsOf`. */
  readonly azureRbac: readonly AzureRbacGrant[];
}

export function accessReportBody(run: Pick<ReconcileRun, 'hsm' | 'id' | 'startedAt' | 'finishedAt'>, now: Date, keys: readonly KeyAccess[], azureRbac: readonly AzureRbacGrant[]): AccessReportBody {
  const asOf = run.finishedAt ?? run.startedAt;
  return { hsm: run.hsm, runId: run.id, asOf, inventoryAsOf: asOf, grantsAsOf: now.toISOString(), keys, azureRbac };
}

function basisText(a: KeyAccess['access'][number], grantsAsOf: string): string {
  const basis = a.basis + (a.driftKind ? ` (${a.driftKind})` : '') + (a.expiresAt ? ` until ${a.expiresAt}` : '');
  return a.source === 'running-grant' ? `${basis}; granted after the inventory (service records as of ${grantsAsOf})` : basis;
}

export function accessPage(report: AccessReportBody): string {
  const sections = report.keys.map((k) => {
    const rows = k.access.map((a) => [escapeHtml(a.principal ?? a.principalId), escapeHtml(a.role), `<code>${escapeHtml(a.assignedAt)}</code>`,
      escapeHtml(basisText(a, report.grantsAsOf)), escapeHtml(a.dataActions.map((d) => d.replace(/^Microsoft\.KeyVault\/managedHsm\//, '')).join(', '))]);
    return `<h2>Key <code>${escapeHtml(k.key)}</code></h2>${table(['Principal', 'Role', 'Assigned at', 'Basis', 'Data actions'], rows, (i) => (k.access[i]?.basis === 'drift' ? 'drift' : ''))}`;
  }).join('\n');
  const arm = report.azureRbac.map((g) => [escapeHtml(g.principal ?? g.principalId), escapeHtml(g.role), `<code>${escapeHtml(g.scope)}</code>`, escapeHtml(g.expiresAt ?? ''), `<code>${escapeHtml(g.requestId)}</code>`]);
  return page('Who can do what on each key', `<h1>Who can do what on each key</h1>
<p>Role assignments on the HSM as of <strong>${escapeHtml(report.inventoryAsOf)}</strong> (the inventory of reconciliation run <code>${escapeHtml(report.runId)}</code>).
Grants as of <strong>${escapeHtml(report.grantsAsOf)}</strong> (the service's own records when this page was made): a grant that started after the inventory is listed as such.</p>${sections}
<h2>Azure RBAC grants (management plane)</h2><p>Running as of ${escapeHtml(report.grantsAsOf)}.</p>${table(['Principal', 'Role', 'Scope', 'Until', 'Request'], arm)}`);
}

export function keysPage(asOf: string, report: KeysReport): string {
  return page('Key expiry and rotation', `<h1>Key expiry and rotation</h1><p>Inventory as of ${escapeHtml(asOf)}.</p>
<h2>Expiring within ${escapeHtml(report.expiringWithinDays)} days</h2>${table(['Key', 'Expires', 'Days left'], report.expiringSoon.map((k) => [escapeHtml(k.name), escapeHtml(k.expiresOn), escapeHtml(k.daysLeft)]))}
<h2>Expired</h2>${table(['Key', 'Expired'], report.expired.map((k) => [escapeHtml(k.name), escapeHtml(k.expiresOn)]))}
<h2>Without an expiry</h2>${table(['Key'], report.withoutExpiry.map((k) => [escapeHtml(k)]))}
<h2>Not rotated for more than ${escapeHtml(report.rotationPeriodDays)} days</h2>${table(['Key', 'Current version created', 'Age (days)'], report.notRotated.map((k) => [escapeHtml(k.name), escapeHtml(k.createdOn), escapeHtml(k.ageDays)]))}`);
}

const minutes = (ms: number | undefined): string => (ms === undefined ? '' : `${Math.round(ms / 60_000)} min`);

/** `GET /api/reports/usage` as a page: the same content as its JSON. */
export function usagePage(report: AuditorsUsageReport): string {
  const grants = report.grants.map((g) => [`<code>${escapeHtml(g.id)}</code>`, escapeHtml(g.ruleId), `<code>${escapeHtml(g.principalId)}</code>`, escapeHtml(`${g.role} on ${g.scope}`), escapeHtml(g.grantedAt),
    g.used ? escapeHtml(g.operations.map((o) => `${o.operation} ${o.key} x${o.count} (${o.firstUse} to ${o.lastUse})`).join('; ')) : '<span class="warn">not used</span>', escapeHtml(minutes(g.firstUseAfterMs))]);
  const rules = report.rules.map((r) => [escapeHtml(r.ruleId), escapeHtml(r.grants), escapeHtml(r.used), escapeHtml(minutes(r.medianGrantedMs)), escapeHtml(minutes(r.longestUseMs)), escapeHtml(r.suggestion ?? '')]);
  const refused = report.refusedAttempts.map((r) => [`<code>${escapeHtml(r.principalId)}</code>`, escapeHtml(r.key), escapeHtml(r.count), escapeHtml(r.firstAttempt), escapeHtml(r.lastAttempt), r.persistent ? '<span class="warn">persistent</span>' : '']);
  const calls = (list: AuditorsUsageReport['outsideAnyGrant']): string[][] => list.map((c) => [escapeHtml(c.time), `<code>${escapeHtml(c.principalId)}</code>`, escapeHtml(c.operation), escapeHtml(c.key ?? c.scope ?? ''), `<code>${escapeHtml(c.correlationId)}</code>`]);
  return page('Key usage under grants', `<h1>Key usage under grants</h1>
${report.evidence ? '' : '<p class="warn">The HSM\'s audit log is not read (AUDIT_LOGS_STORAGE is not set): every grant shows as unused.</p>'}
<p>${escapeHtml(report.used)} grant(s) used, ${escapeHtml(report.unused)} not used.</p>
<h2>Use outside any grant (strongest drift signal)</h2>${table(['At', 'Principal', 'Operation', 'Key', 'Correlation id'], calls(report.outsideAnyGrant), () => 'drift')}
<h2>Grants</h2>${table(['Request', 'Rule', 'Grantee', 'Access', 'Granted', 'Operations', 'First use after'], grants)}
<h2>Rules: right-sizing</h2>${table(['Rule', 'Grants', 'Used', 'Median granted', 'Longest use', 'Suggestion'], rules)}
<h2>Refused attempts</h2>${table(['Principal', 'Key', 'Refused', 'First', 'Last', ''], refused)}
<h2>Role assignments changed outside the service</h2>${table(['At', 'By', 'Operation', 'Scope', 'Correlation id'], calls(report.assignmentChanges), () => 'drift')}`);
}
