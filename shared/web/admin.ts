/**
 * The pages for HSM administrators and auditors: every grant running now on both planes (from the
 * service's own records at the time of the request), and the audit trail with its filters, pages
 * and CSV export. GET only: nothing here changes anything.
 */
import {
  AUDIT_CSV_HEADER, AUDIT_PAGE_DEFAULT, REQUEST_STATUSES, SYSTEM_ACTOR, auditCsvRows, mayReadAuditTrail, mayReadReports, parseAuditQuery, runningGrants, toCsv, wallTimeIn,
  type AccessRequest, type AuditFilter, type ChainedAuditRecord, type Policy,
} from '../domain';
import type { AccessRequestService } from '../services/accessRequests';
import type { Clock } from '../services/ports';
import type { Viewer } from './portal';
import { durationInWords, requestPath } from './requestViews';
import { refusalPage } from './reports';
import { page, template } from './templates';

/** The most records one CSV holds. */
export const AUDIT_CSV_MAX = 50_000;
/** The audit page opens on the last week. */
const DEFAULT_RANGE_MS = 7 * 86_400_000;
const SYSTEM_ACTORS: ReadonlyArray<{ value: string; label: string }> = [
  { value: 'system:reconcile-timer', label: 'The nightly reconciliation' },
  { value: SYSTEM_ACTOR, label: 'The service itself' },
];

export interface OversightDependencies {
  readonly policy: Policy;
  readonly requests: AccessRequestService;
  /** The governed HSM's key names (cached); empty when they cannot be listed. */
  readonly keyNames: () => Promise<string[]>;
  readonly clock: Clock;
}

export interface PageAnswer { readonly status: number; readonly body: string }
export type CsvAnswer = { readonly ok: true; readonly csv: string; readonly filename: string; readonly truncated: boolean } | { readonly ok: false; readonly answer: PageAnswer };

interface GrantRow { readonly where: string; readonly role: string; readonly scope: string; readonly grantee: string; readonly requestedBy: string; readonly grantedAt?: string; readonly expiresAt?: string; readonly left: string; readonly link: string }

const GRANTS = template<{ hsm: GrantRow[]; arm: GrantRow[]; asOf: string }>(`<h1>Running grants</h1>
<p>Every grant running now, on the HSMs' local RBAC and on Azure RBAC, from the service's own records as of {{time asOf}}. Standing assignments and drift are in the <a href="/api/reports/access">access report</a>.</p>
<h2 id="hsm">HSM local RBAC ({{hsm.length}})</h2>
{{#if hsm}}<table><thead><tr><th scope="col">HSM</th><th scope="col">Role</th><th scope="col">Scope</th><th scope="col">For</th><th scope="col">Asked by</th><th scope="col">Since</th><th scope="col">Ends</th><th scope="col">Time left</th><th scope="col">Request</th></tr></thead><tbody>
{{#each hsm}}<tr><td data-label="HSM">{{where}}</td><td data-label="Role">{{role}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="For">{{text grantee}}</td><td data-label="Asked by">{{text requestedBy}}</td><td data-label="Since">{{time grantedAt}}</td><td data-label="Ends">{{time expiresAt}}</td><td data-label="Time left"><span data-expires="{{expiresAt}}">{{left}}</span></td><td data-label="Request"><a href="{{link}}">Open the request<span class="visually-hidden"> for {{role}} on {{scope}}</span></a></td></tr>{{/each}}
</tbody></table>{{else}}<p>No grant is running on an HSM.</p>{{/if}}
<h2 id="azure-rbac">Azure RBAC ({{arm.length}})</h2>
{{#if arm}}<table><thead><tr><th scope="col">Role</th><th scope="col">Scope</th><th scope="col">For</th><th scope="col">Asked by</th><th scope="col">Since</th><th scope="col">Ends</th><th scope="col">Time left</th><th scope="col">Request</th></tr></thead><tbody>
{{#each arm}}<tr><td data-label="Role">{{role}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="For">{{text grantee}}</td><td data-label="Asked by">{{text requestedBy}}</td><td data-label="Since">{{time grantedAt}}</td><td data-label="Ends">{{time expiresAt}}</td><td data-label="Time left"><span data-expires="{{expiresAt}}">{{left}}</span></td><td data-label="Request"><a href="{{link}}">Open the request<span class="visually-hidden"> for {{role}} on {{scope}}</span></a></td></tr>{{/each}}
</tbody></table>{{else}}<p>No grant is running on Azure RBAC.</p>{{/if}}`);

interface Choice { readonly value: string; readonly label: string; readonly selected: boolean }
interface AuditRow { readonly at: string; readonly who: string; readonly action: string; readonly requestId: string; readonly scope: string; readonly change: string; readonly reason: string; readonly link?: string }
interface AuditView {
  readonly error?: string; readonly who: Choice[]; readonly actions: Choice[]; readonly keys: Choice[]; readonly keyText: string; readonly requestId: string;
  readonly from: string; readonly to: string; readonly tz: string; readonly rows: AuditRow[]; readonly summary: string; readonly next?: string; readonly first?: string; readonly csv: string;
}

const AUDIT = template<AuditView>(`<h1>Audit trail</h1>
{{#if error}}<div class="error" role="alert"><p>The filter was not applied: {{text error}}</p></div>{{/if}}
<form method="get" action="/audit" role="search" aria-label="Filter the audit trail">
<div class="filters">
<div><label for="who">Who (acted, or was the grantee)</label><select id="who" name="who">{{#each who}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select></div>
<div><label for="action">What</label><select id="action" name="action">{{#each actions}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select></div>
<div><label for="key">Key</label>{{#if keys}}<select id="key" name="key">{{#each keys}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>{{else}}<input id="key" name="key" value="{{keyText}}" maxlength="127" pattern="[0-9A-Za-z\\-]+">{{/if}}</div>
<div><label for="requestId">Request or run id</label><input id="requestId" name="requestId" value="{{requestId}}" maxlength="200"></div>
<div><label for="from">From</label><input id="from" name="from" type="datetime-local" value="{{from}}" aria-describedby="tz-hint"></div>
<div><label for="to">Until (not included)</label><input id="to" name="to" type="datetime-local" value="{{to}}" aria-describedby="tz-hint"></div>
</div>
<input type="hidden" name="tz" value="{{tz}}">
<p id="tz-hint" class="hint">Times are in your time zone (in UTC when JavaScript is off). Leave a time empty for no limit.</p>
<p><button type="submit">Show</button> <a href="{{csv}}" download>Download these records as CSV</a></p>
</form>
<h2 id="records">Records</h2>
<p role="status">{{summary}}</p>
{{#if rows}}<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Key or scope</th><th scope="col">Change</th><th scope="col">Reason</th><th scope="col">Request</th></tr></thead><tbody>
{{#each rows}}<tr><td data-label="When">{{time at}}</td><td data-label="Who">{{text who}}</td><td data-label="What">{{action}}</td><td data-label="Key or scope"><code>{{scope}}</code></td><td data-label="Change">{{change}}</td><td data-label="Reason">{{text reason}}</td><td data-label="Request">{{#if link}}<a href="{{link}}"><code>{{requestId}}</code></a>{{else}}<code>{{requestId}}</code>{{/if}}</td></tr>{{/each}}
</tbody></table>{{/if}}
{{#if next}}<p><a href="{{next}}" rel="next">Next page</a>{{#if first}} · <a href="{{first}}">First page</a>{{/if}}</p>{{else}}{{#if first}}<p><a href="{{first}}">First page</a></p>{{/if}}{{/if}}`);

const ACTION_CHOICES: ReadonlyArray<{ value: string; label: string }> = [
  { value: 'request', label: 'Requests: every change' },
  { value: 'request.created', label: 'Request asked for' },
  ...REQUEST_STATUSES.map((s) => ({ value: `request.${s.toLowerCase()}`, label: `Request became ${s}` })),
  { value: 'request.updated', label: 'Request updated (extension asked, comments)' },
  { value: 'request.rejected', label: 'Request refused when asked' },
  { value: 'reconcile', label: 'Reconciliation: every record' },
  { value: 'reconcile.removed', label: 'Reconciliation removed an assignment' },
  { value: 'reconcile.created', label: 'Reconciliation re-created an assignment' },
  { value: 'reconcile.completed', label: 'Reconciliation run completed' },
  { value: 'notification', label: 'Notifications that failed' },
  { value: 'audit', label: 'Audit chain anchors' },
];

export class OversightPages {
  constructor(private readonly deps: OversightDependencies) {}

  private name(objectId: string): string {
    const principal = Object.values(this.deps.policy.principals).find((p) => p.objectId === objectId.toLowerCase());
    return principal?.displayName ?? principal?.alias ?? SYSTEM_ACTORS.find((a) => a.value === objectId)?.label ?? objectId;
  }

  private frame(viewer: Viewer, title: string, path: string): { title: string; path: string; nonce: string; signedIn?: string } {
    return { title, path, nonce: viewer.scriptNonce, ...(viewer.name ? { signedIn: viewer.name } : {}) };
  }

  private refused(viewer: Viewer, detail: string): PageAnswer {
    return { status: 403, body: refusalPage(403, detail, '/.auth/logout', { nonce: viewer.scriptNonce, overseer: false, ...(viewer.name ? { signedIn: viewer.name } : {}) }) };
  }

  /** `GET /grants` */
  async grants(viewer: Viewer): Promise<PageAnswer> {
    if (!mayReadReports(this.deps.policy, viewer.caller)) return this.refused(viewer, 'Running grants are for HSM administrators and auditors');
    const active: AccessRequest[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.deps.requests.list(viewer.caller, { status: 'Active', pageSize: 200, ...(continuation ? { continuation } : {}) });
      if (!page.ok) return this.refused(viewer, page.detail);
      active.push(...page.value.items);
      continuation = page.value.continuation;
    } while (continuation);
    const now = this.deps.clock.now();
    const row = (r: AccessRequest): GrantRow => ({
      where: r.hsm, role: r.role, scope: r.scope, grantee: this.name(r.principalId), requestedBy: this.name(r.requestedBy), link: requestPath(r.id),
      left: `${durationInWords(Math.max(0, Date.parse(r.expiresAt ?? '') - now.getTime()))} left`,
      ...(r.grantedAt ? { grantedAt: r.grantedAt } : {}), ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
    });
    const byEnd = (a: AccessRequest, b: AccessRequest): number => (a.expiresAt ?? '').localeCompare(b.expiresAt ?? '');
    const body = GRANTS({ asOf: now.toISOString(), hsm: runningGrants(active, now, 'hsm').sort(byEnd).map(row), arm: runningGrants(active, now, 'azure-rbac').sort(byEnd).map(row) });
    return { status: 200, body: page(this.frame(viewer, 'Running grants', '/grants'), body) };
  }

  /** `GET /audit`: the filter form and one page of records. */
  async audit(viewer: Viewer, params: URLSearchParams): Promise<PageAnswer> {
    if (!mayReadAuditTrail(this.deps.policy, viewer.caller)) return this.refused(viewer, 'The audit trail is for HSM administrators and auditors');
    const query = this.query(params);
    const tz = query.ok ? (params.get('tz') || 'UTC') : 'UTC';
    const filter = query.ok ? query.filter : {};
    let records: ChainedAuditRecord[] = [];
    let next: string | undefined;
    if (query.ok) {
      const found = await this.deps.requests.auditPage(viewer.caller, { filter, limit: query.limit ?? AUDIT_PAGE_DEFAULT, ...(query.continuation ? { continuation: query.continuation } : {}) });
      if (!found.ok) return this.refused(viewer, found.detail);
      records = found.value.records;
      next = found.value.continuation;
    }
    const keys = await this.deps.keyNames().catch(() => [] as string[]);
    const key = filter.scope?.startsWith('/keys/') ? filter.scope.slice('/keys/'.length) : '';
    const links = filterParams(filter, tz);
    const view: AuditView = {
      ...(query.ok ? {} : { error: query.detail }),
      who: choices([{ value: '', label: 'Anyone' }, ...principalChoices(this.deps.policy), ...SYSTEM_ACTORS], whoValue(this.deps.policy, filter.who)),
      actions: choices([{ value: '', label: 'Anything' }, ...ACTION_CHOICES], filter.action ?? ''),
      keys: keys.length > 0 ? choices([{ value: '', label: 'Any key' }, ...[...keys].sort().map((k) => ({ value: k, label: k }))], key) : [],
      keyText: key, requestId: filter.requestId ?? '', tz,
      from: filter.from ? wallTimeIn(filter.from, tz) : '', to: filter.to ? wallTimeIn(filter.to, tz) : '',
      rows: records.map((r) => this.auditRow(r)),
      summary: `${records.length === 0 ? 'No record' : `${records.length} record${records.length === 1 ? '' : 's'}`}${describe(filter, this.name.bind(this))}, oldest first${query.ok && query.continuation ? ' (a later page)' : ''}.`,
      csv: `/audit.csv?${links}`,
      ...(next ? { next: `/audit?${links}&continuation=${encodeURIComponent(next)}#records` } : {}),
      ...(query.ok && query.continuation ? { first: `/audit?${links}#records` } : {}),
    };
    return { status: query.ok ? 200 : 400, body: page(this.frame(viewer, 'Audit trail', '/audit'), AUDIT(view)) };
  }

  /** `GET /audit.csv`: every record the filter selects (up to AUDIT_CSV_MAX), as CSV. */
  async auditCsv(viewer: Viewer, params: URLSearchParams): Promise<CsvAnswer> {
    if (!mayReadAuditTrail(this.deps.policy, viewer.caller)) return { ok: false, answer: this.refused(viewer, 'The audit trail is for HSM administrators and auditors') };
    const query = this.query(params);
    if (!query.ok) return { ok: false, answer: { status: 400, body: refusalPage(400, `The filter is not valid: ${query.detail}`, undefined, { nonce: viewer.scriptNonce }) } };
    const all = await this.deps.requests.auditAll(viewer.caller, query.filter, AUDIT_CSV_MAX);
    if (!all.ok) return { ok: false, answer: this.refused(viewer, all.detail) };
    const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '');
    const filename = `audit-trail${query.filter.scope?.startsWith('/keys/') ? `-${query.filter.scope.slice(6)}` : ''}${query.filter.from || query.filter.to ? `-${day(query.filter.from)}_${day(query.filter.to)}` : ''}.csv`;
    return { ok: true, csv: toCsv(AUDIT_CSV_HEADER, auditCsvRows(all.value.records)), filename, truncated: all.value.truncated };
  }

  /** The form's filter: the last week when the page is opened without one. */
  private query(params: URLSearchParams): ReturnType<typeof parseAuditQuery> {
    const opened = !params.has('from') && !params.has('to') && !params.has('continuation');
    const from = opened ? new Date(this.deps.clock.now().getTime() - DEFAULT_RANGE_MS).toISOString() : params.get('from');
    return parseAuditQuery((name) => (name === 'from' ? from : params.get(name)), this.deps.policy);
  }

  private auditRow(r: ChainedAuditRecord): AuditRow {
    const scope = typeof r.details?.scope === 'string' ? r.details.scope : '';
    return {
      at: r.at, who: this.name(r.actor), action: r.action, requestId: r.requestId, scope,
      change: r.from && r.to ? `${r.from} → ${r.to}` : r.to ?? '', reason: r.reason ?? '',
      ...(r.action.startsWith('request.') && r.action !== 'request.rejected' ? { link: requestPath(r.requestId) } : r.action.startsWith('reconcile.') ? { link: `/api/reconcile/reports/${encodeURIComponent(r.requestId)}` } : {}),
    };
  }
}

function choices(options: ReadonlyArray<{ value: string; label: string }>, selected: string): Choice[] {
  return options.map((o) => ({ ...o, selected: o.value === selected }));
}

function principalChoices(policy: Policy): Array<{ value: string; label: string }> {
  return Object.values(policy.principals).filter((p) => p.type !== 'Group').map((p) => ({ value: p.alias, label: p.displayName ?? p.alias })).sort((a, b) => a.label.localeCompare(b.label));
}

/** The form's value for a filter's `who`: the policy's alias when it knows the object id. */
function whoValue(policy: Policy, who: string | undefined): string {
  if (!who) return '';
  return Object.values(policy.principals).find((p) => p.objectId === who)?.alias ?? who;
}

/** The filter as the links of the page carry it (ISO instants, so that the zone no longer matters). */
function filterParams(filter: AuditFilter, tz: string): string {
  const params = new URLSearchParams();
  params.set('from', filter.from ?? '');
  params.set('to', filter.to ?? '');
  if (filter.who) params.set('who', filter.who);
  if (filter.action) params.set('action', filter.action);
  if (filter.scope?.startsWith('/keys/')) params.set('key', filter.scope.slice('/keys/'.length));
  else if (filter.scope) params.set('scope', filter.scope);
  if (filter.requestId) params.set('requestId', filter.requestId);
  params.set('tz', tz);
  return params.toString();
}

function describe(filter: AuditFilter, name: (id: string) => string): string {
  const parts = [
    filter.who ? ` by or for ${name(filter.who)}` : '',
    filter.action ? ` of ${filter.action}` : '',
    filter.scope ? ` about ${filter.scope}` : '',
    filter.requestId ? ` of request ${filter.requestId}` : '',
    filter.from ? ` from ${filter.from.slice(0, 16).replace('T', ' ')} UTC` : '',
    filter.to ? ` until ${filter.to.slice(0, 16).replace('T', ' ')} UTC` : '',
  ];
  return parts.join('');
}
