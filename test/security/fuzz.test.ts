// Keeps out what random requests could do: a seeded fuzz of methods, routes, headers and bodies, from callers with no rights, gets no 5xx and changes nothing.
import { randomInt, randomUUID } from 'node:crypto';
import { GROUPS, PERSONAS, TENANT_ID } from '../../dev/personas';
import { RELEASE_REQUEST, reviewLink, sessionCookie, settledState, submitted, SELF_KEY_REQUEST, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';
import { seededRandom } from '../helpers/random';

const stack = useStack();
/** How many requests one run sends (SECURITY_FUZZ_REQUESTS for a longer run), how many at once, and the most time it may take in any case. */
const REQUESTS = Number(process.env.SECURITY_FUZZ_REQUESTS ?? 2000);
const CONCURRENCY = 6;
const TIME_BOUND_MS = Number(process.env.SECURITY_FUZZ_TIME_BOUND_MS ?? 45_000);
const SEED = process.env.SECURITY_FUZZ_SEED ? Number(process.env.SECURITY_FUZZ_SEED) : randomInt(2 ** 31);


interface Pools {
  ids: string[];
  callers: Array<Record<string, string>>;
  tokens: string[];
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const STRINGS = [
  '', ' ', 'approve', 'deny', 'Pending', 'Active', "' or '1' eq '1", '%27', '../', '/keys/../', '/', '/keys', '/keys/*', '/keys/release-signing-key', '/keys/app-signing-key',
  'Crypto User', 'Crypto Officer', 'Administrator', 'Managed HSM Contributor', 'PT1H', 'PT9999H', 'P1D', '-PT1H', 'PT0S', 'CHG-1', 'INC-2', '<script>alert(1)</script>', '[Approve](https://evil.example)',
  '\u0000', '\ud800', '\u202e', 'x'.repeat(300), 'contoso-hsm', 'CONTOSO-HSM', 'other-hsm', RELEASE_REQUEST.principalId, PERSONAS['log-storage'].oid, PERSONAS.sam.oid, GROUPS.securityTeam.oid, 'null', 'true', '0',
];
const FIELDS = ['role', 'scope', 'principalId', 'duration', 'justification', 'ticket', 'hsm', 'decision', 'comment', 'reason', '__proto__', 'constructor', 'status', 'id', 'requestedBy', 'approvalsRequired'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/problem+json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml', '', 'application/jsonp'];
const METHODS = ['GET', 'GET', 'HEAD', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

/** Percent-encoded; a lone surrogate (which encodeURIComponent refuses) as the replacement character. */
const encoded = (text: string): string => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '\ufffd')) || 'x';

function fuzzer(random: () => number, pools: Pools) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const chance = (p: number): boolean => random() < p;
  const id = (): string => pick([...pools.ids, randomUUIDFrom(random), pick(STRINGS), encoded(pick(STRINGS))]);

  function value(depth = 0): unknown {
    const roll = random();
    if (roll < 0.55 || depth > 3) return pick(STRINGS);
    if (roll < 0.65) return Math.floor(random() * 1e6) - 5e5;
    if (roll < 0.72) return pick([true, false, null]);
    if (roll < 0.86) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
    return object(depth + 1);
  }
  function object(depth = 0): Record<string, unknown> {
    const shaped: Record<string, unknown> = chance(0.5) ? { ...pick([RELEASE_REQUEST, SELF_KEY_REQUEST, { decision: 'approve' }, { duration: 'PT1H' }, { reason: 'fuzz' }]) } : {};
    for (let i = Math.floor(random() * 4); i > 0; i--) shaped[pick(FIELDS)] = value(depth);
    return shaped;
  }
  function body(): string {
    const roll = random();
    if (roll < 0.55) return JSON.stringify(object());
    if (roll < 0.65) return JSON.stringify(value());
    if (roll < 0.75) return new URLSearchParams({ action: pick(['approve', 'deny', 'cancel', 'revoke']), csrf: pick(pools.tokens), version: String(Math.floor(random() * 4)), comment: pick(STRINGS) }).toString();
    if (roll < 0.85) return JSON.stringify([{ id: randomUUIDFrom(random), type: 'HsmAccess.Request.Submit.v1', source: 'https://itsm.contoso.example/hsm-access', specversion: '1.0', data: object() }]);
    return Array.from({ length: Math.floor(random() * 200) }, () => String.fromCharCode(Math.floor(random() * 256))).join('');
  }
  function query(): string {
    const names = ['status', 'mine', 'pageSize', 'continuation', 'mode', 't', 'from', 'to', 'key', 'days', 'format', 'done', 'code', 'functionName', 'action'];
    const values = [...STRINGS, 'plan', 'apply', 'html', 'events-submit', ...pools.tokens, Buffer.from(JSON.stringify({ nextPartitionKey: pick(STRINGS.filter((s) => /^[\x20-\x7e]*$/.test(s))) })).toString('base64')];
    const params = Array.from({ length: Math.floor(random() * 3) }, () => `${pick(names)}=${encoded(pick(values))}`);
    return params.length ? `?${params.join('&')}` : '';
  }
  function path(): string {
    const routes = [
      '/api/requests', `/api/requests/${id()}`, `/api/requests/${id()}/${pick(['decisions', 'cancel', 'revoke', 'extend'])}`, '/api/audit', '/api/health',
      '/api/reconcile', '/api/reconcile/reports/latest', `/api/reconcile/reports/${id()}`, '/api/reports/access', '/api/reports/keys', `/api/review/${id()}`,
      '/.auth/me', '/.auth/login/dev', '/.auth/login/aad', '/.auth/logout', '/admin/functions', '/admin/functions/events-submit', '/admin/host/status',
      '/runtime/webhooks/eventgrid', '/', `/api/${encoded(pick(STRINGS))}`, '/api/REQUESTS', '/api//requests', '/api/requests/', '/API/audit',
    ];
    return `${pick(routes)}${query()}`;
  }
  return (): FuzzRequest => {
    const method = pick(METHODS);
    const headers: Record<string, string> = { ...pick(pools.callers) };
    if (chance(0.7)) headers['content-type'] = pick(CONTENT_TYPES);
    if (chance(0.2)) headers.origin = pick(['https://evil.example', 'null', stack().stack.endpoints.api]);
    if (chance(0.15)) headers['sec-fetch-site'] = pick(['cross-site', 'same-site', 'same-origin', 'none']);
    if (chance(0.15)) headers['idempotency-key'] = pick(['k', 'release-1', "a'b", 'x'.repeat(250)]);
    if (chance(0.1)) headers['x-http-method-override'] = pick(['GET', 'POST', 'DELETE']);
    if (chance(0.1)) headers['x-functions-key'] = pick(['master', 'x', randomUUIDFrom(random)]);
    if (chance(0.1)) headers['aeg-event-type'] = pick(['Notification', 'SubscriptionValidation']);
    if (chance(0.1)) headers.accept = 'text/html';
    const sendsBody = method !== 'GET' && method !== 'HEAD' && chance(0.85);
    return { method, path: path(), headers, ...(sendsBody ? { body: body() } : {}) };
  };
}

/** A GUID from the run's own generator, so that a seed repeats the same requests. */
function randomUUIDFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Callers with no rights at all: anonymous, a principal no rule names, forgeries and spoofs of an approver. */
async function rightlessCallers(): Promise<Array<Record<string, string>>> {
  const logStorage = await stack().tokenFor('log-storage');
  const sam = await stack().tokenFor('sam');
  const [header, payload] = sam.split('.') as [string, string];
  const spoofed = Buffer.from(JSON.stringify({ auth_typ: 'aad', claims: [{ typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: PERSONAS.sam.oid }, { typ: 'http://schemas.microsoft.com/identity/claims/tenantid', val: TENANT_ID }, { typ: 'groups', val: GROUPS.securityTeam.oid }] })).toString('base64');
  return [
    {},
    { authorization: `Bearer ${logStorage}` },
    { cookie: await sessionCookie(stack(), 'log-storage') },
    { authorization: `Bearer ${header}.${payload}.${Buffer.from('forged').toString('base64url')}` },
    { authorization: `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.` },
    { authorization: `Bearer ${await stack().tokenFor('sam', 'hsm')}` },
    { 'x-ms-client-principal': spoofed, 'x-ms-client-principal-id': PERSONAS.sam.oid, 'x-ms-client-principal-idp': 'aad' },
  ];
}

/**
 * Sends one request. A request that got no answer at all is sent once more: under load a kept-alive
 * connection may close just as it is reused. One that fails twice is a failure.
 */
async function send(url: string, call: FuzzRequest): Promise<Response> {
  const once = (): Promise<Response> => fetch(url, { method: call.method, headers: call.headers, redirect: 'manual', signal: AbortSignal.timeout(15_000), ...(call.body === undefined ? {} : { body: call.body }) });
  try {
    return await once();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw error;
    return once();
  }
}

let pools: Pools;
let before: StackState;

beforeAll(async () => {
  const pending = await submitted(stack(), 'dave');
  const active = await submitted(stack(), 'sara', SELF_KEY_REQUEST);
  expect((await stack().api(`/api/requests/${active}/decisions`, { persona: 'sam', method: 'POST', body: { decision: 'approve' }, headers: { 'content-type': 'application/json' } })).status).toBe(200);
  const link = new URL(await reviewLink(stack(), pending));
  pools = { ids: [pending, active, pending.toUpperCase(), randomUUID()], callers: await rightlessCallers(), tokens: [link.searchParams.get('t') as string, 'garbage', ''] };
  before = await settledState(stack());
}, 60_000);

/** Sends the requests, a few at a time, until all are sent or the time bound is reached; collects statuses and what failed. */
async function fire(requests: readonly FuzzRequest[]): Promise<{ statuses: Map<number, number>; failures: string[] }> {
  const api = stack().stack.endpoints.api;
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  const deadline = Date.now() + TIME_BOUND_MS;
  let cursor = 0;
  const worker = async (): Promise<void> => {
    while (cursor < requests.length && Date.now() < deadline) {
      const call = requests[cursor++] as FuzzRequest;
      const described = `${call.method} ${call.path} ${JSON.stringify(call.headers).slice(0, 300)} ${call.body?.slice(0, 200) ?? ''}`;
      try {
        const response = await send(`${api}${call.path}`, call);
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) failures.push(`${response.status} for ${described}`);
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        failures.push(`${(error as Error).name} (${cause?.code ?? cause?.message ?? (error as Error).message}) for ${described}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { statuses, failures };
}

describe('a bounded, seeded fuzz from callers with no rights', () => {
  it(`sends up to ${REQUESTS} random requests: no 5xx, nothing changed`, async () => {
    console.log(`security fuzz seed ${SEED}: SECURITY_FUZZ_SEED=${SEED} npx jest test/security/fuzz.test.ts repeats this run`);
    const next = fuzzer(seededRandom(SEED), pools);
    const { statuses, failures } = await fire(Array.from({ length: REQUESTS }, next));
    const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
    console.log(`security fuzz seed ${SEED}: ${sent} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(0);
    expect(await settledState(stack())).toEqual(before);
  }, TIME_BOUND_MS + 30_000);
});
