// Keeps out cross-site request forgery on the review page: a decision posted without this session's own form (token, cookie, origin, method, content type) decides nothing.
import { signReviewToken } from '../../shared/domain';
import { CHANGE_REQUEST, openReviewPage, reviewLink, sessionCookie, settledState, submitted, type OpenedReviewPage, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();
const FORM = 'application/x-www-form-urlencoded';

/** The page as sam's browser holds it, with the cookies it sends back. */
interface OpenedPage extends OpenedReviewPage {
  cookies: string;
}

async function open(link: string, session: string, csrfCookie?: string): Promise<OpenedPage> {
  const opened = await openReviewPage(link, csrfCookie ? `${session}; ${csrfCookie}` : session);
  return { ...opened, cookies: `${session}; ${opened.csrfCookie}` };
}

interface Attempt {
  method?: string;
  url?: string;
  cookie?: string;
  headers?: Record<string, string>;
  form?: Record<string, string>;
  body?: string;
}

let link: string;
let otherLink: string;
let target: string;
let sam: string;
let page: OpenedPage;
let before: StackState;

beforeAll(async () => {
  target = await submitted(stack(), 'dave');
  const other = await submitted(stack(), 'dana', CHANGE_REQUEST);
  [link, otherLink] = [await reviewLink(stack(), target), await reviewLink(stack(), other)];
  sam = await sessionCookie(stack(), 'sam');
  page = await open(link, sam);
  before = await settledState(stack());
});

function attempt(call: Attempt): Promise<Response> {
  const api = stack().stack.endpoints.api;
  const form = call.form ?? { action: 'approve', comment: 'forged', csrf: page.csrf, version: page.version };
  const method = call.method ?? 'POST';
  const bodyless = method === 'GET' || method === 'HEAD';
  return fetch(call.url ?? link, {
    method,
    redirect: 'manual',
    headers: { ...(call.cookie === undefined ? { cookie: page.cookies } : call.cookie ? { cookie: call.cookie } : {}), ...(bodyless ? {} : { 'content-type': FORM }), origin: api, ...call.headers },
    ...(bodyless ? {} : { body: call.body ?? new URLSearchParams(form).toString() }),
  });
}

async function variants(): Promise<Array<[string, Attempt, number[]]>> {
  const api = stack().stack.endpoints.api;
  const { csrf, version } = page;
  const dave = await sessionCookie(stack(), 'dave');
  const davePage = await open(link, dave);
  const otherPage = await open(otherLink, sam, page.csrfCookie);
  const anotherBrowser = await open(link, sam);
  const keys = (stack().stack.appSettings.REVIEW_LINK_KEYS as string).split(',');
  const expiredLink = `${api}/api/review/${target}?t=${signReviewToken(target, new Date(Date.now() - 1000), keys)}`;
  const query = new URLSearchParams({ action: 'approve', csrf, version }).toString();
  const samToken = await stack().tokenFor('sam');
  return [
    ['no token', { form: { action: 'approve', version } }, [403]],
    ['an empty token', { form: { action: 'approve', csrf: '', version } }, [403]],
    ['a made-up token', { form: { action: 'approve', csrf: 'A'.repeat(43), version } }, [403]],
    ["another user's token and cookie", { form: { action: 'approve', csrf: davePage.csrf, version }, cookie: `${sam}; ${davePage.csrfCookie}` }, [403]],
    ["another request's token", { form: { action: 'approve', csrf: otherPage.csrf, version } }, [403]],
    ['the token without its cookie', { cookie: sam }, [403]],
    ["the token with another browser's cookie", { cookie: `${sam}; ${anotherBrowser.csrfCookie}` }, [403]],
    ['an expired link', { url: expiredLink }, [410]],
    ["another request's link", { url: otherLink.replace(/\/review\/[^?]+/, `/review/${target}`) }, [404]],
    ['a cross-site Origin', { headers: { origin: 'https://evil.example' } }, [403]],
    ['Origin null', { headers: { origin: 'null' } }, [403]],
    ['an Origin on another port of this host', { headers: { origin: stack().stack.mailSink.url } }, [403]],
    ['Sec-Fetch-Site cross-site', { headers: { 'sec-fetch-site': 'cross-site' } }, [403]],
    ['Sec-Fetch-Site same-site', { headers: { 'sec-fetch-site': 'same-site' } }, [403]],
    ['a form without the session cookie', { cookie: page.csrfCookie }, [401]],
    ['a bearer token instead of the session, no form token', { cookie: '', headers: { authorization: `Bearer ${samToken}` }, form: { action: 'approve', version } }, [403]],
    ['the token in the query string only', { url: `${link}&csrf=${csrf}`, form: { action: 'approve', version } }, [403]],
    ['a method override header', { headers: { 'x-http-method-override': 'GET', 'x-method-override': 'PUT' }, form: { action: 'approve', version, _method: 'PUT' } }, [403]],
    ['GET with the decision in the query', { method: 'GET', url: `${link}&${query}` }, [200]],
    ['GET with a method override to POST', { method: 'GET', url: `${link}&${query}&_method=POST`, headers: { 'x-http-method-override': 'POST' } }, [200]],
    ['HEAD with the decision in the query', { method: 'HEAD', url: `${link}&${query}` }, [200]],
    ['PUT', { method: 'PUT' }, [404, 405]],
    ['DELETE', { method: 'DELETE' }, [404, 405]],
    ['PATCH', { method: 'PATCH' }, [404, 405]],
    ['text/plain (a CORS-simple request)', { headers: { 'content-type': 'text/plain' } }, [415]],
    ['multipart/form-data', { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: `--x\r\nContent-Disposition: form-data; name="action"\r\n\r\napprove\r\n--x--\r\n` }, [415]],
    ['application/json', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'approve', csrf, version }) }, [415]],
    ['no content type', { headers: { 'content-type': '' } }, [415]],
  ];
}

async function targetState(): Promise<{ status: string; decisions: unknown[]; history: number }> {
  const request = (await (await stack().api(`/api/requests/${target}`, { persona: 'dave' })).json()) as { status: string; decisions: unknown[]; history: unknown[] };
  return { status: request.status, decisions: request.decisions, history: request.history.length };
}

describe('CSRF on the review page', () => {
  it('no forged, replayed or misdirected form decides anything', async () => {
    const cases = await variants();
    expect(cases.length).toBeGreaterThanOrEqual(18);
    for (const [what, call, statuses] of cases) {
      const response = await attempt(call);
      expect({ what, status: response.status }).toEqual({ what, status: statuses.includes(response.status) ? response.status : `one of ${statuses.join(', ')}` });
      await response.arrayBuffer();
      expect({ what, ...(await targetState()) }).toEqual({ what, status: 'Pending', decisions: [], history: 1 });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('the genuine form, from the same page and session, decides once', async () => {
    const response = await attempt({});
    expect(response.status).toBe(303);
    expect(await targetState()).toMatchObject({ status: 'Active', decisions: [expect.objectContaining({ decision: 'approve' })] });
    // The same form again is a stale page now, not a second decision.
    const replayed = await attempt({});
    expect(replayed.status).toBe(409);
    expect((await targetState()).decisions).toHaveLength(1);
  });
});
