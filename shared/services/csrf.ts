/**
 * The one defence against cross-site requests, shared by the JSON API and the review page's form.
 * A state-changing call is refused when the browser says it comes from another site (`Origin`,
 * `Sec-Fetch-Site`), and a call the browser authenticated with its session cookie must also carry
 * a CSRF token: an HMAC over the signed-in principal, what it is for (the API, or one request's
 * review form) and the browser's own random `hsmgov-csrf` cookie. Another site can make a browser
 * send the cookies, but can read neither the cookie nor a token.
 */
import { signCsrfToken, verifyCsrfToken } from '../domain';

export const CSRF_COOKIE = 'hsmgov-csrf';
export const CSRF_COOKIE_PATH = '/api';
export const CSRF_COOKIE_MAX_AGE_SECONDS = 8 * 3600;
/** The header a cookie-authenticated API call carries its token in. */
export const CSRF_HEADER = 'x-csrf-token';
/** What an API token is bound to (a review form's token is bound to its request id instead). */
export const API_CSRF_BINDING = 'api';

export interface CsrfDependencies {
  /** HMAC keys, current first (REVIEW_LINK_KEYS); none: every cookie-authenticated change is refused. */
  readonly keys: readonly string[];
  /** PUBLIC_BASE_URL: requests from its origin count as this site's too. */
  readonly publicBaseUrl?: string;
  /** A fresh random value for the cookie. */
  newNonce(): string;
}

/** What the browser said about where a request comes from, and where it arrived. */
export interface RequestOrigin {
  readonly origin: string | null;
  readonly fetchSite: string | null;
  /** The origin the request reached (from its URL). */
  readonly ownOrigin: string;
}

export class CsrfProtection {
  constructor(private readonly deps: CsrfDependencies) {}

  get enabled(): boolean {
    return this.deps.keys.length > 0;
  }

  /** Why the request is cross-site, or undefined when nothing says so (a CLI sends neither header). */
  crossSite(request: RequestOrigin): string | undefined {
    const allowed = [request.ownOrigin, ...(this.deps.publicBaseUrl ? [new URL(this.deps.publicBaseUrl).origin] : [])];
    if (request.origin !== null && !allowed.includes(request.origin)) return `the request comes from ${request.origin}, not from this site`;
    if (request.fetchSite !== null && request.fetchSite !== 'same-origin' && request.fetchSite !== 'none') return `the browser says the request is ${request.fetchSite}`;
    return undefined;
  }

  /** The browser's cookie value when it is one we could have set, else a new one to set. */
  nonce(cookie: string | undefined): { value: string; fresh: boolean } {
    if (cookie && cookie.length >= 16 && cookie.length <= 128 && /^[A-Za-z0-9_-]+$/.test(cookie)) return { value: cookie, fresh: false };
    return { value: this.deps.newNonce(), fresh: true };
  }

  token(principalId: string, binding: string, nonce: string): string {
    return signCsrfToken(principalId, binding, nonce, this.deps.keys);
  }

  verify(token: string | null | undefined, principalId: string, binding: string, cookie: string | undefined): boolean {
    return this.enabled && verifyCsrfToken(token, principalId, binding, cookie, this.deps.keys);
  }
}
