import {
  decide,
  displayName,
  mayCancel,
  mayRevoke,
  notificationContent,
  riskFlags,
  verifyReviewToken,
  type AccessRequest,
  type Caller,
  type HistoryEntry,
  type Policy,
} from '../domain';
import type { AccessRequestService, Outcome } from './accessRequests';
import type { CsrfProtection, RequestOrigin } from './csrf';
import type { Clock, ServiceLog } from './ports';
import { messagePage, requestPage, type RequestPageModel } from './reviewHtml';

const MAX_COMMENT_LENGTH = 1000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ReviewPageDependencies {
  requests: AccessRequestService;
  policy: Policy;
  /** Review link keys: the first signs, all verify. */
  keys: readonly string[];
  clock: Clock;
  log: ServiceLog;
  /** The cross-site checks and CSRF tokens the API uses too. */
  csrf: CsrfProtection;
}

export interface ReviewCaller extends Caller {
  readonly name: string;
}

export interface ReviewInput {
  readonly id: string | undefined;
  readonly token: string | null;
  readonly caller?: ReviewCaller;
  /** The CSRF cookie the browser sent. */
  readonly csrfCookie?: string;
  /** The page's own path, without the query (`/api/review/{id}`). */
  readonly path: string;
}

export interface ReviewPost extends ReviewInput, RequestOrigin {
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

const DONE_NOTICES: Record<string, string> = {
  approve: 'Your approval was recorded.',
  deny: 'Your denial was recorded.',
  cancel: 'Your request was cancelled.',
  revoke: 'The grant was revoked.',
};

type Action = 'approve' | 'deny' | 'cancel' | 'revoke';

/**
 * The review page behind a notification's link. GET and HEAD only read: the signed token names the
 * request, the signed-in caller must be allowed to see it, and the page offers what that caller may
 * do. A decision is a POST with a CSRF token bound to the caller, the request and the browser's
 * cookie, checked exactly as the API checks it (AccessRequestService).
 */
export class ReviewPageService {
  constructor(private readonly deps: ReviewPageDependencies) {}

  private pageUrl(input: ReviewInput, extra = ''): string {
    return `${input.path}?t=${encodeURIComponent(input.token ?? '')}${extra}`;
  }

  private signedIn(input: ReviewInput): { name: string; signOut: string } | undefined {
    if (!input.caller) return undefined;
    return { name: input.caller.name, signOut: `/.auth/logout?post_logout_redirect_uri=${encodeURIComponent(this.pageUrl(input))}` };
  }

  /** The token must be valid and name this very request; otherwise a page that says so. */
  private checkLink(input: ReviewInput): PageResult | undefined {
    if (this.deps.keys.length === 0) return { status: 404, html: messagePage('Review links are not enabled', ['This service has no review link key configured (REVIEW_LINK_KEYS).']) };
    if (!input.id || !GUID.test(input.id)) return { status: 404, html: messagePage('Link not valid', ['This review link is not valid.']) };
    const check = verifyReviewToken(input.token, this.deps.keys, this.deps.clock.now());
    if (check.ok && check.requestId.toLowerCase() === input.id.toLowerCase()) return undefined;
    if (!check.ok && check.reason === 'expired') {
      return { status: 410, html: messagePage('Link expired', ['This review link has expired. Open the request from a newer notification, or in the API.']) };
    }
    return { status: 404, html: messagePage('Link not valid', ['This review link is not valid. Open the request from its notification again.']) };
  }

  private loginUrl(input: ReviewInput): string {
    return `/.auth/login/aad?post_login_redirect_uri=${encodeURIComponent(this.pageUrl(input))}`;
  }

  private signInRedirect(input: ReviewInput): PageResult {
    const login = this.loginUrl(input);
    return { status: 302, location: login, html: messagePage('Sign in to review', ['You need to sign in to see this request.'], { href: login, text: 'Sign in' }) };
  }

  /** GET and HEAD: shows the request and what the caller may do; changes nothing. */
  async view(input: ReviewInput & { done?: string | null }): Promise<PageResult> {
    const invalid = this.checkLink(input);
    if (invalid) return invalid;
    if (!input.caller) return this.signInRedirect(input);
    const found = await this.deps.requests.get(input.caller, (input.id as string).toLowerCase());
    if (!found.ok) return this.notVisible(input);
    const notice = input.done ? DONE_NOTICES[input.done] : undefined;
    return this.render(input, found.value, 200, { ...(notice ? { notice } : {}) });
  }

  /** POST: one decision, cancellation or revocation, if the form is genuine and the request is as the reader saw it. */
  async act(input: ReviewPost): Promise<PageResult> {
    const invalid = this.checkLink(input);
    if (invalid) return invalid;
    const caller = input.caller;
    if (!caller) {
      const login = this.loginUrl(input);
      return { status: 401, html: messagePage('Sign in to review', ['Your session has ended: sign in and decide again.'], { href: login, text: 'Sign in' }) };
    }
    const id = (input.id as string).toLowerCase();
    const signedIn = this.signedIn(input);
    const again = { href: this.pageUrl(input), text: 'Open the request again' };
    if (this.deps.csrf.crossSite(input) || !this.deps.csrf.verify(input.form.get('csrf'), caller.objectId, id, input.csrfCookie)) {
      this.deps.log.warn(`Review page: a post for request ${id} by ${caller.objectId} failed the CSRF check`);
      return { status: 403, html: messagePage('Form not accepted', ['Nothing was changed: this form did not come from your current session of this page.'], again, signedIn) };
    }
    const action = input.form.get('action');
    if (action !== 'approve' && action !== 'deny' && action !== 'cancel' && action !== 'revoke') {
      return { status: 400, html: messagePage('Form not accepted', ['Nothing was changed: choose Approve, Deny, Cancel or Revoke.'], again, signedIn) };
    }
    const comment = (input.form.get('comment') ?? '').trim();
    if (comment.length > MAX_COMMENT_LENGTH) {
      return { status: 400, html: messagePage('Comment too long', [`Nothing was changed: a comment may be at most ${MAX_COMMENT_LENGTH} characters.`], again, signedIn) };
    }
    const found = await this.deps.requests.get(caller, id);
    if (!found.ok) return this.notVisible(input);
    const seen = Number(input.form.get('version'));
    if (!Number.isSafeInteger(seen) || seen !== found.value.history.length) {
      // Decided on a page that no longer shows the request as it is: show what happened instead.
      const changed = Number.isSafeInteger(seen) && seen >= 0 && seen < found.value.history.length ? found.value.history.slice(seen) : [];
      return this.render(input, found.value, 409, { problem: `The request changed while you had this page open; it is now ${found.value.status}. Look again before you act.`, changed });
    }
    const outcome = await this.apply(caller, id, action, comment);
    if (!outcome.ok) {
      const current = await this.deps.requests.get(caller, id);
      return current.ok ? this.render(input, current.value, outcome.status, { problem: outcome.detail }) : this.notVisible(input);
    }
    this.deps.log.info(`Review page: ${caller.objectId} chose ${action} on request ${id}; it is now ${outcome.value.status}`);
    return { status: 303, location: this.pageUrl(input, `&done=${action}`), html: messagePage('Done', [DONE_NOTICES[action]], { href: this.pageUrl(input, `&done=${action}`), text: 'See the request' }, signedIn) };
  }

  private apply(caller: Caller, id: string, action: Action, comment: string): Promise<Outcome<AccessRequest>> {
    switch (action) {
      case 'approve':
      case 'deny':
        return this.deps.requests.decide(caller, id, action, comment || undefined);
      case 'cancel':
        return this.deps.requests.cancel(caller, id);
      case 'revoke':
        return this.deps.requests.revoke(caller, id, comment || 'revoked on the review page');
    }
  }

  private notVisible(input: ReviewInput): PageResult {
    return {
      status: 404,
      html: messagePage('Request not found', ['There is no request at this link that you can see. If you use more than one account, sign in with the one the notification was meant for.'], undefined, this.signedIn(input)),
    };
  }

  private render(input: ReviewInput, request: AccessRequest, status: number, extra: { notice?: string; problem?: string; changed?: readonly HistoryEntry[] }): PageResult {
    const caller = input.caller as ReviewCaller;
    const policy = this.deps.policy;
    const me = caller.objectId.toLowerCase();
    const nonce = this.deps.csrf.nonce(input.csrfCookie);
    const verdict = decide(policy, caller, request, 'approve');
    const awaiting = request.status === 'Pending' || request.extension?.status === 'Pending';
    const content = notificationContent(policy, request, { kind: 'decided', audience: 'approvers', requestId: request.id, actor: me });
    const named = (entries: readonly HistoryEntry[]) => entries.map((entry) => ({ ...entry, byName: displayName(policy, entry.by) }));
    const model: RequestPageModel = {
      request,
      facts: content.facts,
      riskFlags: riskFlags(policy, request),
      history: named(request.history),
      signedIn: this.signedIn(input) as { name: string; signOut: string },
      ...(extra.notice ? { notice: extra.notice } : {}),
      ...(extra.problem ? { problem: extra.problem } : {}),
      ...(extra.changed ? { changed: named(extra.changed) } : {}),
      form: { action: this.pageUrl(input), csrf: this.deps.csrf.token(me, request.id, nonce.value), version: request.history.length },
      ...(verdict.ok ? { decide: { target: verdict.target } } : {}),
      ...(!verdict.ok && awaiting ? { cannotDecide: `You cannot decide: ${verdict.detail}.` } : {}),
      cancel: request.status === 'Pending' && mayCancel(policy, caller, request),
      revoke: (request.status === 'Active' || request.status === 'Approved') && mayRevoke(policy, caller, request),
    };
    return { status, html: requestPage(model), ...(nonce.fresh ? { setCsrfCookie: nonce.value } : {}) };
  }
}

/** A page for errors outside the service (a body too large, a wrong content type). */
export function errorPage(title: string, text: string): string {
  return messagePage(title, [text]);
}
