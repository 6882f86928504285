// Keeps out grants stretched past their rule's maximum by repeated extensions (PT1H + 3 × PT7H on a PT8H rule).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAppContext } from '../../shared/app';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { caller } from '../helpers/workflow';

const stack = useStack();
const APP_VM = '2c564836-0f4a-4ada-9cc4-6b2363d7a09e';
const HOUR = 3600_000;
afterEach(() => closeOpenRequests(stack()));

async function call(path: string, persona: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await stack().api(path, { persona, ...(body !== undefined ? { body } : {}) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A release-signing grant (rule maximum PT8H), approved and Active. */
async function activeReleaseGrant(): Promise<string> {
  const submitted = await call('/api/requests', 'dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 3.0' });
  expect(submitted.status).toBe(201);
  const id = submitted.body.id as string;
  expect((await call(`/api/requests/${id}/decisions`, 'sam', { decision: 'approve' })).body.status).toBe('Active');
  return id;
}

const span = (request: Record<string, unknown>): number => Date.parse(request.expiresAt as string) - Date.parse(request.grantedAt as string);

it('approved extensions: the whole grant stays within the rule maximum, and the request shows its total and each extension', async () => {
  const id = await activeReleaseGrant();
  expect((await call(`/api/requests/${id}/extend`, 'dave', { duration: 'PT7H', justification: 'release slipped' })).status).toBe(200);
  const approved = await call(`/api/requests/${id}/decisions`, 'sara', { decision: 'approve' });
  expect(approved.status).toBe(200);
  expect(span(approved.body)).toBe(8 * HOUR);
  expect(approved.body).toMatchObject({
    duration: 'PT1H', totalDuration: 'PT8H', totalDurationMs: 8 * HOUR,
    extensions: [expect.objectContaining({ by: '118a1582-3083-4290-99fa-f8a33f52b810', duration: 'PT7H', justification: 'release slipped', decision: 'Approved' })],
  });

  const again = await call(`/api/requests/${id}/extend`, 'dave', { duration: 'PT7H', justification: 'and again' });
  expect(again).toMatchObject({ status: 422, body: { code: 'duration-too-long', detail: expect.stringMatching(/PT8H/) } });
  const stored = await call(`/api/requests/${id}`, 'dave');
  expect(span(stored.body)).toBe(8 * HOUR);
  expect(stored.body.extensions).toHaveLength(1);
});

it('extensions that need no approval are capped the same way', async () => {
  const submitted = await call('/api/requests', 'alice', { role: 'Crypto Auditor', scope: '/keys/storage-cmk', duration: 'PT1H', justification: 'review' });
  expect(submitted.body.status).toBe('Active');
  const id = submitted.body.id as string;
  const first = await call(`/api/requests/${id}/extend`, 'alice', { duration: 'PT7H', justification: 'longer review' });
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ totalDuration: 'PT8H', extensions: [expect.objectContaining({ duration: 'PT7H', decision: 'Approved' })] });
  for (const duration of ['PT7H', 'PT1M']) {
    expect(await call(`/api/requests/${id}/extend`, 'alice', { duration, justification: 'more' })).toMatchObject({ status: 422, body: { code: 'duration-too-long' } });
  }
  expect(span((await call(`/api/requests/${id}`, 'alice')).body)).toBe(8 * HOUR);
});

it('an extension is checked against the rule again when it is approved: a tightened policy refuses it', async () => {
  const id = await activeReleaseGrant();
  expect((await call(`/api/requests/${id}/extend`, 'dave', { duration: 'PT6H', justification: 'long release' })).status).toBe(200);
  // Another instance of the app, started after the rule's maximum was lowered to PT4H.
  const dir = mkdtempSync(join(tmpdir(), 'tightened-policy-'));
  try {
    const original = readFileSync(stack().stack.appSettings.POLICY_FILE!, 'utf8');
    const tightened = original.replace(/(id: release-signing[\s\S]*?maxDuration: )PT8H/, '$1PT4H');
    expect(tightened).not.toBe(original);
    writeFileSync(join(dir, 'policy.yaml'), tightened);
    const context = createAppContext({ ...stack().stack.appSettings, POLICY_FILE: join(dir, 'policy.yaml') });
    const decided = await context.requests().decide(caller('sara'), id, 'approve');
    expect(decided).toMatchObject({ ok: false, status: 422, code: 'duration-too-long' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const stored = await call(`/api/requests/${id}`, 'dave');
  expect(span(stored.body)).toBe(1 * HOUR);
  expect(stored.body.extensions).toEqual([expect.objectContaining({ duration: 'PT6H', decision: 'Pending' })]);
});
