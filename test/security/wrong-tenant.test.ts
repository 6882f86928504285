// Keeps out principals of another Entra tenant: a valid token whose `tid` is not the service's own tenant is never a caller.
import { randomUUID } from 'node:crypto';
import { PERSONAS } from '../../dev/personas';
import { useStack } from '../helpers/stack';

const stack = useStack();
const OTHER_TENANT = '0b2d7f3e-5c1a-4e8b-9f60-3d2c1b0a9e8f';
const APP_VM = PERSONAS['app-vm'].oid;

async function foreign(persona: string): Promise<Record<string, string>> {
  const token = await stack().stack.idp.issueToken(persona, { audience: 'api://hsm-access-governor', claims: { tid: OTHER_TENANT } });
  return { authorization: `Bearer ${token}` };
}

const release = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'from another tenant' };

it.each([
  ['POST', '/api/requests', release],
  ['GET', '/api/requests', undefined],
  ['GET', `/api/requests/${randomUUID()}`, undefined],
  ['POST', `/api/requests/${randomUUID()}/decisions`, { decision: 'approve' }],
  ['POST', `/api/requests/${randomUUID()}/extend`, { duration: 'PT1H' }],
  ['GET', '/api/audit', undefined],
  ['POST', '/api/reconcile?mode=plan', {}],
  ['GET', '/api/reconcile/reports/latest', undefined],
  ['GET', '/api/reports/access', undefined],
  ['GET', '/api/reports/keys', undefined],
])('%s %s from another tenant: 403 wrong-tenant, nothing changed', async (method, path, body) => {
  const before = (await stack().ledger().audit()).length;
  const response = await stack().api(path, { method, headers: await foreign('sam'), ...(body !== undefined ? { body } : {}) });
  expect(response.status).toBe(403);
  expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(await response.json()).toMatchObject({ code: 'wrong-tenant' });
  expect((await stack().ledger().audit()).length).toBe(before);
});

it('the review page refuses another tenant with a page, without showing the request', async () => {
  const made = await stack().api('/api/requests', { persona: 'dave', body: release });
  const { id } = (await made.json()) as { id: string };
  const page = await stack().api(`/api/review/${id}?t=x`, { headers: await foreign('sam') });
  expect(page.status).toBe(403);
  const html = await page.text();
  expect(html).toMatch(/another Entra tenant/);
  expect(html).not.toContain(id);
  const post = await stack().api(`/api/review/${id}`, { method: 'POST', headers: { ...(await foreign('sam')), 'content-type': 'application/x-www-form-urlencoded' }, body: 'action=approve' });
  expect(post.status).toBe(403);
  expect((await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string }).toMatchObject({ status: 'Pending' });
  await stack().api(`/api/requests/${id}/cancel`, { persona: 'dave', method: 'POST' });
});

it('the same persona of the service tenant is still a caller', async () => {
  expect((await stack().api('/api/requests', { persona: 'sam' })).status).toBe(200);
});
