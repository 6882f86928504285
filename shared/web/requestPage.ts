/**
 * The one page per request: status, approval progress, facts, risk flags, decisions, history, and the
 * forms of what the viewer may do (approve or deny, extend, revoke, cancel). It has two addresses:
 * `/requests/{id}` in the portal (signed in), and the signed review link of every notification
 * (`/api/review/{id}?t=`), whose token must name this very request. GET and HEAD only read. Every
 * change is a POST with a CSRF token bound to the viewer, the request and the browser's cookie,
 * checked exactly as the API checks it (AccessRequestService), and with the history length the
 * viewer saw: a request that changed meanwhile is shown again instead of being acted on.
 */
import { isOverseer, verifyReviewToken, type AccessRequest, type Caller, type HistoryEntry, type Policy } from '../domain';
import type { AccessRequestService, Outcome } from '../services/accessRequests';
import type { CsrfProtection, RequestOrigin } from '../services/csrf';
import type { Clock, ServiceLog } from '../services/ports';
import { actionsFor, durationInWords, namedDecisions, namedHistory, summarize, type NamedEntry, type RequestActions, type RequestSummary } from './requestViews';
import { page, template, type PageFrame } from './templates';

const MAX_COMMENT_LENGTH = 1000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Where a form on another page may send the viewer back to. */
const NEXT_PAGES: Record<string, string> = { home: '/', approvals: '/approvals' };

export interface RequestPageDependencies {
  requests: AccessRequestService;
  policy: Policy;
  /** Review link keys: the first signs, all verify. */
  keys: readonly string[];
  clock: Clock;
  log: ServiceLog;
  /** The cross-site checks and CSRF tokens the API uses too. */
  csrf: CsrfProtection;
}

export interface PageViewer extends Caller {
  readonly name: string;
}

export interface RequestPageInput {
  readonly id: string | undefined;
  /** The review link's token; undefined on the portal's own address, which needs none. */
  readonly token?: string | null;
  readonly caller?: PageViewer;
  /** The CSRF cookie the browser sent. */
  readonly csrfCookie?: string;
  /** The page's own path, without the query (`/requests/{id}` or `/api/review/{id}`). */
  readonly path: string;
  /** The nonce of the page's one script (in the response's CSP). */
  readonly scriptNonce: string;
}

export interface RequestPagePost extends RequestPageInput, RequestOrigin {
  readonly form: URLSearchParams;
}

export interface PageResult {
  readonly status: number;
  readonly html: string;
  /** `Location` of a redirect. */
  readonly location?: string;
  /** A new CSRF cookie value to set. */
  readonly setCsrfCookie?: string;
}

export const DONE_NOTICES: Record<string, string> = {
  approve: 'Your approval was recorded.',
  deny: 'Your denial was recorded.',
  cancel: 'Your request was cancelled.',
  revoke: 'The grant was revoked.',
  extend: 'More time was asked for.',
};

type Action = 'approve' | 'deny' | 'cancel' | 'revoke' | 'extend';
const ACTIONS = new Set<string>(['approve', 'deny', 'cancel', 'revoke', 'extend']);

interface Link { readonly href: string; readonly text: string }

const MESSAGE = template<{ title: string; paragraphs: readonly string[]; link?: Link }>(`<h1>{{title}}</h1>
{{#each paragraphs}}<p>{{this}}</p>{{/each}}
{{#if link}}<p><a href="{{link.href}}">{{link.text}}</a></p>{{/if}}`);

interface RequestView {
  readonly summary: RequestSummary;
  readonly actions: RequestActions;
  readonly history: readonly NamedEntry[];
  readonly decisions: ReturnType<typeof namedDecisions>;
  readonly notice?: string;
  readonly problem?: string;
  readonly changed?: readonly NamedEntry[];
  readonly extension?: { readonly duration: string; readonly status: string; readonly justification: string };
}

const REQUEST = template<RequestView>(`<h1>{{summary.title}}</h1>
<p>Status: <span class="status st-{{summary.status}}">{{summary.status}}</span>{{#if summary.progress}} · {{summary.progress}}{{/if}}
{{#if summary.expiresAt}} · ends {{time summary.expiresAt}}, <span data-expires="{{summary.expiresAt}}">{{summary.left}}</span>{{/if}}</p>
{{#if notice}}<p class="notice" role="status">{{notice}}</p>{{/if}}
{{#if problem}}<div class="problem" role="alert"><p><strong>Nothing was changed.</strong> {{text problem}}</p></div>{{/if}}
{{#if changed.length}}<div class="problem" role="alert">{{> history caption="What happened while you had the page open" entries=changed}}</div>{{/if}}
{{> riskFlags summary}}
<h2>Request</h2>
{{> facts summary}}
{{#if extension}}<p>Extension asked for: {{extension.duration}} more ({{extension.status}}){{#if extension.justification}}: {{text extension.justification}}{{/if}}</p>{{/if}}
{{#with actions}}
{{#if decide}}{{> decideForm}}{{else if cannotDecide}}<p class="muted">{{cannotDecide}}</p>{{/if}}
{{#if extend}}<form method="post" action="{{forms.action}}" class="action" aria-labelledby="extend-heading">
<h2 id="extend-heading">Ask for more time</h2>
{{> hiddenFields forms}}
<label for="extend-duration">How much more</label>
<select id="extend-duration" name="duration">{{#each extend.durations}}<option value="{{value}}"{{#if selected}} selected{{/if}}>{{label}}</option>{{/each}}</select>
<label for="extend-why">Why (optional)</label>
<textarea id="extend-why" name="comment" maxlength="1000" rows="2"></textarea>
<div class="buttons"><button type="submit" name="action" value="extend">Extend</button></div>
</form>{{/if}}
{{#if revoke}}<form method="post" action="{{forms.action}}" class="action" aria-labelledby="revoke-heading">
<h2 id="revoke-heading">End the grant now</h2>
{{> hiddenFields forms}}
<label for="reason">Reason (optional)</label>
<textarea id="reason" name="comment" maxlength="1000" rows="2"></textarea>
<div class="buttons"><button type="submit" name="action" value="revoke" class="revoke">Revoke</button></div>
</form>{{/if}}
{{#if cancel}}<form method="post" action="{{forms.action}}" class="action" aria-labelledby="cancel-heading">
<h2 id="cancel-heading">Cancel your request</h2>
{{> hiddenFields forms}}
<div class="buttons"><button type="submit" name="action" value="cancel" class="cancel">Cancel request</button></div>
</form>{{/if}}
{{/with}}
<h2>Decisions</h2>
{{#if decisions.length}}<table><caption>Who decided, oldest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Decision</th><th scope="col">On</th><th scope="col">Comment</th></tr></thead><tbody>
{{#each decisions}}<tr><td data-label="When">{{time at}}</td><td data-label="Who">{{text byName}}</td><td data-label="Decision">{{decision}}</td><td data-label="On">{{on}}</td><td data-label="Comment">{{text comment}}</td></tr>{{/each}}
</tbody></table>{{else}}<p>No decision yet.</p>{{/if}}
<h2>History</h2>
{{> history caption="Every change, oldest first" entries=history}}
<p class="muted">Request <code>{{summary.id}}</code></p>`);

/** The request page behind `/requests/{id}` and behind a notification's signed review link. */
export class RequestPageService {
  constructor(private readonly deps: RequestPageDependencies) {}

  private pageUrl(input: RequestPageInput, extra = ''): string {
    if (input.token === undefined) return `${input.path}${extra ? `?${extra}` : ''}`;
    return `${input.path}?t=${encodeURIComponent(input.token ?? '')}${extra ? `&${extra}` : ''}`;
  }

  private frame(input: RequestPageInput, title: string): PageFrame {
    return {
      title, nonce: input.scriptNonce, overseer: input.caller !== undefined && isOverseer(this.deps.policy, input.caller),
      ...(input.caller ? { signedIn: input.caller.name, signOut: `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(this.pageUrl(input))}` } : {}),
    };
  }

  private message(input: RequestPageInput, title: string, paragraphs: readonly string[], link?: Link): string {
    return page(this.frame(input, title), MESSAGE({ title, paragraphs, ...(link ? { link } : {}) }));
  }

  /** A review link's token must be valid and name this very request; the portal's address needs a request id. */
  private checkLink(input: RequestPageInput): PageResult | undefined {
    if (input.token === undefined) {
      return input.id && GUID.test(input.id) ? undefined : { status: 404, html: this.message(input, 'Request not found', ['There is no request at this address.']) };
    }
    if (this.deps.keys.length === 0) return { status: 404, html: this.message(input, 'Review links are not enabled', ['This service has no review link key configured (REVIEW_LINK_KEYS).']) };
    if (!input.id || !GUID.test(input.id)) return { status: 404, html: this.message(input, 'Link not valid', ['This review link is not valid.']) };
    const check = verifyReviewToken(input.token, this.deps.keys, this.deps.clock.now());
    if (check.ok && check.requestId.toLowerCase() === input.id.toLowerCase()) return undefined;
    if (!check.ok && check.reason === 'expired') {
      return { status: 410, html: this.message(input, 'Link expired', ['This review link has expired. Open the request from a newer notification, or from the portal\'s home page.'], { href: `/requests/${encodeURIComponent(input.id)}`, text: 'Open the request in the portal' }) };
    }
    return { status: 404, html: this.message(input, 'Link not valid', ['This review link is not valid. Open the request from its notification again.']) };
  }

  private loginUrl(input: RequestPageInput): string {
    return `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(this.pageUrl(input))}`;
  }

  /** GET and HEAD: shows the request and what the viewer may do; changes nothing. */
  async view(input: RequestPageInput & { done?: string | null }): Promise<PageResult> {
    const invalid = this.checkLink(input);
    if (invalid) return invalid;
    if (!input.caller) {
      const login = this.loginUrl(input);
      return { status: 302, location: login, html: this.message(input, 'Sign in to review', ['You need to sign in to see this request.'], { href: login, text: 'Sign in' }) };
    }
    const found = await this.deps.requests.get(input.caller, (input.id as string).toLowerCase());
    if (!found.ok) return this.notVisible(input);
    const notice = input.done ? DONE_NOTICES[input.done] : undefined;
    return this.render(input, found.value, 200, { ...(notice ? { notice } : {}) });
  }

  /** POST: one decision, extension, cancellation or revocation, if the form is genuine and the request is as the viewer saw it. */
  async act(input: RequestPagePost): Promise<PageResult> {
    const invalid = this.checkLink(input);
    if (invalid) return invalid;
    const caller = input.caller;
    if (!caller) {
      const login = this.loginUrl(input);
      return { status: 401, html: this.message(input, 'Sign in to review', ['Your session has ended: sign in and decide again.'], { href: login, text: 'Sign in' }) };
    }
    const id = (input.id as string).toLowerCase();
    const again = { href: this.pageUrl(input), text: 'Open the request again' };
    if (this.deps.csrf.crossSite(input) || !this.deps.csrf.verify(input.form.get('csrf'), caller.objectId, id, input.csrfCookie)) {
      this.deps.log.warn(`Request page: a post for request ${id} by ${caller.objectId} failed the CSRF check`);
      return { status: 403, html: this.message(input, 'Form not accepted', ['Nothing was changed: this form did not come from your current session of this page.'], again) };
    }
    const action = input.form.get('action') ?? '';
    if (!ACTIONS.has(action)) {
      return { status: 400, html: this.message(input, 'Form not accepted', ['Nothing was changed: choose Approve, Deny, Extend, Cancel or Revoke.'], again) };
    }
    const comment = (input.form.get('comment') ?? '').trim();
    if (comment.length > MAX_COMMENT_LENGTH) {
      return { status: 400, html: this.message(input, 'Comment too long', [`Nothing was changed: a comment may be at most ${MAX_COMMENT_LENGTH} characters.`], again) };
    }
    const found = await this.deps.requests.get(caller, id);
    if (!found.ok) return this.notVisible(input);
    const seen = Number(input.form.get('version'));
    if (!Number.isSafeInteger(seen) || seen !== found.value.history.length) {
      // Acted on from a page that no longer shows the request as it is: show what happened instead.
      const changed = Number.isSafeInteger(seen) && seen >= 0 && seen < found.value.history.length ? found.value.history.slice(seen) : [];
      return this.render(input, found.value, 409, { problem: `The request changed while you had this page open; it is now ${found.value.status}. Look again before you act.`, changed });
    }
    const outcome = await this.apply(caller, id, action as Action, comment, input.form.get('duration'));
    if (!outcome.ok) {
      const current = await this.deps.requests.get(caller, id);
      return current.ok ? this.render(input, current.value, outcome.status, { problem: outcome.detail }) : this.notVisible(input);
    }
    this.deps.log.info(`Request page: ${caller.objectId} chose ${action} on request ${id}; it is now ${outcome.value.status}`);
    const next = input.token === undefined ? NEXT_PAGES[input.form.get('next') ?? ''] : undefined;
    const location = next ? `${next}?done=${action}` : this.pageUrl(input, `done=${action}`);
    return { status: 303, location, html: this.message(input, 'Done', [DONE_NOTICES[action] as string], { href: location, text: 'Continue' }) };
  }

  private apply(caller: Caller, id: string, action: Action, comment: string, duration: string | null): Promise<Outcome<AccessRequest>> {
    switch (action) {
      case 'approve':
      case 'deny':
        return this.deps.requests.decide(caller, id, action, comment || undefined);
      case 'cancel':
        return this.deps.requests.cancel(caller, id);
      case 'revoke':
        return this.deps.requests.revoke(caller, id, comment || 'revoked on the request page');
      case 'extend':
        return this.deps.requests.extend(caller, id, duration ?? '', comment || undefined);
    }
  }

  private notVisible(input: RequestPageInput): PageResult {
    return {
      status: 404,
      html: this.message(input, 'Request not found', ['There is no request at this link that you can see. If you use more than one account, sign in with the one the notification was meant for.']),
    };
  }

  private render(input: RequestPageInput, request: AccessRequest, status: number, extra: { notice?: string; problem?: string; changed?: readonly HistoryEntry[] }): PageResult {
    const caller = input.caller as PageViewer;
    const policy = this.deps.policy;
    const nonce = this.deps.csrf.nonce(input.csrfCookie);
    const summary = summarize(policy, request, this.deps.clock.now());
    const actions = actionsFor(policy, caller, request, { action: this.pageUrl(input), csrf: this.deps.csrf.token(caller.objectId.toLowerCase(), request.id, nonce.value), version: request.history.length });
    const ext = request.extension;
    const view: RequestView = {
      summary, actions,
      history: namedHistory(policy, request.history),
      decisions: namedDecisions(policy, request),
      ...(extra.notice ? { notice: extra.notice } : {}),
      ...(extra.problem ? { problem: extra.problem } : {}),
      ...(extra.changed ? { changed: namedHistory(policy, extra.changed) } : {}),
      ...(ext ? { extension: { duration: durationInWords(ext.durationMs), status: ext.status, justification: ext.justification ?? '' } } : {}),
    };
    return { status, html: page(this.frame(input, summary.title), REQUEST(view)), ...(nonce.fresh ? { setCsrfCookie: nonce.value } : {}) };
  }
}

/** A page for errors outside the service (a body too large, a wrong content type). */
export function errorPage(scriptNonce: string, title: string, text: string): string {
  return page({ title, nonce: scriptNonce }, MESSAGE({ title, paragraphs: [text] }));
}
