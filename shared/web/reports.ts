/**
 * The reports (reconciliation runs, who can do what on each key, key expiry and rotation) and the
 * page a browser gets instead of a refusal, in the portal's layout: one header and navigation,
 * Handlebars escaping every value, tables that reflow into labelled lines on a phone.
 */
import { CAPABILITIES, capabilityMatrix, type AccessBasis, type DriftItem, type KeysReport, type Policy } from '../domain';
import type { AccessReportBody } from '../services/reportPages';
import type { ReconcileRun } from '../services/reconciliationPorts';
import { page, template, type PageFrame } from './templates';

/** What the function adds to a page: the script nonce and who is signed in. */
export type ReportFrame = Omit<PageFrame, 'title' | 'path'>;

const planeName = (plane: string | undefined): string => (plane === 'azure-rbac' ? 'Azure RBAC' : 'HSM');

const REFUSAL = template<{ title: string; detail: string; signOut?: string }>(`<h1>{{title}}</h1><p>{{text detail}}</p>
{{#if signOut}}<p>Signed in with another account than you meant? <a href="{{signOut}}">Sign out</a> and sign in again.</p>{{/if}}`);

/** What a browser is shown instead of a 403 or 404 problem: the same words, as a page. */
export function refusalPage(status: number, detail: string, signOut?: string, frame: ReportFrame = {}): string {
  const title = status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Not available';
  return page({ ...frame, title }, REFUSAL({ title, detail, ...(signOut ? { signOut } : {}) }));
}

interface Fact { readonly name: string; readonly value: string; readonly code?: boolean; readonly warn?: boolean; readonly time?: string }

const RUN = template<{ facts: Fact[]; counts: Array<{ kind: string; count: number }>; items: object[]; actions: object[] }>(`<h1>Drift report</h1>
<table><caption class="visually-hidden">The run</caption><tbody>{{#each facts}}<tr><th scope="row">{{name}}</th><td>{{#if time}}{{time time}}{{else}}{{#if warn}}<span class="warn">{{text value}}</span>{{else}}{{#if code}}<code>{{value}}</code>{{else}}{{text value}}{{/if}}{{/if}}{{/if}}</td></tr>{{/each}}</tbody></table>
<h2>Drift by kind</h2>
{{#if counts}}<table><thead><tr><th scope="col">Kind</th><th scope="col">Count</th></tr></thead><tbody>{{#each counts}}<tr><td data-label="Kind">{{kind}}</td><td data-label="Count">{{count}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Items</h2>
{{#if items}}<table><thead><tr><th scope="col">Kind</th><th scope="col">Plane</th><th scope="col">Principal</th><th scope="col">Role</th><th scope="col">Scope</th><th scope="col">Assignment</th><th scope="col">Reason</th><th scope="col">Repair</th></tr></thead><tbody>
{{#each items}}<tr class="drift"><td data-label="Kind"><strong>{{kind}}</strong></td><td data-label="Plane">{{plane}}</td><td data-label="Principal">{{principal}}</td><td data-label="Role">{{text role}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="Assignment"><code>{{assignment}}</code></td><td data-label="Reason">{{text reason}}</td><td data-label="Repair">{{action}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Actions taken</h2>
{{#if actions}}<table><thead><tr><th scope="col">Action</th><th scope="col">Plane</th><th scope="col">Kind</th><th scope="col">Scope</th><th scope="col">Assignment</th><th scope="col">Detail</th><th scope="col">At</th></tr></thead><tbody>
{{#each actions}}<tr><td data-label="Action">{{action}}</td><td data-label="Plane">{{plane}}</td><td data-label="Kind">{{kind}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="Assignment"><code>{{assignmentName}}</code></td><td data-label="Detail">{{text detail}}</td><td data-label="At">{{time at}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}`);

export function runPage(run: ReconcileRun, items: readonly DriftItem[], frame: ReportFrame = {}): string {
  const facts: Fact[] = [
    { name: 'Run', value: run.id, code: true }, { name: 'HSM', value: run.hsm }, { name: 'Mode', value: run.mode }, { name: 'Status', value: `${run.status} (${run.phase})` },
    { name: 'Requested by', value: run.requestedBy, code: true }, { name: 'Started', value: run.startedAt, time: run.startedAt },
    run.finishedAt ? { name: 'Finished', value: run.finishedAt, time: run.finishedAt } : { name: 'Finished', value: '—' },
    { name: 'Time worked', value: `${(run.durationMs / 1000).toFixed(1)} s over ${run.executions} execution(s)` }, { name: 'HSM calls', value: `${run.hsmCalls} (${run.hsmThrottled} throttled)` },
    { name: 'Keys', value: String(run.keyCount) }, ...(run.refused ? [{ name: 'Apply refused', value: run.refused.detail, warn: true }] : []),
    ...(run.planes ?? []).map((p) => ({ name: planeName(p.plane), value: `${p.itemCount} item(s) on ${p.scopes.length} scope(s)${p.refused ? `; apply refused: ${p.refused.detail}` : ''}`, warn: p.refused !== undefined })),
    ...(run.error ? [{ name: run.status === 'failed' ? 'Failed' : 'Last error', value: `${run.error} (${run.failedAttempts ?? 0} failed attempt(s) in a row)`, warn: true }] : []),
  ];
  const body = RUN({
    facts,
    counts: Object.entries(run.counts ?? {}).map(([kind, count]) => ({ kind, count })),
    items: items.map((i) => ({ kind: i.kind, plane: planeName(i.plane), principal: i.principal ?? i.principalId, role: i.role, scope: i.scope, assignment: i.assignmentName || i.createName || '', reason: i.reason, action: i.action })),
    actions: run.actions.map((a) => ({ ...a, plane: planeName(a.plane), detail: a.detail ?? '' })),
  });
  return page({ ...frame, title: `Drift report ${run.id}`, path: '/api/reconcile/reports/latest' }, body);
}

const BASIS: Record<AccessBasis, string> = { standing: 'standing', 'just-in-time': 'just-in-time', drift: 'drift', protected: 'protected' };

interface SourceView { readonly afterInventory: boolean; readonly basis: string; readonly drift: boolean; readonly via?: string; readonly expiresAt?: string; readonly role: string; readonly assignedAt: string; readonly dataActions: readonly string[] }
interface HolderView { readonly name: string; readonly kind?: string; readonly canGrantItself: boolean; readonly drift: boolean; readonly cells: Array<{ label: string; sources: SourceView[] }>; readonly sources: SourceView[] }

const ACCESS = template<{ report: AccessReportBody; capabilities: typeof CAPABILITIES; keys: Array<{ key: string; holders: HolderView[] }>; arm: object[] }>(`<h1>Who can do what on each key</h1>
<p>Role assignments on the HSM as of {{time report.inventoryAsOf}} (the inventory of reconciliation run <code>{{report.runId}}</code>).
Grants as of {{time report.grantsAsOf}} (the service's own records when this page was made): a grant that started after the inventory is listed as such.</p>
<p class="note"><strong>Holders of Managed HSM Administrator can grant themselves any role</strong>, and so can every holder of a role that writes role assignments or role definitions (Crypto Officer, Policy Administrator, such custom roles): whatever the matrix shows them without, they are one role assignment away from it. They are marked "can grant itself any role".</p>
<p>Each cell says where the capability comes from: <strong>standing</strong> (the policy's standing assignments), <strong>just-in-time</strong> (an approved grant, until it ends), <strong>protected</strong> (an assignment the policy keeps, such as break-glass) or <strong>drift</strong> (an assignment nobody approved). A group's assignment is shown for each member the policy lists. The roles and their raw data actions are in the last column.</p>
<nav aria-label="Keys"><ul>{{#each keys}}<li><a href="#key-{{key}}">{{key}}</a></li>{{/each}}</ul></nav>
{{#each keys}}<h2 id="key-{{key}}">Key <code>{{key}}</code></h2>
{{#if holders}}<table><caption class="visually-hidden">Capabilities on {{key}}</caption><thead><tr><th scope="col">Who</th>{{#each ../capabilities}}<th scope="col">{{label}}</th>{{/each}}<th scope="col">Roles and data actions</th></tr></thead><tbody>
{{#each holders}}<tr{{#if drift}} class="drift"{{/if}}><th scope="row">{{text name}}{{#if kind}} <span class="hint">({{kind}})</span>{{/if}}{{#if canGrantItself}}<br><span class="warn">can grant itself any role</span>{{/if}}</th>
{{#each cells}}<td data-label="{{label}}">{{#if sources}}<ul class="plain">{{#each sources}}<li><span class="basis{{#if drift}} warn{{/if}}">{{basis}}</span>{{#if via}} via {{text via}}{{/if}}{{#if expiresAt}}, until {{time expiresAt}}{{/if}}{{#if afterInventory}} (granted after the inventory){{/if}}</li>{{/each}}</ul>{{else}}<span aria-hidden="true">—</span><span class="visually-hidden">no</span>{{/if}}</td>{{/each}}
<td data-label="Roles"><details><summary>{{sources.length}} role assignment(s)</summary><ul>{{#each sources}}<li>{{text role}} at <code>{{assignedAt}}</code> ({{basis}}{{#if via}} via {{text via}}{{/if}}){{#if dataActions}}<ul>{{#each dataActions}}<li><code>{{this}}</code></li>{{/each}}</ul>{{else}}: data actions not known (the role definition was not in the inventory){{/if}}</li>{{/each}}</ul></details></td></tr>{{/each}}
</tbody></table>{{else}}<p>Nobody holds a role on this key.</p>{{/if}}{{/each}}
<h2>Azure RBAC grants (management plane)</h2><p>Running as of {{time report.grantsAsOf}}.</p>
{{#if arm}}<table><thead><tr><th scope="col">Principal</th><th scope="col">Role</th><th scope="col">Scope</th><th scope="col">Until</th><th scope="col">Request</th></tr></thead><tbody>
{{#each arm}}<tr><td data-label="Principal">{{principal}}</td><td data-label="Role">{{role}}</td><td data-label="Scope"><code>{{scope}}</code></td><td data-label="Until">{{time expiresAt}}</td><td data-label="Request"><code>{{requestId}}</code></td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}`);

function basisText(basis: AccessBasis, driftKind: string | undefined): string {
  return BASIS[basis] + (driftKind ? ` (${driftKind})` : '');
}

/** The access report as a matrix per key: who can sign, decrypt, wrap, manage roles, back up or export. */
export function accessPage(policy: Policy, report: AccessReportBody, frame: ReportFrame = {}): string {
  const keys = report.keys.map((k) => {
    const matrix = capabilityMatrix(policy, k);
    return {
      key: k.key,
      holders: matrix.holders.map((h): HolderView => {
        const view = (s: (typeof h.sources)[number]): SourceView => ({
          afterInventory: s.afterInventory, basis: basisText(s.basis, s.driftKind), drift: s.basis === 'drift', role: s.role, assignedAt: s.assignedAt, dataActions: s.dataActions,
          ...(s.viaGroup ? { via: s.viaGroup } : {}), ...(s.expiresAt ? { expiresAt: s.expiresAt } : {}),
        });
        const kind = h.type === 'ServicePrincipal' ? 'workload identity' : h.unexpandedGroup ? 'group; members not in the policy' : h.type === 'Group' ? 'group' : undefined;
        return {
          name: h.name, ...(kind ? { kind } : {}), canGrantItself: h.canGrantItself, drift: h.sources.some((s) => s.basis === 'drift'),
          cells: CAPABILITIES.map((c) => ({ label: c.label, sources: h.cells[c.id].map(view) })), sources: h.sources.map(view),
        };
      }),
    };
  });
  const arm = report.azureRbac.map((g) => ({ ...g, principal: g.principal ?? g.principalId }));
  return page({ ...frame, title: 'Who can do what on each key', path: '/api/reports/access' }, ACCESS({ report, capabilities: CAPABILITIES, keys, arm }));
}

const KEYS = template<{ asOf: string; report: KeysReport }>(`<h1>Key expiry and rotation</h1><p>Inventory as of {{time asOf}}.</p>
<h2>Expiring within {{report.expiringWithinDays}} days</h2>
{{#if report.expiringSoon}}<table><thead><tr><th scope="col">Key</th><th scope="col">Expires</th><th scope="col">Days left</th></tr></thead><tbody>{{#each report.expiringSoon}}<tr><td data-label="Key">{{name}}</td><td data-label="Expires">{{time expiresOn}}</td><td data-label="Days left">{{daysLeft}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Expired</h2>
{{#if report.expired}}<table><thead><tr><th scope="col">Key</th><th scope="col">Expired</th></tr></thead><tbody>{{#each report.expired}}<tr><td data-label="Key">{{name}}</td><td data-label="Expired">{{time expiresOn}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Without an expiry</h2>
{{#if report.withoutExpiry}}<ul>{{#each report.withoutExpiry}}<li>{{this}}</li>{{/each}}</ul>{{else}}<p class="ok">None.</p>{{/if}}
<h2>Not rotated for more than {{report.rotationPeriodDays}} days</h2>
{{#if report.notRotated}}<table><thead><tr><th scope="col">Key</th><th scope="col">Current version created</th><th scope="col">Age (days)</th></tr></thead><tbody>{{#each report.notRotated}}<tr><td data-label="Key">{{name}}</td><td data-label="Created">{{time createdOn}}</td><td data-label="Age (days)">{{ageDays}}</td></tr>{{/each}}</tbody></table>{{else}}<p class="ok">None.</p>{{/if}}`);

export function keysPage(asOf: string, report: KeysReport, frame: ReportFrame = {}): string {
  return page({ ...frame, title: 'Key expiry and rotation', path: '/api/reports/keys' }, KEYS({ asOf, report }));
}
