// Keeps out replays that return another request: an Idempotency-Key reused for a different submission is refused (422), never answered with the old request.
import { PERSONAS } from '../../dev/personas';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 4.0' };
afterEach(() => closeOpenRequests(stack()));

async function submit(body: Record<string, unknown>, key: string, persona = 'dana'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await stack().api('/api/requests', { persona, body, headers: { 'idempotency-key': key } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

it('the same key with another duration, after the request was revoked, is 422 idempotency-key-reused, not the old request', async () => {
  const first = await submit(RELEASE, 'release-4.0');
  expect(first.status).toBe(201);
  const id = first.body.id as string;
  expect((await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } })).status).toBe(200);
  expect((await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', body: { reason: 'done' } })).status).toBe(200);
  const reused = await submit({ ...RELEASE, duration: 'PT2H' }, 'release-4.0');
  expect(reused).toMatchObject({ status: 422, body: { code: 'idempotency-key-reused' } });
  expect(reused.body.detail).toMatch(/new key/);
});

it.each([
  ['role', { role: 'Crypto Officer' }],
  ['scope', { scope: '/keys/app-signing-key' }],
  ['principal', { principalId: PERSONAS.sam.oid }],
  ['duration', { duration: 'PT30M' }],
  ['justification', { justification: 'another release' }],
  ['ticket', { ticket: 'CHG-1' }],
  ['HSM', { hsm: 'another-hsm' }],
])('the same key with another %s is refused', async (_field, change) => {
  const key = `key-${_field}`;
  expect((await submit(RELEASE, key)).status).toBe(201);
  expect(await submit({ ...RELEASE, ...change }, key)).toMatchObject({ status: 422, body: { code: 'idempotency-key-reused' } });
});

it('the same submission written differently is a replay: role alias or full name, key name case, the default duration, spaces', async () => {
  const first = await submit({ role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, justification: 'release 4.1' }, 'release-4.1');
  expect(first.status).toBe(201);
  const again = await submit({ role: 'Managed HSM Crypto User', scope: '/keys/Release-Signing-Key', principalId: APP_VM.toUpperCase(), duration: 'PT1H', justification: '  release 4.1 ' }, 'release-4.1');
  expect(again).toMatchObject({ status: 200, body: { id: first.body.id } });
});
