// Keeps out header spoofing: headers a client sends itself (x-ms-client-principal*, x-ms-token-*, X-Forwarded-*, Host, ...) never identify a caller or change who one is.
import { GROUPS, PERSONAS, TENANT_ID } from '../../dev/personas';
import { problemOf, rawRequest, sessionCookie, settledState, submitted, reviewLink, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();

const CLAIMS = {
  objectId: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tenantId: 'http://schemas.microsoft.com/identity/claims/tenantid',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  role: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role',
};

/** What App Service would send for sam, an HSM administrator and approver: the identity an attacker wants. */
function samPrincipal(objectId: string = PERSONAS.sam.oid): string {
  const claims = [
    { typ: CLAIMS.objectId, val: objectId },
    { typ: CLAIMS.tenantId, val: TENANT_ID },
    { typ: 'name', val: PERSONAS.sam.name },
    { typ: 'preferred_username', val: PERSONAS.sam.upn },
    { typ: 'groups', val: GROUPS.securityTeam.oid },
  ];
  return Buffer.from(JSON.stringify({ auth_typ: 'aad', claims, name_typ: CLAIMS.name, role_typ: CLAIMS.role }), 'utf8').toString('base64');
}

/** Each set of headers a client might send to pass as sam. */
async function spoofs(): Promise<Array<[string, Record<string, string>]>> {
  const samToken = await stack().tokenFor('sam');
  return [
    ['the whole platform set', { 'x-ms-client-principal': samPrincipal(), 'x-ms-client-principal-id': PERSONAS.sam.oid, 'x-ms-client-principal-name': PERSONAS.sam.upn, 'x-ms-client-principal-idp': 'aad' }],
    ['the principal alone', { 'x-ms-client-principal': samPrincipal() }],
    ['the principal id alone', { 'x-ms-client-principal-id': PERSONAS.sam.oid }],
    ['the principal name and idp', { 'x-ms-client-principal-name': PERSONAS.sam.upn, 'x-ms-client-principal-idp': 'aad' }],
    ['upper-case names', { 'X-MS-CLIENT-PRINCIPAL': samPrincipal(), 'X-MS-CLIENT-PRINCIPAL-ID': PERSONAS.sam.oid }],
    ['underscores for dashes', { x_ms_client_principal: samPrincipal(), x_ms_client_principal_id: PERSONAS.sam.oid }],
    ['a valid token of sam in the token store headers', { 'x-ms-token-aad-access-token': samToken, 'x-ms-token-aad-id-token': samToken, 'x-ms-token-aad-expires-on': '2099-01-01T00:00:00Z' }],
    ['a token of sam as App Service session token', { 'x-zumo-auth': samToken }],
    ['principal claims of sam, principal id of dave', { 'x-ms-client-principal': samPrincipal(), 'x-ms-client-principal-id': PERSONAS.dave.oid }],
    ['principal claims of dave, principal id of sam', { 'x-ms-client-principal': samPrincipal(PERSONAS.dave.oid), 'x-ms-client-principal-id': PERSONAS.sam.oid }],
    ['forwarding and proxy headers', {
      'x-forwarded-for': '127.0.0.1', 'x-forwarded-host': 'localhost', 'x-forwarded-proto': 'https', forwarded: 'for=127.0.0.1;proto=https',
      'x-real-ip': '127.0.0.1', 'x-client-ip': '127.0.0.1', 'x-original-url': '/api/audit', 'x-rewrite-url': '/api/audit',
      'x-arr-clientcert': 'MIIB', 'x-ms-original-url': '/api/audit', 'x-azure-fdid': '00000000-0000-0000-0000-000000000000',
    }],
    ['a guessed function key', { 'x-functions-key': 'master', 'x-ms-client-principal-id': PERSONAS.sam.oid }],
  ];
}

let pendingOfDave: string;
let before: StackState;

beforeAll(async () => {
  pendingOfDave = await submitted(stack(), 'dave');
  await reviewLink(stack(), pendingOfDave);
  before = await settledState(stack());
});

async function decideAsSam(headers: Record<string, string>): Promise<Response> {
  return stack().api(`/api/requests/${pendingOfDave}/decisions`, { method: 'POST', body: { decision: 'approve', comment: 'spoofed' }, headers: { 'content-type': 'application/json', ...headers } });
}

describe('headers a client sends never make it someone', () => {
  it('anonymous callers stay anonymous whatever they claim', async () => {
    for (const [what, headers] of await spoofs()) {
      expect({ what, ...(await problemOf(await stack().api('/api/audit', { headers }))) }).toEqual({ what, status: 401, contentType: 'application/problem+json', code: 'unauthenticated' });
      expect({ what, ...(await problemOf(await stack().api('/api/requests', { headers }))) }).toMatchObject({ what, status: 401, code: 'unauthenticated' });
      expect({ what, ...(await problemOf(await decideAsSam(headers))) }).toMatchObject({ what, status: 401, code: 'unauthenticated' });
      expect({ what, ...(await problemOf(await stack().api('/api/reconcile?mode=plan', { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }))) }).toMatchObject({ what, status: 401, code: 'unauthenticated' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('a caller with a bearer token stays that caller whatever headers come with it', async () => {
    const dave = await stack().tokenFor('dave');
    for (const [what, spoofed] of await spoofs()) {
      const headers = { ...spoofed, authorization: `Bearer ${dave}` };
      expect({ what, ...(await problemOf(await stack().api('/api/audit', { headers }))) }).toEqual({ what, status: 403, contentType: 'application/problem+json', code: 'not-an-auditor' });
      const listed = await stack().api('/api/requests?mine=false', { headers });
      expect(listed.status).toBe(200);
      const items = ((await listed.json()) as { items: Array<{ requestedBy: string }> }).items;
      expect({ what, others: items.filter((item) => item.requestedBy !== PERSONAS.dave.oid) }).toEqual({ what, others: [] });
      // dave asked for it: as himself he may not approve it; as sam he could.
      expect({ what, ...(await problemOf(await decideAsSam(headers))) }).toMatchObject({ what, status: 403, code: 'self-approval' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('a signed-in browser session stays that persona whatever headers come with it', async () => {
    const cookie = await sessionCookie(stack(), 'dave');
    for (const [what, spoofed] of await spoofs()) {
      expect({ what, ...(await problemOf(await stack().api('/api/audit', { headers: { ...spoofed, cookie } }))) }).toMatchObject({ what, status: 403, code: 'not-an-auditor' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('duplicated headers never add up to another caller', async () => {
    const api = stack().stack.endpoints.api;
    const dave = await stack().tokenFor('dave');
    const sam = await stack().tokenFor('sam');
    const samTampered = `${sam.split('.').slice(0, 2).join('.')}.${Buffer.from('forged').toString('base64url')}`;
    const cases: Array<[string, Record<string, string | string[]>, number[]]> = [
      ['two principal ids with a token of dave', { authorization: `Bearer ${dave}`, 'x-ms-client-principal-id': [PERSONAS.sam.oid, PERSONAS.dave.oid] }, [403]],
      ['two principals with a token of dave', { authorization: `Bearer ${dave}`, 'x-ms-client-principal': [samPrincipal(), samPrincipal()] }, [403]],
      ['two principals, no token', { 'x-ms-client-principal': [samPrincipal(), samPrincipal()], 'x-ms-client-principal-id': [PERSONAS.sam.oid, PERSONAS.sam.oid] }, [401]],
      ['a token of dave, then a forged one of sam', { authorization: [`Bearer ${dave}`, `Bearer ${samTampered}`] }, [401, 403]],
      ['a forged token of sam, then one of dave', { authorization: [`Bearer ${samTampered}`, `Bearer ${dave}`] }, [401, 403]],
      ['two tokens in one header', { authorization: `Bearer ${dave}, Bearer ${sam}` }, [401]],
      ['a session of dave and a forged session of sam', { cookie: [await sessionCookie(stack(), 'dave'), 'AppServiceAuthSession=eyJwIjoic2FtIiwiZXhwIjo0MTAyNDQ0ODAwfQ.forged'] }, [401, 403]],
    ];
    for (const [what, headers, statuses] of cases) {
      const response = await rawRequest(`${api}/api/audit`, { headers });
      expect({ what, refused: statuses.includes(response.status) }).toEqual({ what, refused: true });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('a client\'s Host and X-Forwarded-Host never reach the links the service mails out', async () => {
    const api = stack().stack.endpoints.api;
    const response = await rawRequest(`${api}/api/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await stack().tokenFor('dana')}`, 'content-type': 'application/json', host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
      body: JSON.stringify({ role: 'Crypto User', scope: '/keys/release-signing-key', principalId: PERSONAS['app-vm'].oid, duration: 'PT1H', justification: 'host header check' }),
    });
    expect(response.status).toBe(201);
    const id = (JSON.parse(response.body) as { id: string }).id;
    expect(response.headers.location).toBe(`/api/requests/${id}`);
    const link = await reviewLink(stack(), id);
    expect(new URL(link).origin).toBe(new URL(stack().stack.appSettings.PUBLIC_BASE_URL as string).origin);
    const mails = stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id);
    expect(mails.length).toBeGreaterThan(0);
    for (const mail of mails) expect(`${mail.text}${mail.html}`).not.toContain('evil.example');
    const cards = stack().stack.teamsSink.cards();
    expect(JSON.stringify(cards)).not.toContain('evil.example');
  });
});
