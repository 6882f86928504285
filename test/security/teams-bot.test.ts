// The Teams bot decides only for a person the Bot Connector vouches for, of our tenant, who may decide:
// a forged, replayed or foreign activity, or a click by someone who may not decide, changes nothing in storage.
import { generateKeyPair } from 'jose';
import { PERSONAS } from '../../dev/personas';
import { RELEASE_REQUEST, settledState, stateOf } from '../helpers/security';
import { useStack, type TestStack } from '../helpers/stack';

const stack = useStack();
const OTHER_TENANT = '0b2d7f3e-5c1a-4e8b-9f60-3d2c1b0a9e8f';
const bot = (): string => `${stack().stack.endpoints.api}/api/messages`;

async function pendingRelease(s: TestStack): Promise<string> {
  const made = await s.api('/api/requests', { persona: 'dave', body: { ...RELEASE_REQUEST, justification: `teams ${Math.random()}` } });
  expect(made.status).toBe(201);
  return ((await made.json()) as { id: string }).id;
}

async function cancel(s: TestStack, id: string): Promise<void> {
  await s.api(`/api/requests/${id}/cancel`, { persona: 'dave', method: 'POST' });
}

type Attack = (id: string) => Promise<{ status: number; body: unknown }>;
const channel = () => stack().stack.teamsChannel;
const sam = PERSONAS.sam;

const attacks: Array<[string, Attack, number]> = [
  ['signed with other keys', async (id) => channel().click(bot(), sam, 'approve', id, { token: { key: (await generateKeyPair('RS256')).privateKey } }), 401],
  ['for another bot (aud)', (id) => channel().click(bot(), sam, 'approve', id, { token: { audience: '11111111-2222-4333-8444-555555555555' } }), 401],
  ['from another issuer', (id) => channel().click(bot(), sam, 'approve', id, { token: { issuer: 'https://evil.example' } }), 401],
  ['with a serviceurl claim that is not the activity\'s', (id) => channel().click(bot(), sam, 'approve', id, { token: { serviceUrl: 'https://evil.example/' } }), 401],
  ['replayed after its token expired', (id) => channel().click(bot(), sam, 'approve', id, { token: { issuedAt: Math.floor(Date.now() / 1000) - 2 * 3600 } }), 401],
  ['without a token', (id) => channel().click(bot(), sam, 'approve', id, { authorization: '' }), 401],
  ['from another tenant', (id) => channel().click(bot(), sam, 'approve', id, { tenantId: OTHER_TENANT }), 403],
  ['by the requester (self-approval)', (id) => channel().click(bot(), PERSONAS.dave, 'approve', id), 200],
  ['by the grantee\'s colleague who is no approver', (id) => channel().click(bot(), PERSONAS.dana, 'approve', id), 403],
];

describe('Teams bot: nothing changes', () => {
  // The first request warms the stack (the outbox and notification marks), so that later states settle.
  beforeAll(async () => {
    await cancel(stack(), await pendingRelease(stack()));
    await settledState(stack());
  }, 60_000);

  it.each(attacks)('an Approve %s', async (_name, attack, status) => {
    const id = await pendingRelease(stack());
    try {
      const before = await settledState(stack());
      const answer = await attack(id);
      expect(answer.status).toBe(status);
      if (status !== 401) expect(JSON.stringify(answer.body)).toMatch(/application\/vnd\.microsoft\.(error|card\.adaptive)/);
      expect(await stateOf(stack())).toEqual(before);
      const after = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string; decisions: unknown[] };
      expect(after).toMatchObject({ status: 'Pending', decisions: [] });
    } finally {
      await cancel(stack(), id);
    }
  });
});

describe('Teams bot: a real click decides', () => {
  it('sam approves through the channel; a replay of the same activity is no second decision', async () => {
    const id = await pendingRelease(stack());
    const first = await channel().click(bot(), sam, 'approve', id, { comment: 'release 4.2' });
    expect(first.status).toBe(200);
    expect(JSON.stringify(first.body)).toContain('Active until');
    const decided = (await (await stack().api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string; decisions: Array<{ by: string; comment?: string }> };
    expect(decided.status).toBe('Active');
    expect(decided.decisions).toMatchObject([{ by: sam.oid, comment: 'release 4.2' }]);
    const before = await settledState(stack());
    const replay = await channel().click(bot(), sam, 'approve', id, { activity: first.activity, authorization: first.authorization });
    expect(replay.status).toBe(200);
    expect(JSON.stringify(replay.body)).not.toContain('"verb":"approve","data"');
    expect(await stateOf(stack())).toEqual(before);
    // dave sees the status only
    const dave = await channel().click(bot(), PERSONAS.dave, 'refresh', id);
    expect(JSON.stringify(dave.body)).toContain('Active until');
    expect(JSON.stringify(dave.body)).not.toContain('"title":"Approve"');
    await stack().api(`/api/requests/${id}/revoke`, { persona: 'sam', method: 'POST' });
  });
});

describe('Teams bot: an installation Teams did not send stores nothing', () => {
  const installs: Array<[string, () => Promise<{ status: number }>, number]> = [
    ['signed with other keys', async () => channel().install(bot(), PERSONAS.dana, { token: { key: (await generateKeyPair('RS256')).privateKey } }), 401],
    ['for another bot (aud)', () => channel().install(bot(), PERSONAS.dana, { token: { audience: '11111111-2222-4333-8444-555555555555' } }), 401],
    ['from another tenant', () => channel().install(bot(), PERSONAS.dana, { tenantId: OTHER_TENANT }), 200],
  ];
  it.each(installs)('an installation %s', async (_name, install, status) => {
    const before = await settledState(stack());
    expect((await install()).status).toBe(status);
    expect(await stateOf(stack())).toEqual(before);
  });
});

