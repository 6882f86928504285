/**
 * The portal's pages: home (my grants with time left, my open requests, what waits for my decision)
 * and the form to ask for access, built from the caller's eligibility. Every change is a POST with a
 * CSRF token bound to the caller and the browser (ADR 0012); GET only reads.
 */
import { callerMatches, formatIsoDuration, parseIsoDuration, type AccessRequest, type Caller, type CatalogRule, type Policy } from '../domain';
import { reviewPath } from '../adapters/notify/reviewLinks';
import { signReviewToken } from '../domain';
import type { AccessRequestService } from '../services/accessRequests';
import type { CsrfProtection } from '../services/csrf';
import type { EligibilityService } from '../services/eligibility';
import type { Clock } from '../services/ports';
import { page, template } from './templates';

export const PORTAL_CSRF_BINDING = 'portal';
const DURATION_CHOICES = ['PT15M', 'PT30M', 'PT1H', 'PT2H', 'PT4H', 'PT8H', 'PT12H', 'P1D'];

export interface PortalDependencies {
  readonly policy: Policy;
  readonly requests: AccessRequestService;
  readonly eligibility: EligibilityService;
  readonly csrf: CsrfProtection;
  /** Review link keys: the portal links each request to its page. */
  readonly keys: readonly string[];
  readonly reviewLinkTtlMs: number;
  readonly clock: Clock;
}

export interface Viewer {
  readonly caller: Caller;
  readonly name?: string;
  /** The browser's CSRF cookie value (set anew when fresh). */
  readonly nonce: string;
  readonly scriptNonce: string;
}

/** "1 hour", "30 minutes", "1 day 2 hours" */
export function durationInWords(ms: number): string {
  const units: Array<[number, string]> = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute']];
  const parts: string[] = [];
  let rest = ms;
  for (const [size, name] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count} ${name}${count > 1 ? 's' : ''}`);
    rest -= count * size;
  }
  return parts.join(' ') || 'less than a minute';
}

interface RequestRow { readonly id: string; readonly status: string; readonly role: string; readonly scope: string; readonly grantee: string; readonly expiresAt?: string; readonly left?: string; readonly link: string }

const HOME = template<{ active: RequestRow[]; open: RequestRow[]; waiting: RequestRow[] }>(`
<h1>My access</h1>
<h2>Running grants</h2>
{{#if active}}<table><thead><tr><th>Role</th><th>Scope</th><th>For</th><th>Ends</th><th>Time left</th><th>Actions</th></tr></thead><tbody>
{{#each active}}<tr><td data-label="Role">{{role}}</td><td data-label="Scope">{{scope}}</td><td data-label="For">{{grantee}}</td>
<td data-label="Ends">{{time expiresAt}}</td><td data-label="Time left"><span data-expires="{{expiresAt}}">{{left}}</span></td>
<td data-label="Actions"><a href="{{link}}">Extend or revoke</a></td></tr>{{/each}}</tbody></table>
{{else}}<p>You hold no grant now.</p>{{/if}}
<h2>My open requests</h2>
{{#if open}}<ul>{{#each open}}<li><a href="{{link}}">{{role}} on {{scope}} for {{grantee}}</a>: {{status}}</li>{{/each}}</ul>
{{else}}<p>No open request. <a href="/ask">Ask for access</a>.</p>{{/if}}
<h2 id="waiting">Waiting for my decision ({{waiting.length}})</h2>
{{#if waiting}}<ul>{{#each waiting}}<li><a href="{{link}}">{{role}} on {{scope}} for {{grantee}}</a></li>{{/each}}</ul>
{{else}}<p>Nothing waits for your decision.</p>{{/if}}`);

interface Choice { readonly value: string; readonly label: string; readonly selected?: boolean }
interface AskView { readonly csrf: string; readonly targets: Choice[]; readonly grantees: Choice[]; readonly durations: Choice[]; readonly ticketPattern?: string; readonly ticketRequired: boolean; readonly error?: string; readonly justification: string; readonly ticket: string; readonly none: boolean }

const ASK = template<AskView>(`
<h1>Ask for access</h1>
{{#if error}}<div class="error" role="alert"><p>Nothing was asked for: {{text error}}</p></div>{{/if}}
{{#if none}}<p>No rule of the policy lets you ask for access.</p>{{else}}
<form method="post" action="/ask">
<input type="hidden" name="csrf" value="{{csrf}}">
<label for="target">Role and key</label>
<select id="target" name="target" required>{{#each targets}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="grantee">For whom</label>
<select id="grantee" name="grantee" required>{{#each grantees}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="duration">For how long</label>
<select id="duration" name="duration">{{#each durations}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="justification">Why</label>
<textarea id="justification" name="justification" rows="3" cols="40" maxlength="1000">{{justification}}</textarea>
<label for="ticket">Ticket{{#unless ticketRequired}} (if any){{/unless}}</label>
<input id="ticket" name="ticket" value="{{ticket}}" maxlength="200"{{#if ticketPattern}} pattern="{{ticketPattern}}" aria-describedby="ticket-hint"{{/if}}{{#if ticketRequired}} required{{/if}}>
{{#if ticketPattern}}<p id="ticket-hint" class="hint">It must match {{ticketPattern}}.</p>{{/if}}
<p><button type="submit">Ask</button></p>
</form>{{/if}}`);

export class PortalService {
  constructor(private readonly deps: PortalDependencies) {}

  private link(id: string): string {
    return reviewPath(id, signReviewToken(id, new Date(this.deps.clock.now().getTime() + this.deps.reviewLinkTtlMs), this.deps.keys));
  }

  private grantee(principalId: string): string {
    const principal = Object.values(this.deps.policy.principals).find((p) => p.objectId === principalId);
    return principal?.displayName ?? principal?.alias ?? principalId;
  }

  private row(request: AccessRequest): RequestRow {
    const left = request.expiresAt ? `${durationInWords(Math.max(0, Date.parse(request.expiresAt) - this.deps.clock.now().getTime()))} left` : undefined;
    return { id: request.id, status: request.status, role: request.role, scope: request.scope, grantee: this.grantee(request.principalId), link: this.link(request.id), ...(request.expiresAt ? { expiresAt: request.expiresAt } : {}), ...(left ? { left } : {}) };
  }

  async home(viewer: Viewer): Promise<string> {
    const mine = await this.deps.requests.list(viewer.caller, { mine: true, pageSize: 200 });
    const pending = await this.deps.requests.list(viewer.caller, { status: 'Pending', pageSize: 200 });
    const items = mine.ok ? mine.value.items : [];
    const me = viewer.caller.objectId.toLowerCase();
    const waiting = (pending.ok ? pending.value.items : []).filter((r) => r.requestedBy !== me && !r.decisions.some((d) => d.by === me) && this.approverOf(viewer.caller, r));
    const body = HOME({ active: items.filter((r) => r.status === 'Active').map((r) => this.row(r)), open: items.filter((r) => r.status === 'Pending' || r.status === 'Approved').map((r) => this.row(r)), waiting: waiting.map((r) => this.row(r)) });
    return page({ title: 'My access', nonce: viewer.scriptNonce, ...(viewer.name ? { signedIn: viewer.name } : {}) }, body);
  }

  private approverOf(caller: Caller, request: AccessRequest): boolean {
    const rule = this.deps.policy.eligibility.find((r) => r.id === request.ruleId);
    return rule !== undefined && callerMatches(caller, rule.approval.approverObjectIds);
  }

  async askForm(viewer: Viewer, error?: string, form?: URLSearchParams): Promise<string> {
    const rules = (await this.deps.eligibility.catalog(viewer.caller)).filter((r) => r.plane === 'hsm');
    const view = askView(rules, this.deps.csrf.token(viewer.caller.objectId, PORTAL_CSRF_BINDING, viewer.nonce), form, error);
    return page({ title: 'Ask for access', nonce: viewer.scriptNonce, ...(viewer.name ? { signedIn: viewer.name } : {}) }, ASK(view));
  }

  /** The form's POST: the id of the new request, or the words of its refusal. */
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
    return { ok: true, location: this.link(outcome.value.request.id) };
  }
}

function askView(rules: readonly CatalogRule[], csrf: string, form: URLSearchParams | undefined, error: string | undefined): AskView {
  const targets = rules.flatMap((rule) => rule.roles.flatMap((role) => rule.scopes.map((s) => ({ value: `${rule.id}|${role.alias ?? role.name}|${s.scope}`, label: `${role.alias ?? role.name} on ${s.key ?? s.scope} (rule ${rule.id})` }))));
  const grantees = [...new Map(rules.flatMap((r) => r.grantees).map((g) => [g.objectId, { value: g.objectId, label: `${g.displayName} (${g.type === 'ServicePrincipal' ? 'workload identity' : g.type.toLowerCase()})` }])).values()];
  const maxMs = Math.max(0, ...rules.map((r) => parseIsoDuration(r.maxDuration) ?? 0));
  const minMs = Math.min(...rules.map((r) => parseIsoDuration(r.minDuration) ?? 0));
  const durations = DURATION_CHOICES.map((d) => parseIsoDuration(d) as number).filter((ms) => ms <= maxMs && ms >= minMs).map((ms) => ({ value: formatIsoDuration(ms), label: durationInWords(ms), selected: formatIsoDuration(ms) === (form?.get('duration') ?? 'PT1H') }));
  const ticketRules = rules.filter((r) => r.ticket.pattern);
  const selected = (choices: Choice[], value: string | null | undefined): Choice[] => choices.map((c) => ({ ...c, selected: c.value === value }));
  return {
    csrf, none: targets.length === 0,
    targets: selected(targets, form?.get('target')), grantees: selected(grantees, form?.get('grantee')), durations,
    ...(ticketRules.length === 1 && rules.length === 1 && ticketRules[0].ticket.pattern ? { ticketPattern: ticketRules[0].ticket.pattern } : {}),
    ticketRequired: rules.length > 0 && rules.every((r) => r.ticket.required),
    justification: form?.get('justification') ?? '', ticket: form?.get('ticket') ?? '',
    ...(error ? { error } : {}),
  };
}
