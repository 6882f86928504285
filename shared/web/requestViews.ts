/**
 * What every page shows of one request: its title, status, facts, risk flags, approval progress
 * ("1 of 2 approvals") and time left, and the forms of the actions the viewer may take. The request
 * page, the approvals queue and the home page use the same pieces; every form posts to the request's
 * page with a CSRF token bound to the viewer, the request and the browser (ADR 0012).
 */
import {
  approvalCount,
  decide,
  displayName,
  formatIsoDuration,
  mayCancel,
  mayExtend,
  mayRevoke,
  parseIsoDuration,
  principalView,
  riskFlags,
  type AccessRequest,
  type Caller,
  type HistoryEntry,
  type Policy,
} from '../domain';
import { grantTimeline } from '../domain/grantTimeline';
import { partial } from './templates';

const DURATION_CHOICES = ['PT15M', 'PT30M', 'PT1H', 'PT2H', 'PT4H', 'PT8H', 'PT12H', 'P1D'];

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

export interface DurationChoice { readonly value: string; readonly label: string; readonly ms: number; readonly selected: boolean }

/** The usual durations between `minMs` and `maxMs`, in words. */
export function durationChoices(minMs: number, maxMs: number, selected?: string | null): DurationChoice[] {
  return DURATION_CHOICES.map((d) => parseIsoDuration(d) as number)
    .filter((ms) => ms <= maxMs && ms >= minMs)
    .map((ms) => ({ value: formatIsoDuration(ms), label: durationInWords(ms), ms, selected: formatIsoDuration(ms) === selected }));
}

/** The path of a request's page in the portal. */
export function requestPath(id: string): string {
  return `/requests/${encodeURIComponent(id)}`;
}

/** A short name for a scope: the key's name, or the last segment of an ARM scope. */
export function scopeLabel(scope: string): string {
  if (scope.startsWith('/keys/')) return scope.slice('/keys/'.length);
  if (scope === '/') return 'the whole HSM';
  if (scope.startsWith('/subscriptions/')) return `${scope.split('/').filter(Boolean).slice(-1)[0] ?? scope} (Azure resource)`;
  return scope;
}

export interface RequestForms {
  /** Where the forms post. */
  readonly action: string;
  readonly csrf: string;
  /** The history length the viewer saw: a post against a request that changed since is refused. */
  readonly version: number;
  /** Where to go after the post (`home`, `approvals`), for forms on other pages. */
  readonly next?: string;
}

export interface RequestSummary {
  readonly id: string;
  readonly link: string;
  readonly title: string;
  readonly short: string;
  readonly status: string;
  readonly grantee: string;
  readonly requester: string;
  readonly facts: readonly PageFact[];
  /** The facts an approver reads first; the rest are one click away. */
  readonly keyFacts: readonly PageFact[];
  readonly riskFlags: readonly string[];
  /** "1 of 2 approvals", while a decision is awaited. */
  readonly progress?: string;
  readonly expiresAt?: string;
  readonly left?: string;
  readonly plane: string;
}

export interface RequestActions {
  readonly forms: RequestForms;
  readonly decide?: { readonly target: 'request' | 'extension'; readonly what: string };
  readonly cannotDecide?: string;
  readonly cancel: boolean;
  readonly revoke: boolean;
  readonly extend?: { readonly durations: DurationChoice[] };
}

function progressOf(request: AccessRequest): string | undefined {
  const [decisions, required] = request.status === 'Pending' ? [request.decisions, request.approvalsRequired] : request.status === 'Active' && request.extension?.status === 'Pending' ? [request.extension.decisions, request.extension.approvalsRequired] : [undefined, 0];
  if (!decisions) return undefined;
  const what = request.status === 'Pending' ? 'approvals' : 'approvals of the extension';
  return `${approvalCount(decisions)} of ${required} ${what}`;
}

/** One line of a request's facts: text, or a time (shown in words, in the viewer's time zone). */
export interface PageFact { readonly title: string; readonly value?: string; readonly at?: string; readonly note?: string }

/** How long: what was asked for while nothing is granted; the whole grant once it runs or ran. */
function durationWords(request: AccessRequest): string {
  const timeline = grantTimeline(request);
  const base = timeline.grantedMs !== undefined ? durationInWords(timeline.grantedMs) : durationInWords(request.durationMs);
  const extended = timeline.extensions > 0 ? ` (with ${timeline.extensions} extension${timeline.extensions > 1 ? 's' : ''})` : '';
  const asked = request.extension?.status === 'Pending' ? `, ${durationInWords(request.extension.durationMs)} more asked for` : '';
  return `${base}${extended}${asked}`;
}

/** The facts of a request as a reader needs them: names, not object ids; durations and times in words. */
export function requestFacts(policy: Policy, request: AccessRequest): PageFact[] {
  const timeline = grantTimeline(request);
  const facts: PageFact[] = [
    { title: 'Requester', value: displayName(policy, request.requestedBy) },
    { title: 'Grantee', value: displayName(policy, request.principalId) },
    { title: 'Role', value: request.role },
    { title: 'Scope', value: request.scope },
    { title: 'Where', value: request.plane === 'azure-rbac' ? 'Azure RBAC (management plane)' : `HSM ${request.hsm} (local RBAC)` },
    { title: 'Duration', value: durationWords(request) },
    { title: 'Justification', value: request.justification || '(none)' },
    { title: 'Ticket', value: request.ticket ?? '(none)' },
    { title: 'Approvals', value: request.approvalsRequired === 0 ? 'none needed' : `${approvalCount(request.decisions)} of ${request.approvalsRequired}` },
    { title: 'Asked', at: request.createdAt },
  ];
  if (request.status === 'Pending') facts.push({ title: 'Decide before', at: request.pendingUntil, note: 'then it times out' });
  if (timeline.grantedAt) facts.push({ title: 'Granted', at: timeline.grantedAt });
  if (timeline.endedAt) facts.push({ title: 'Ended', at: timeline.endedAt, note: timeline.endedAs === 'Revoked' ? 'revoked' : 'expired' });
  else if (timeline.expiresAt && (request.status === 'Active' || request.status === 'Approved')) facts.push({ title: 'Ends', at: timeline.expiresAt });
  if (timeline.failedAt) facts.push({ title: 'Failed', at: timeline.failedAt });
  if (request.endReason) facts.push({ title: 'Why it ended', value: request.endReason });
  return facts;
}

const KEY_FACTS = new Set(['Requester', 'Grantee', 'Duration', 'Justification', 'Ticket']);

export function summarize(policy: Policy, request: AccessRequest, now: Date): RequestSummary {
  const active = request.status === 'Active' && request.expiresAt;
  const progress = progressOf(request);
  const facts = requestFacts(policy, request);
  const grantee = displayName(policy, request.principalId);
  return {
    id: request.id,
    link: requestPath(request.id),
    title: `${request.role} on ${request.scope}`,
    short: `${request.role} on ${scopeLabel(request.scope)} for ${grantee}`,
    status: request.status,
    grantee,
    requester: displayName(policy, request.requestedBy),
    facts,
    keyFacts: facts.filter((f) => KEY_FACTS.has(f.title)),
    riskFlags: riskFlags(policy, request),
    plane: request.plane === 'azure-rbac' ? 'Azure RBAC (management plane)' : 'HSM local RBAC (data plane)',
    ...(progress ? { progress } : {}),
    ...(active ? { expiresAt: request.expiresAt, left: `${durationInWords(Math.max(0, Date.parse(request.expiresAt as string) - now.getTime()))} left` } : {}),
  };
}

function approverNames(policy: Policy, approvers: readonly string[]): string {
  return approvers.map((a) => principalView(policy, a)?.displayName ?? a).join(' or ');
}

/** What the viewer may do with the request, as the domain's permission functions say. */
export function actionsFor(policy: Policy, viewer: Caller, request: AccessRequest, forms: RequestForms): RequestActions {
  const verdict = decide(policy, viewer, request, 'approve');
  const awaiting = request.status === 'Pending' || request.extension?.status === 'Pending';
  const rule = policy.eligibility.find((r) => r.id === request.ruleId);
  const extendable = request.status === 'Active' && request.extension?.status !== 'Pending' && mayExtend(policy, viewer, request) && rule !== undefined;
  return {
    forms,
    ...(verdict.ok ? { decide: { target: verdict.target, what: verdict.target === 'extension' ? 'the extension' : 'this request' } } : {}),
    ...(!verdict.ok && awaiting ? { cannotDecide: verdict.code === 'self-approval' && rule ? `Waiting for a decision by ${approverNames(policy, rule.approval.approvers)}.` : `You cannot decide: ${verdict.detail}.` } : {}),
    cancel: request.status === 'Pending' && mayCancel(policy, viewer, request),
    revoke: (request.status === 'Active' || request.status === 'Approved') && mayRevoke(policy, viewer, request),
    ...(extendable ? { extend: { durations: durationChoices(rule.minDurationMs, parseIsoDuration(rule.maxDuration) ?? 0, 'PT1H') } } : {}),
  };
}

export type NamedEntry = HistoryEntry & { readonly byName: string };

export function namedHistory(policy: Policy, entries: readonly HistoryEntry[]): NamedEntry[] {
  return entries.map((entry) => ({ ...entry, byName: displayName(policy, entry.by) }));
}

export function namedDecisions(policy: Policy, request: AccessRequest): Array<{ byName: string; decision: string; comment: string; at: string; on: string }> {
  const on = (decisions: AccessRequest['decisions'], what: string) => decisions.map((d) => ({ byName: displayName(policy, d.by), decision: d.decision === 'approve' ? 'Approved' : 'Denied', comment: d.comment ?? '', at: d.at, on: what }));
  return [...on(request.decisions, 'the request'), ...request.extensions.flatMap((e, i) => on(e.decisions, `extension ${i + 1} (${durationInWords(e.durationMs)})`))];
}

partial('hiddenFields', `<input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="version" value="{{version}}">{{#if next}}<input type="hidden" name="next" value="{{next}}">{{/if}}`);

partial('riskFlags', `{{#if riskFlags.length}}<div class="risk"><span>Look twice:</span><ul>{{#each riskFlags}}<li>{{this}}</li>{{/each}}</ul></div>{{/if}}`);

partial('facts', `<dl>{{#each facts}}<dt>{{title}}</dt><dd>{{#if at}}{{time at}}{{#if note}} ({{note}}){{/if}}{{else}}{{text value}}{{/if}}</dd>{{/each}}</dl>`);


/** Approve or deny with a comment; `key` keeps the ids apart when a page has several. */
partial('decideForm', `<form method="post" action="{{forms.action}}" class="action" aria-labelledby="decide-heading{{key}}">
<h2 id="decide-heading{{key}}">Your decision on {{decide.what}}</h2>
{{> hiddenFields forms}}
<label for="comment{{key}}">Comment (optional)</label>
<textarea id="comment{{key}}" name="comment" maxlength="1000" rows="3" aria-describedby="comment-help{{key}}"></textarea>
<p id="comment-help{{key}}" class="muted">Recorded with your decision in the audit trail.</p>
<div class="buttons"><button type="submit" name="action" value="approve" class="approve">Approve</button>
<button type="submit" name="action" value="deny" class="deny">Deny</button></div>
</form>`);

partial('history', `<table><caption>{{caption}}</caption><thead><tr><th scope="col">When</th><th scope="col">Status</th><th scope="col">By</th><th scope="col">What</th></tr></thead><tbody>
{{#each entries}}<tr><td data-label="When">{{time at}}</td><td data-label="Status">{{#if from}}{{from}} → {{/if}}{{to}}</td><td data-label="By">{{text byName}}</td><td data-label="What">{{text reason}}</td></tr>{{/each}}
</tbody></table>`);
