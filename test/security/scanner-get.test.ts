// Keeps out state changes by GET and HEAD: mail link scanners (and anyone else) following every route and review link, signed in or not, change nothing.
import { randomUUID } from 'node:crypto';
import { openReviewPage, reviewLink, sessionCookie, settledState, submitted, SELF_KEY_REQUEST, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();
const SCANNER = 'Mozilla/5.0 (compatible; SafeLinks link scanner)';
/** Query strings that read like actions: a GET must ignore them. */
const ACTION_QUERIES = ['', '?decision=approve&action=approve&comment=scanned', '?action=revoke&mode=apply', '?format=html&done=approve'];

let pending: string;
let active: string;
let runId: string;
let link: string;
let before: StackState;

beforeAll(async () => {
  pending = await submitted(stack(), 'dave');
  active = await submitted(stack(), 'sara', SELF_KEY_REQUEST);
  const approved = await stack().api(`/api/requests/${active}/decisions`, { persona: 'sam', method: 'POST', body: { decision: 'approve' }, headers: { 'content-type': 'application/json' } });
  expect(approved.status).toBe(200);
  const run = await stack().api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST', headers: { 'content-type': 'application/json' } });
  expect([200, 202]).toContain(run.status);
  runId = (run.headers.get('location') as string).split('/').pop() as string;
  link = await reviewLink(stack(), pending);
  before = await settledState(stack());
}, 60_000);

/**
 * Every HTTP route of the app, with its parameters filled in with real and made-up ids; `reads`
 * says whether the route takes GET or HEAD at all (the others must answer 405 and are scanned once).
 */
function routePaths(): Array<{ path: string; reads: boolean }> {
  const paths = new Map<string, boolean>();
  for (const registration of stack().stack.host.registrations.filter((r) => r.kind === 'http')) {
    const template = String(registration.trigger.route ?? registration.name);
    const methods = (registration.trigger.methods as string[] | undefined ?? ['GET', 'POST']).map((m) => m.toUpperCase());
    const reads = methods.includes('GET') || methods.includes('HEAD');
    const ids = template.includes('reports/{') ? [runId, 'latest', randomUUID()] : [pending, active, randomUUID()];
    for (const id of template.includes('{') ? ids : ['']) {
      const path = `/${template.replace(/\{[^}]+\}/g, id)}`;
      paths.set(path, reads || paths.get(path) === true);
    }
  }
  return [...paths].map(([path, reads]) => ({ path, reads }));
}

async function callers(): Promise<Array<[string, Record<string, string>]>> {
  const bearer = async (persona: string): Promise<Record<string, string>> => ({ authorization: `Bearer ${await stack().tokenFor(persona)}` });
  return [
    ['anonymous', {}],
    ['sam (bearer)', await bearer('sam')],
    ['dave (bearer)', await bearer('dave')],
    ['sam (signed in)', { cookie: await sessionCookie(stack(), 'sam') }],
  ];
}

async function scan(url: string, headers: Record<string, string>, seen: Array<[string, number]>, { followRedirects = true } = {}): Promise<void> {
  // Scanners follow redirects too (to the sign-in page, say).
  for (const [method, redirect] of [['GET', 'manual'], ['HEAD', 'manual'], ...(followRedirects ? [['GET', 'follow'] as const] : [])] as const) {
    const response = await fetch(url, { method, redirect, headers: { 'user-agent': SCANNER, accept: '*/*', ...headers } });
    await response.arrayBuffer();
    seen.push([`${method} ${url}`, response.status]);
  }
}

describe('GET and HEAD change nothing', () => {
  it('every route, as every kind of caller, with action-like queries', async () => {
    const api = stack().stack.endpoints.api;
    const seen: Array<[string, number]> = [];
    const platform = ['/.auth/me', '/.auth/login/dev', '/.auth/login/aad?post_login_redirect_uri=/api/requests', '/admin/functions', '/admin/host/status', '/runtime/webhooks/eventgrid?functionName=events-submit', '/'];
    for (const [, headers] of await callers()) {
      for (const { path, reads } of routePaths()) {
        for (const query of reads ? ACTION_QUERIES : ['']) await scan(`${api}${path}${query}`, headers, seen, { followRedirects: query === '' });
      }
      for (const path of platform) await scan(`${api}${path}`, headers, seen);
    }
    expect(seen.length).toBeGreaterThan(300);
    expect(seen.filter(([, status]) => status >= 500)).toEqual([]);
    expect(await settledState(stack())).toEqual(before);
  }, 300_000);

  it('review links, with a valid token, a signed-in approver and the decision in the query', async () => {
    const sam = await sessionCookie(stack(), 'sam');
    const { html, csrfCookie, csrf, version } = await openReviewPage(link, sam);
    const decision = new URLSearchParams({ action: 'approve', csrf, version, comment: 'scanner' }).toString();
    const seen: Array<[string, number]> = [];
    for (const headers of [{}, { cookie: sam }, { cookie: `${sam}; ${csrfCookie}` }, { authorization: `Bearer ${await stack().tokenFor('sam')}` }] as Array<Record<string, string>>) {
      for (const url of [link, `${link}&${decision}`, `${link}&done=approve`, `${link}&${decision}&_method=POST`]) await scan(url, headers, seen);
    }
    expect(seen.filter(([, status]) => status >= 500)).toEqual([]);
    // The signed-in approver was shown the page with its Approve button: the scan reached the real thing.
    expect(html).toContain('value="approve"');
    expect(await settledState(stack())).toEqual(before);
    const request = (await (await stack().api(`/api/requests/${pending}`, { persona: 'dave' })).json()) as { status: string; decisions: unknown[] };
    expect(request).toMatchObject({ status: 'Pending', decisions: [] });
  });
});
