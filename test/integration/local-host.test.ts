import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { startFunctionsHost, type FunctionsHost, type HostLogEntry } from '../../dev/host';
import { ISSUER, startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { createTokenVerifier } from '../../dev/idp/verify';
import { GROUPS, PERSONAS, TENANT_ID } from '../../dev/personas';
import { eventually } from '../helpers/poll';

const API_AUDIENCE = 'api://hsm-access-governor';
const BODY_LIMIT = 64 * 1024;
const GUID = '0b0c6b1e-7a55-4c1e-9f0e-2f4a4d7e8b11';

let idp: IdentityProvider;
let otherIdp: IdentityProvider;
let azurite: Azurite;
let host: FunctionsHost;
let dataDir: string;
const logs: HostLogEntry[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'local-host-'));
  [idp, otherIdp, azurite] = await Promise.all([
    startIdentityProvider({ port: 0 }),
    startIdentityProvider({ port: 0 }),
    startAzurite({ ports: { blob: 0, queue: 0, table: 0 } }),
  ]);
  host = await startFunctionsHost({
    port: 0,
    entry: 'test/fixtures/host-app/index',
    // The fixture retries failed messages at once; the service's own host.json waits between retries.
    hostJsonPath: 'test/fixtures/host-app/host.json',
    dataDir,
    verifier: createTokenVerifier({ issuer: ISSUER, audience: API_AUDIENCE, jwk: idp.publicJwk }),
    env: { AzureWebJobsStorage: azurite.connectionString, TICKER_SCHEDULE: '*/1 * * * * *' },
    maxRequestBodyBytes: BODY_LIMIT,
    logger: (entry) => logs.push(entry),
  });
});

afterAll(async () => {
  await host?.close();
  await Promise.all([idp?.close(), otherIdp?.close(), azurite?.close()]);
  rmSync(dataDir, { recursive: true, force: true });
});

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${host.url}${path}`, { redirect: 'manual', ...init });
}

async function tokenFor(persona: string, overrides: { audience?: string; lifetimeSeconds?: number } = {}): Promise<string> {
  return idp.issueToken(persona, { audience: overrides.audience ?? API_AUDIENCE, ...(overrides.lifetimeSeconds !== undefined ? { lifetimeSeconds: overrides.lifetimeSeconds } : {}) });
}

async function whoami(headers: Record<string, string>): Promise<{ headers: Record<string, string>; principal: Record<string, unknown> | null }> {
  const response = await api('/api/whoami', { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as { headers: Record<string, string>; principal: Record<string, unknown> | null };
}

async function observed(): Promise<{ ticks: Array<{ isPastDue: boolean; at: number; overlapping: boolean; next: string }>; events: Array<Record<string, unknown>>; messages: Array<{ input: unknown; dequeueCount: unknown }> }> {
  return (await (await api('/api/observed')).json()) as never;
}

describe('registrations', () => {
  it('captures every function with its trigger options as the library sent them', () => {
    const byName = Object.fromEntries(host.registrations.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual([
      'boom', 'cookies', 'defaultRoute', 'echo', 'itemsSpecial', 'observed', 'onEvent', 'onMessage', 'secret', 'startup', 'thingsByName', 'thingsByNumber', 'ticker', 'upload', 'whoami',
    ]);
    expect(byName.echo.trigger).toMatchObject({ type: 'httpTrigger', route: 'things/{id:guid}/{detail?}', methods: ['GET', 'POST', 'PUT'], authLevel: 'anonymous' });
    expect(byName.secret.trigger).toMatchObject({ authLevel: 'function' });
    expect(byName.ticker).toMatchObject({ kind: 'timer', trigger: { type: 'timerTrigger', schedule: '%TICKER_SCHEDULE%' } });
    expect(byName.startup.trigger).toMatchObject({ schedule: '0 0 3 * * *', runOnStartup: true });
    expect(byName.onEvent).toMatchObject({ kind: 'eventGrid', trigger: { type: 'eventGridTrigger' } });
    expect(byName.onMessage).toMatchObject({ kind: 'queue', trigger: { type: 'queueTrigger', queueName: 'fixture-inbox', connection: 'AzureWebJobsStorage' } });
    expect(typeof byName.echo.handler).toBe('function');
  });

  it('writes the host key to the data directory and lists functions on the admin API', async () => {
    const stored = JSON.parse(readFileSync(join(dataDir, 'host-keys.json'), 'utf8')) as { hostKey: string };
    expect(stored.hostKey).toBe(host.hostKey);
    const listed = (await (await api('/admin/functions', { headers: { 'x-functions-key': host.hostKey } })).json()) as Array<{ name: string; trigger: string }>;
    expect(listed.find((f) => f.name === 'ticker')).toMatchObject({ trigger: 'timerTrigger', schedule: '%TICKER_SCHEDULE%' });
    expect((await api('/admin/functions')).status).toBe(401);
  });
});

describe('HTTP routing', () => {
  it('binds route parameters, optional segments and the query', async () => {
    const response = await api(`/api/things/${GUID}?view=full&x=1`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ functionName: 'echo', method: 'GET', params: { id: GUID }, query: { view: 'full', x: '1' } });
    expect(body.url).toBe(`${host.url}/api/things/${GUID}?view=full&x=1`);

    const withDetail = (await (await api(`/api/THINGS/${GUID}/history`)).json()) as { params: Record<string, string> };
    expect(withDetail.params).toEqual({ id: GUID, detail: 'history' });
  });

  it('applies constraints and prefers literal segments', async () => {
    expect((await api('/api/things/not-a-guid')).status).toBe(404);
    expect(await (await api('/api/items/42')).json()).toEqual({ matched: 'int', n: '42' });
    expect(await (await api('/api/items/abc')).json()).toEqual({ matched: 'alpha', name: 'abc' });
    expect(await (await api('/api/items/special')).json()).toEqual({ matched: 'literal' });
    expect((await api('/api/items/4x')).status).toBe(404);
    expect((await api('/api/items/99999999999')).status).toBe(404);
    expect((await api('/api/nowhere')).status).toBe(404);
    expect((await api('/nowhere')).status).toBe(404);
  });

  it('uses the function name as the default route and passes response headers', async () => {
    const response = await api('/api/defaultRoute');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-fixture')).toBe('yes');
    expect(await response.text()).toBe('default route');
  });

  it('answers 404, as Azure does, for a method the route does not take, HEAD on a GET route included', async () => {
    expect((await api(`/api/things/${GUID}`, { method: 'DELETE' })).status).toBe(404);
    expect((await api(`/api/things/${GUID}`, { method: 'HEAD' })).status).toBe(404);
    expect((await api(`/api/things/${GUID}`, { method: 'GET' })).status).toBe(200);
  });

  it('hands the request body to the function', async () => {
    const response = await api(`/api/things/${GUID}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(await response.json()).toMatchObject({ method: 'POST', contentType: 'application/json', body: '{"a":1}' });
  });

  it('converts cookies and status', async () => {
    const response = await api('/api/cookies');
    expect(response.status).toBe(201);
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/; HttpOnly; SameSite=Strict', 'b=2; Max-Age=60']);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('answers 500 with a generic body when a function throws, and logs the error', async () => {
    const response = await api('/api/boom');
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).toBe('Internal Server Error');
    expect(logs.some((l) => l.level === 'error' && l.functionName === 'boom' && l.message.includes('kaboom'))).toBe(true);
  });

  it('refuses a body over the limit with 413 before the function runs', async () => {
    const ok = await api('/api/upload', { method: 'POST', body: Buffer.alloc(1000, 1) });
    expect(await ok.json()).toEqual({ bytes: 1000 });
    const invocationsBefore = logs.filter((l) => l.message.startsWith("Executing 'upload'") || l.functionName === 'upload').length;
    const tooBig = await api('/api/upload', { method: 'POST', body: Buffer.alloc(BODY_LIMIT + 1, 1) });
    expect(tooBig.status).toBe(413);
    expect(logs.filter((l) => l.message.startsWith("Executing 'upload'") || l.functionName === 'upload').length).toBe(invocationsBefore);
  });
});

describe('function keys', () => {
  it('requires the host key for authLevel function', async () => {
    expect((await api('/api/secret')).status).toBe(401);
    expect((await api('/api/secret', { headers: { 'x-functions-key': 'wrong' } })).status).toBe(401);
    expect((await api('/api/secret', { headers: { 'x-functions-key': host.hostKey } })).status).toBe(200);
    expect((await api(`/api/secret?code=${encodeURIComponent(host.hostKey)}`)).status).toBe(200);
  });
});

describe('App Service Authentication emulation', () => {
  it('drops principal and token headers a client sends itself', async () => {
    const spoofed = Buffer.from(JSON.stringify({ auth_typ: 'aad', claims: [{ typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: PERSONAS.sam.oid }] })).toString('base64');
    const seen = await whoami({
      'x-ms-client-principal': spoofed,
      'x-ms-client-principal-id': PERSONAS.sam.oid,
      'X-MS-CLIENT-PRINCIPAL-NAME': 'sam@contoso.example',
      'x-ms-client-principal-idp': 'aad',
      'x-ms-token-aad-access-token': 'forged',
    });
    expect(seen).toEqual({ headers: {}, principal: null });
  });

  it('sets exactly the platform headers for a valid bearer token', async () => {
    const seen = await whoami({ authorization: `Bearer ${await tokenFor('sam')}`, 'x-ms-client-principal-id': PERSONAS.dave.oid });
    expect(Object.keys(seen.headers).sort()).toEqual(['x-ms-client-principal', 'x-ms-client-principal-id', 'x-ms-client-principal-idp', 'x-ms-client-principal-name']);
    expect(seen.headers['x-ms-client-principal-id']).toBe(PERSONAS.sam.oid);
    expect(seen.headers['x-ms-client-principal-name']).toBe(PERSONAS.sam.upn);
    expect(seen.headers['x-ms-client-principal-idp']).toBe('aad');
    const principal = JSON.parse(Buffer.from(seen.headers['x-ms-client-principal'], 'base64').toString('utf8')) as { auth_typ: string; name_typ: string; role_typ: string; claims: Array<{ typ: string; val: string }> };
    expect(principal.auth_typ).toBe('aad');
    expect(principal.name_typ).toBe('http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name');
    expect(principal.role_typ).toBe('http://schemas.microsoft.com/ws/2008/06/identity/claims/role');
    const claim = (typ: string): string[] => principal.claims.filter((c) => c.typ === typ).map((c) => c.val);
    expect(claim('http://schemas.microsoft.com/identity/claims/objectidentifier')).toEqual([PERSONAS.sam.oid]);
    expect(claim('http://schemas.microsoft.com/identity/claims/tenantid')).toEqual([TENANT_ID]);
    expect(claim('groups')).toEqual([GROUPS.securityTeam.oid]);
    expect(claim('name')).toEqual([PERSONAS.sam.name]);
    expect(claim('preferred_username')).toEqual([PERSONAS.sam.upn]);
    expect(claim('aud')).toEqual([API_AUDIENCE]);
    expect(seen.principal).toEqual({ principalId: PERSONAS.sam.oid, name: PERSONAS.sam.name, upn: PERSONAS.sam.upn, groups: [GROUPS.securityTeam.oid], tenantId: TENANT_ID });
  });

  it('leaves the request anonymous for expired, wrong-audience, tampered or foreign tokens', async () => {
    const valid = await tokenFor('sam');
    const tampered = `${valid.slice(0, -4)}${valid.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const [header, payload, signature] = valid.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), oid: PERSONAS['break-glass'].oid })).toString('base64url');
    const tokens = [
      await tokenFor('sam', { lifetimeSeconds: -120 }),
      await tokenFor('sam', { audience: 'https://managedhsm.azure.net' }),
      tampered,
      `${header}.${forgedPayload}.${signature}`,
      await otherIdp.issueToken('sam', { audience: API_AUDIENCE }),
      'not-a-jwt',
    ];
    for (const token of tokens) {
      expect(await whoami({ authorization: `Bearer ${token}` })).toEqual({ headers: {}, principal: null });
    }
    expect(await whoami({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })).toEqual({ headers: {}, principal: null });
  });

  it('signs in a persona with the dev sign-in page and a signed session cookie', async () => {
    const page = await api('/.auth/login/dev?post_login_redirect_uri=%2Fapi%2Fwhoami');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('action="/.auth/login/dev"');
    expect(html).toContain('name="post_login_redirect_uri" value="/api/whoami"');
    expect(html).toContain('value="dave"');

    const signIn = await api('/.auth/login/dev', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: host.url },
      body: new URLSearchParams({ persona: 'dave', post_login_redirect_uri: '/api/whoami' }).toString(),
    });
    expect(signIn.status).toBe(302);
    expect(signIn.headers.get('location')).toBe('/api/whoami');
    const setCookie = signIn.headers.getSetCookie()[0];
    expect(setCookie).toMatch(/^AppServiceAuthSession=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    const cookie = setCookie.split(';')[0];

    const seen = await whoami({ cookie });
    expect(seen.headers['x-ms-client-principal-id']).toBe(PERSONAS.dave.oid);
    expect(seen.principal).toMatchObject({ principalId: PERSONAS.dave.oid, upn: PERSONAS.dave.upn, groups: [GROUPS.appDevOps.oid] });

    const me = await api('/.auth/me', { headers: { cookie } });
    expect(me.status).toBe(200);
    const [entry] = (await me.json()) as Array<{ provider_name: string; user_id: string; user_claims: Array<{ typ: string; val: string }> }>;
    expect(entry).toMatchObject({ provider_name: 'aad', user_id: PERSONAS.dave.upn });

    const [name, value] = cookie.split('=');
    const [sessionPayload, sessionSignature] = value.split('.');
    const forged = JSON.parse(Buffer.from(sessionPayload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const elevated = `${name}=${Buffer.from(JSON.stringify({ ...forged, p: 'sam' })).toString('base64url')}.${sessionSignature}`;
    for (const bad of [elevated, `${cookie}x`, `${name}=garbage`]) {
      expect(await whoami({ cookie: bad })).toEqual({ headers: {}, principal: null });
      expect((await api('/.auth/me', { headers: { cookie: bad } })).status).toBe(401);
    }

    const signOut = await api('/.auth/logout', { headers: { cookie } });
    expect(signOut.status).toBe(302);
    expect(signOut.headers.getSetCookie()[0]).toMatch(/^AppServiceAuthSession=; .*Max-Age=0/);
  });

  it('redirects only to relative paths and refuses unknown personas and cross-site posts', async () => {
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> => api('/.auth/login/dev', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
    for (const target of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)']) {
      const response = await post({ persona: 'sam', post_login_redirect_uri: target });
      expect(response.headers.get('location')).toBe('/');
    }
    expect((await post({ persona: 'mallory' })).status).toBe(400);
    expect((await post({ persona: 'sam' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await api('/.auth/me')).status).toBe(401);
  });
});

describe('timers', () => {
  it('fires a six-field schedule from an app setting, never overlapping itself, and runs runOnStartup functions', async () => {
    const { ticks } = await eventually('three ticks', observed, (o) => o.ticks.length >= 3);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.every((t) => !t.overlapping)).toBe(true);
    for (let i = 1; i < ticks.length; i += 1) expect(ticks[i].at - ticks[i - 1].at).toBeGreaterThanOrEqual(1300);
    expect(ticks.every((t) => !Number.isNaN(Date.parse(t.next)))).toBe(true);
    expect(logs.some((l) => l.functionName === 'startup' && l.message === 'ran on startup')).toBe(true);
  });

  it('runs a timer on demand through the admin API', async () => {
    expect((await api('/admin/functions/startup', { method: 'POST', body: '{}' })).status).toBe(401);
    const before = logs.filter((l) => l.functionName === 'startup' && l.message === 'ran on startup').length;
    const response = await api('/admin/functions/startup', { method: 'POST', headers: { 'x-functions-key': host.hostKey, 'content-type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(202);
    expect(logs.filter((l) => l.functionName === 'startup' && l.message === 'ran on startup').length).toBe(before + 1);
    expect((await api('/admin/functions/whoami', { method: 'POST', headers: { 'x-functions-key': host.hostKey }, body: '{}' })).status).toBe(400);
    expect((await api('/admin/functions/missing', { method: 'POST', headers: { 'x-functions-key': host.hostKey }, body: '{}' })).status).toBe(404);
  });
});

describe('Event Grid webhook', () => {
  const webhook = (functionName: string, eventType: string | undefined, body: unknown, key: string | null = host.hostKey): Promise<Response> => api(
    `/runtime/webhooks/eventgrid?functionName=${functionName}${key ? `&code=${encodeURIComponent(key)}` : ''}`,
    { method: 'POST', headers: { 'content-type': 'application/json', ...(eventType ? { 'aeg-event-type': eventType } : {}) }, body: JSON.stringify(body) },
  );
  const gridEvent = (id: string, subject = 'roleAssignments/x'): Record<string, unknown> => ({
    id, subject, eventType: 'Microsoft.Resources.ResourceWriteSuccess', eventTime: new Date().toISOString(), topic: '/subscriptions/s', data: { n: id }, dataVersion: '1', metadataVersion: '1',
  });

  it('answers the subscription validation handshake', async () => {
    const response = await webhook('onEvent', 'SubscriptionValidation', [{
      id: 'v1', topic: '/subscriptions/s', subject: '', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', eventTime: new Date().toISOString(),
      data: { validationCode: 'code-123', validationUrl: 'https://example.invalid' }, dataVersion: '2', metadataVersion: '1',
    }]);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ validationResponse: 'code-123' });

    const options = await api('/runtime/webhooks/eventgrid?functionName=onEvent', { method: 'OPTIONS', headers: { 'webhook-request-origin': 'eventgrid.azure.net' } });
    expect(options.status).toBe(200);
    expect(options.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');
  });

  it('refuses unknown functions, missing keys and deliveries without aeg-event-type', async () => {
    expect((await webhook('nope', 'Notification', [gridEvent('x')])).status).toBe(404);
    expect((await webhook('onEvent', 'Notification', [gridEvent('x')], null)).status).toBe(401);
    expect((await webhook('onEvent', undefined, [gridEvent('x')])).status).toBe(400);
    expect((await webhook('onEvent', 'Notification', { not: 'an event' })).status).toBe(400);
  });

  it('delivers Event Grid schema batches and CloudEvents one event per invocation', async () => {
    expect((await webhook('onEvent', 'Notification', [gridEvent('eg-1'), gridEvent('eg-2')])).status).toBe(202);
    const cloud = (id: string): Record<string, unknown> => ({ specversion: '1.0', id, type: 'Contoso.Test', source: '/contoso', time: new Date().toISOString(), data: { id } });
    expect((await webhook('onEvent', 'Notification', cloud('ce-1'))).status).toBe(202);
    expect((await webhook('onEvent', 'Notification', [cloud('ce-2'), cloud('ce-3')])).status).toBe(202);
    const { events } = await observed();
    expect(events.map((e) => e.id)).toEqual(['eg-1', 'eg-2', 'ce-1', 'ce-2', 'ce-3']);
    expect(events[0]).toMatchObject({ eventType: 'Microsoft.Resources.ResourceWriteSuccess', data: { n: 'eg-1' } });
    expect((await webhook('onEvent', 'Notification', [gridEvent('eg-3', 'fail')])).status).toBe(500);
  });
});

describe('storage queue trigger', () => {
  it('runs the function per message, writes queue outputs and moves a failing message to the poison queue', async () => {
    const service = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const inbox = service.getQueueClient('fixture-inbox');
    await inbox.sendMessage(Buffer.from(JSON.stringify({ hello: 'world' })).toString('base64'));
    await inbox.sendMessage(Buffer.from(JSON.stringify({ fail: true })).toString('base64'));

    const forwarded = service.getQueueClient('fixture-forwarded');
    await forwarded.createIfNotExists();
    const received = await eventually('the forwarded message', async () => (await forwarded.receiveMessages()).receivedMessageItems, (items) => items.length > 0, { timeoutMs: 8000 });
    expect(JSON.parse(Buffer.from(received[0].messageText, 'base64').toString('utf8'))).toMatchObject({ message: { hello: 'world' } });

    const poison = service.getQueueClient('fixture-inbox-poison');
    const poisoned = await eventually('the poisoned message', async () => ((await poison.exists()) ? (await poison.peekMessages()).peekedMessageItems : []), (items) => items.length > 0, { timeoutMs: 30_000 });
    expect(JSON.parse(Buffer.from(poisoned[0].messageText, 'base64').toString('utf8'))).toEqual({ fail: true });
    const attempts = (await observed()).messages.filter((m) => (m.input as { fail?: boolean }).fail);
    expect(attempts.map((a) => a.dequeueCount)).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);
});
