/**
 * The portal's pages: home (my grants with time left and Extend / Revoke, my open requests, what
 * waits for my decision), the approvals queue, and the form to ask for access, built from the
 * caller's eligibility on both planes. Every change is a POST with a CSRF token bound to the caller
 * and the browser (ADR 0012); GET only reads. The forms for one request post to its page.
 */
import { isApproverFor, isOverseer, parseIsoDuration, type AccessRequest, type Caller, type CatalogRule, type Policy } from '../domain';
import type { AccessRequestService } from '../services/accessRequests';
import type { CsrfProtection } from '../services/csrf';
import type { EligibilityService } from '../services/eligibility';
import type { Clock } from '../services/ports';
import { DONE_NOTICES } from './requestPage';
import { actionsFor, durationChoices, durationInWords, requestPath, scopeLabel, summarize, type DurationChoice, type RequestActions, type RequestSummary } from './requestViews';
import { page, template, type PageFrame } from './templates';

export { durationInWords } from './requestViews';

export const PORTAL_CSRF_BINDING = 'portal';

export interface PortalDependencies {
  readonly policy: Policy;
  readonly requests: AccessRequestService;
  readonly eligibility: EligibilityService;
  readonly csrf: CsrfProtection;
  readonly clock: Clock;
}

export interface Viewer {
  readonly caller: Caller;
  readonly name?: string;
  /** The browser's CSRF cookie value (set anew when fresh). */
  readonly nonce: string;
  readonly scriptNonce: string;
}

interface Item { readonly summary: RequestSummary; readonly actions: RequestActions; readonly key: string }

const HOME = template<{ notice?: string; active: Item[]; open: Item[]; waiting: Item[]; approver: boolean }>(`
<h1>My access</h1>
{{#if notice}}<p class="notice" role="status">{{notice}}</p>{{/if}}
<h2>Running grants</h2>
{{#if active}}<table><caption class="visually-hidden">Grants running now</caption><thead><tr><th scope="col">Access</th><th scope="col">Ends</th><th scope="col">Time left</th><th scope="col">Actions</th></tr></thead><tbody>
{{#each active}}<tr>{{#with summary}}<td data-label="Access"><a href="{{link}}">{{short}}</a>{{#if progress}}<br><span class="muted">{{progress}}</span>{{/if}}</td>
<td data-label="Ends">{{time expiresAt}}</td><td data-label="Time left"><span data-expires="{{expiresAt}}">{{left}}</span></td>{{/with}}
<td data-label="Actions">{{#with actions}}{{#if extend}}<form method="post" action="{{forms.action}}" class="inline">{{> hiddenFields forms}}
<label for="more{{../key}}">More time</label><select id="more{{../key}}" name="duration">{{#each extend.durations}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<button type="submit" name="action" value="extend" aria-label="Extend {{../summary.short}}">Extend</button></form>{{/if}}
{{#if revoke}}<form method="post" action="{{forms.action}}" class="inline">{{> hiddenFields forms}}<button type="submit" name="action" value="revoke" class="revoke" aria-label="Revoke {{../summary.short}}">Revoke</button></form>{{/if}}{{/with}}</td></tr>{{/each}}
</tbody></table>
{{else}}<p>You hold no grant now.</p>{{/if}}
<h2>My open requests</h2>
{{#if open}}<ul>{{#each open}}{{#with summary}}<li><a href="{{link}}">{{short}}</a>: {{status}}{{#if progress}}, {{progress}}{{/if}}</li>{{/with}}{{/each}}</ul>
{{else}}<p>No open request. <a href="/ask">Ask for access</a>.</p>{{/if}}
{{#if approver}}<h2 id="waiting">Waiting for my decision ({{waiting.length}})</h2>
{{#if waiting}}<ul>{{#each waiting}}{{#with summary}}<li><a href="{{link}}">{{short}}</a>, asked by {{text requester}}{{#if progress}} ({{progress}}){{/if}}</li>{{/with}}{{/each}}</ul>
<p><a href="/approvals">Decide them in Approvals</a></p>
{{else}}<p>Nothing waits for your decision.</p>{{/if}}{{/if}}`);

const APPROVALS = template<{ notice?: string; items: Item[] }>(`
<h1>Approvals</h1>
{{#if notice}}<p class="notice" role="status">{{notice}}</p>{{/if}}
<p>{{#if items.length}}{{items.length}} waiting for your decision, oldest first.{{else}}Nothing waits for your decision.{{/if}}</p>
{{#each items}}<article class="card" aria-labelledby="title{{key}}">
{{#with summary}}<h2 id="title{{../key}}"><a href="{{link}}">{{short}}</a></h2>
<p>Status: <span class="st-{{status}}">{{status}}</span>{{#if progress}} · <strong>{{progress}}</strong>{{/if}} · {{plane}}</p>
{{> riskFlags}}
{{> facts facts=keyFacts}}
<details><summary>All facts</summary>{{> facts}}</details>{{/with}}
{{#with actions}}{{#if decide}}{{> decideForm key=../key}}{{/if}}{{/with}}
</article>{{/each}}`);

interface TargetChoice { readonly value: string; readonly label: string; readonly selected: boolean; readonly rule: string; readonly maxMs: number; readonly minMs: number; readonly ticketPattern: string; readonly ticketRequired: boolean }
interface GranteeChoice { readonly value: string; readonly label: string; readonly selected: boolean; readonly rules: string }
interface RuleHint { readonly id: string; readonly description: string; readonly plane: string; readonly forWhom: string; readonly maxDuration: string; readonly ticket: string; readonly approvals: string }
interface AskView {
  readonly csrf: string;
  readonly groups: Array<{ label: string; targets: TargetChoice[] }>;
  readonly grantees: GranteeChoice[];
  readonly durations: Array<DurationChoice & { ms: number }>;
  readonly rules: RuleHint[];
  readonly ticketPattern?: string;
  readonly ticketRequired: boolean;
  readonly error?: string;
  readonly justification: string;
  readonly ticket: string;
  readonly none: boolean;
}

const ASK = template<AskView>(`
<h1>Ask for access</h1>
{{#if error}}<div class="error" role="alert"><p>Nothing was asked for: {{text error}}</p></div>{{/if}}
{{#if none}}<p>No rule of the policy lets you ask for access.</p>{{else}}
<form method="post" action="/ask">
<input type="hidden" name="csrf" value="{{csrf}}">
<label for="target">Role and key (or Azure resource)</label>
<select id="target" name="target" required aria-describedby="rules-hint">{{#each groups}}<optgroup label="{{label}}">{{#each targets}}<option value="{{value}}" data-rule="{{rule}}" data-max-ms="{{maxMs}}" data-min-ms="{{minMs}}" data-ticket-pattern="{{ticketPattern}}" data-ticket-required="{{ticketRequired}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</optgroup>{{/each}}</select>
<label for="grantee">For whom</label>
<select id="grantee" name="grantee" required>{{#each grantees}}<option value="{{value}}" data-rules="{{rules}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="duration">For how long</label>
<select id="duration" name="duration">{{#each durations}}<option value="{{value}}" data-ms="{{ms}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="justification">Why</label>
<textarea id="justification" name="justification" rows="3" cols="40" maxlength="1000">{{justification}}</textarea>
<label for="ticket">Ticket{{#unless ticketRequired}} (if the rule asks for one){{/unless}}</label>
<input id="ticket" name="ticket" value="{{ticket}}" maxlength="200" aria-describedby="ticket-check"{{#if ticketPattern}} pattern="{{ticketPattern}}"{{/if}}{{#if ticketRequired}} required{{/if}}>
<p id="ticket-check" class="hint" aria-live="polite">{{#if ticketPattern}}The ticket must match {{ticketPattern}}.{{/if}}</p>
<p><button type="submit">Ask</button></p>
</form>
<h2 id="rules-hint">What the rules allow</h2>
<ul>{{#each rules}}<li><strong>{{id}}</strong> ({{plane}}): {{#if description}}{{description}} {{/if}}For {{forWhom}}; at most {{maxDuration}}; {{ticket}}; {{approvals}}.</li>{{/each}}</ul>
{{/if}}`);

const PLANES: Record<CatalogRule['plane'], string> = { hsm: 'HSM keys (data plane)', 'azure-rbac': 'Azure resource (management plane)' };

export class PortalService {
  constructor(private readonly deps: PortalDependencies) {}

  private frame(viewer: Viewer, title: string): PageFrame {
    return { title, nonce: viewer.scriptNonce, overseer: isOverseer(this.deps.policy, viewer.caller), ...(viewer.name ? { signedIn: viewer.name } : {}) };
  }

  private item(viewer: Viewer, request: AccessRequest, next: string): Item {
    const me = viewer.caller.objectId.toLowerCase();
    const forms = { action: requestPath(request.id), csrf: this.deps.csrf.token(me, request.id, viewer.nonce), version: request.history.length, next };
    return { summary: summarize(this.deps.policy, request, this.deps.clock.now()), actions: actionsFor(this.deps.policy, viewer.caller, request, forms), key: `-${request.id}` };
  }

  async home(viewer: Viewer, done?: string | null): Promise<string> {
    const mine = await this.deps.requests.list(viewer.caller, { mine: true, pageSize: 200 });
    const items = mine.ok ? mine.value.items : [];
    const waiting = await this.deps.requests.awaitingDecision(viewer.caller);
    const notice = done ? DONE_NOTICES[done] : undefined;
    const body = HOME({
      ...(notice ? { notice } : {}),
      active: items.filter((r) => r.status === 'Active').map((r) => this.item(viewer, r, 'home')),
      open: items.filter((r) => r.status === 'Pending' || r.status === 'Approved').map((r) => this.item(viewer, r, 'home')),
      waiting: waiting.map((r) => this.item(viewer, r, 'home')),
      approver: waiting.length > 0 || this.deps.policy.eligibility.some((rule) => isApproverFor(rule, viewer.caller)),
    });
    return page(this.frame(viewer, 'My access'), body);
  }

  /** The queue of requests and extensions the viewer may decide, each with its facts, risk flags and progress. */
  async approvals(viewer: Viewer, done?: string | null): Promise<string> {
    const waiting = await this.deps.requests.awaitingDecision(viewer.caller);
    const notice = done ? DONE_NOTICES[done] : undefined;
    return page(this.frame(viewer, 'Approvals'), APPROVALS({ ...(notice ? { notice } : {}), items: waiting.map((r) => this.item(viewer, r, 'approvals')) }));
  }

  async askForm(viewer: Viewer, error?: string, form?: URLSearchParams): Promise<string> {
    const rules = await this.deps.eligibility.catalog(viewer.caller);
    const view = askView(rules, this.deps.csrf.token(viewer.caller.objectId, PORTAL_CSRF_BINDING, viewer.nonce), viewer.caller, form, error);
    return page(this.frame(viewer, 'Ask for access'), ASK(view));
  }

  /** The form's POST: the new request's page, or the words of its refusal. */
  async ask(viewer: Viewer, form: URLSearchParams): Promise<{ ok: true; location: string } | { ok: false; error: string }> {
    if (!this.deps.csrf.verify(form.get('csrf'), viewer.caller.objectId, PORTAL_CSRF_BINDING, viewer.nonce)) return { ok: false, error: 'the form had expired or came from elsewhere; it was shown again, send it once more' };
    const [ruleId, role, scope] = (form.get('target') ?? '').split('|');
    const principalId = form.get('grantee') ?? undefined;
    if (!ruleId || !role || !scope) return { ok: false, error: 'pick a role and key' };
    const outcome = await this.deps.requests.submit(viewer.caller, {
      role, scope,
      ...(principalId ? { principalId } : {}),
      ...(form.get('duration') ? { duration: form.get('duration') as string } : {}),
      justification: form.get('justification') ?? '',
      ...(form.get('ticket') ? { ticket: form.get('ticket') as string } : {}),
    });
    if (!outcome.ok) return { ok: false, error: outcome.detail };
    return { ok: true, location: requestPath(outcome.value.request.id) };
  }
}

function granteeLabel(g: CatalogRule['grantees'][number], caller: Caller): string {
  if (g.objectId === caller.objectId.toLowerCase()) return `${g.displayName} (you)`;
  return `${g.displayName} (${g.type === 'ServicePrincipal' ? 'workload identity' : g.type.toLowerCase()})`;
}

function ruleHint(rule: CatalogRule, caller: Caller): RuleHint {
  const names = rule.grantees.map((g) => (g.objectId === caller.objectId.toLowerCase() ? 'yourself' : g.displayName));
  const approvals = rule.approval.count === 0 ? 'no approval needed' : `${rule.approval.count} approval${rule.approval.count > 1 ? 's' : ''} from ${rule.approval.approvers.map((a) => a.displayName).join(' or ')}`;
  return {
    id: rule.id, description: rule.description ?? '', plane: PLANES[rule.plane],
    forWhom: names.length > 0 ? `${names.join(', ')} only` : 'nobody',
    maxDuration: durationInWords(parseIsoDuration(rule.maxDuration) ?? 0),
    ticket: rule.ticket.required ? `a ticket${rule.ticket.pattern ? ` matching ${rule.ticket.pattern}` : ''} is needed` : 'no ticket needed',
    approvals,
  };
}

function askView(rules: readonly CatalogRule[], csrf: string, caller: Caller, form: URLSearchParams | undefined, error: string | undefined): AskView {
  const chosen = form?.get('target');
  const targetsOf = (rule: CatalogRule): TargetChoice[] => rule.roles.flatMap((role) => rule.scopes.map((s) => {
    const value = `${rule.id}|${role.alias ?? role.name}|${s.scope}`;
    return {
      value, selected: value === chosen, rule: rule.id,
      label: `${role.alias ?? role.name} on ${s.key ?? scopeLabel(s.scope)} (rule ${rule.id})`,
      maxMs: parseIsoDuration(rule.maxDuration) ?? 0, minMs: parseIsoDuration(rule.minDuration) ?? 0,
      ticketPattern: rule.ticket.pattern ?? '', ticketRequired: rule.ticket.required,
    };
  }));
  const groups = (['hsm', 'azure-rbac'] as const).map((plane) => ({ label: PLANES[plane], targets: rules.filter((r) => r.plane === plane).flatMap(targetsOf) })).filter((g) => g.targets.length > 0);
  const grantees = new Map<string, GranteeChoice>();
  for (const rule of rules) {
    for (const g of rule.grantees) {
      const known = grantees.get(g.objectId);
      grantees.set(g.objectId, { value: g.objectId, label: granteeLabel(g, caller), selected: g.objectId === form?.get('grantee'), rules: known ? `${known.rules} ${rule.id}` : rule.id });
    }
  }
  const maxMs = Math.max(0, ...rules.map((r) => parseIsoDuration(r.maxDuration) ?? 0));
  const minMs = Math.min(...rules.map((r) => parseIsoDuration(r.minDuration) ?? 0));
  const patterns = [...new Set(rules.map((r) => r.ticket.pattern))];
  const onlyPattern = patterns.length === 1 ? patterns[0] : undefined;
  return {
    csrf, none: groups.length === 0, groups,
    grantees: [...grantees.values()],
    durations: durationChoices(minMs, maxMs, form?.get('duration') ?? 'PT1H'),
    rules: rules.map((r) => ruleHint(r, caller)),
    ...(onlyPattern ? { ticketPattern: onlyPattern } : {}),
    ticketRequired: rules.length > 0 && rules.every((r) => r.ticket.required),
    justification: form?.get('justification') ?? '', ticket: form?.get('ticket') ?? '',
    ...(error ? { error } : {}),
  };
}
