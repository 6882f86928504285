// Keeps out duplicate requests: one open request per principal, role and scope, whichever instance, path or requester asks.
import { randomUUID } from 'node:crypto';
import { PERSONAS } from '../../dev/personas';
import { createAppContext } from '../../shared/app';
import { deliverSubmission } from '../helpers/inboundEvents';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { caller } from '../helpers/workflow';

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 6.0' };
afterEach(() => closeOpenRequests(stack()));

async function submit(persona: string, body: Record<string, unknown> = RELEASE): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await stack().api('/api/requests', { persona, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function openFor(principalId: string): Promise<string[]> {
  const ids: string[] = [];
  for (const status of ['Pending', 'Approved', 'Active']) {
    const page = (await (await stack().api(`/api/requests?status=${status}&pageSize=100`, { persona: 'alice' })).json()) as { items: Array<{ id: string; principalId: string; scope: string }> };
    ids.push(...page.items.filter((r) => r.principalId === principalId && r.scope === RELEASE.scope).map((r) => r.id));
  }
  return ids;
}

it('a second identical request, from the same or another requester, is 409 duplicate-request naming the open one', async () => {
  const first = await submit('dave');
  expect(first.status).toBe(201);
  const id = first.body.id as string;
  for (const persona of ['dave', 'dana']) {
    const again = await submit(persona, { ...RELEASE, justification: 'again', duration: 'PT2H' });
    expect(again).toMatchObject({ status: 409, body: { code: 'duplicate-request' } });
    expect(again.body.detail).toContain(id);
  }
  expect(await openFor(APP_VM)).toEqual([id]);
});

it('while the grant is Active, the refusal points to extend; once it has ended, the same access may be asked for again', async () => {
  const id = (await submit('dave')).body.id as string;
  expect((await (await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } })).json()) as { status: string }).toMatchObject({ status: 'Active' });
  const again = await submit('dana');
  expect(again).toMatchObject({ status: 409, body: { code: 'duplicate-request', detail: expect.stringContaining(`/api/requests/${id}/extend`) } });
  expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', body: { reason: 'done' } })).status).toBe(200);
  expect((await submit('dana')).status).toBe(201);
});

it('identical submissions at the same moment through two instances: exactly one is stored', async () => {
  const other = createAppContext({ ...stack().stack.appSettings });
  const answers = await Promise.all([
    submit('dave'),
    submit('dana'),
    other.requests().submit(caller('dave'), RELEASE).then((o) => ({ status: o.ok ? 201 : o.status, body: {} })),
    other.requests().submit(caller('dana'), RELEASE).then((o) => ({ status: o.ok ? 201 : o.status, body: {} })),
  ]);
  expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409]);
  expect(await openFor(APP_VM)).toHaveLength(1);
  await other.outbox()?.idle();
});

it('an event asking for access an open request holds is rejected as a duplicate, audited', async () => {
  const id = (await submit('dave')).body.id as string;
  const event = { id: `CHG-${randomUUID()}`, data: { requester: 'dana', ...RELEASE, ticket: 'CHG-6' } };
  await deliverSubmission(stack(), event);
  const audit = (await (await stack().api('/api/audit', { persona: 'alice' })).json()) as { items: Array<{ action: string; reason: string; details?: { submissionId?: string; code?: string } }> };
  const rejected = audit.items.find((r) => r.action === 'request.rejected' && r.details?.submissionId === event.id);
  expect(rejected).toMatchObject({ details: { code: 'duplicate-request' }, reason: expect.stringContaining(id) });
  expect(await openFor(APP_VM)).toEqual([id]);
});
