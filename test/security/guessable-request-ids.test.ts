// Keeps out guessable request ids: an id is random (UUID v4) even with an Idempotency-Key or from an event, yet a replay still finds its request.
import { randomUUID } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import { PERSONAS } from '../../dev/personas';
import { CONTOSO_ITSM_SOURCE } from '../../dev/stack';
import { deliverSubmission } from '../helpers/inboundEvents';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 5.0' };
/** The namespace request ids used to be derived with, from the source. */
const OLD_NAMESPACE = '9b2f6c1e-4d3a-5b7c-8e9f-0a1b2c3d4e5f';
const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
afterEach(() => closeOpenRequests(stack()));

it('a request made with an Idempotency-Key has a random id that a retry finds again', async () => {
  const key = 'release-5.0';
  const first = await stack().api('/api/requests', { persona: 'dave', body: RELEASE, headers: { 'idempotency-key': key } });
  const { id } = (await first.json()) as { id: string };
  expect(id).toMatch(V4);
  expect(id).not.toBe(uuidv5(`${PERSONAS.dave.oid}\n${key}`, OLD_NAMESPACE));
  const retry = await stack().api('/api/requests', { persona: 'dave', body: RELEASE, headers: { 'idempotency-key': key } });
  expect(retry.status).toBe(200);
  expect(((await retry.json()) as { id: string }).id).toBe(id);
});

it('a request raised as an event has a random id, and a redelivery makes no second request', async () => {
  const event = { id: `CHG-${randomUUID()}`, data: { requester: 'dave', ...RELEASE, ticket: 'CHG-5' } };
  await deliverSubmission(stack(), event);
  await deliverSubmission(stack(), event);
  const listed = (await (await stack().api('/api/requests?mine=true&pageSize=100', { persona: 'dave' })).json()) as { items: Array<{ id: string; ticket: string | null; status: string }> };
  const made = listed.items.filter((r) => r.ticket === 'CHG-5');
  expect(made).toHaveLength(1);
  expect(made[0]!.id).toMatch(V4);
  expect(made[0]!.id).not.toBe(uuidv5(`event\n${CONTOSO_ITSM_SOURCE}\n${event.id}`, OLD_NAMESPACE));
});
