// Keeps out OData (Table Storage filter) injection: quotes, `or`, `eq`, `%27` and the like in query parameters, ids, continuation tokens and body fields never widen a query or reveal another caller's data.
import { PERSONAS } from '../../dev/personas';
import { APP_VM, CHANGE_REQUEST, problemOf, RELEASE_REQUEST, settledState, submitted, SELF_KEY_REQUEST, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();

const INJECTIONS: readonly string[] = [
  "'", "''", "' or '1' eq '1", "' or 1 eq 1 or '", "x' or PartitionKey ne 'y", "Pending' or status ne '", "Pending') or (status ne 'x",
  "true or true", '%27%20or%20%271%27%20eq%20%271', "%27) or (RowKey ne %27", "requestedBy eq '" + PERSONAS.dave.oid + "'",
  "' and RowKey ge 'audit|", "') or true or ('", 'null', '*', '\u0000', "' or not (1 eq 2) or '", "'; DROP TABLE ledger; --",
];

const q = (value: string): string => encodeURIComponent(value);
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

let before: StackState;
let ofDave: string;
let ofSam: string;
let ofDana: string;

async function listed(persona: string, query: string): Promise<{ status: number; code?: string; requestedBy: string[]; ids: string[] }> {
  const response = await stack().api(`/api/requests?${query}`, { persona });
  if (response.status !== 200) return { ...(await problemOf(response)), requestedBy: [], ids: [] };
  const items = ((await response.json()) as { items: Array<{ id: string; requestedBy: string }> }).items;
  return { status: 200, requestedBy: [...new Set(items.map((i) => i.requestedBy))], ids: items.map((i) => i.id) };
}

beforeAll(async () => {
  ofDave = await submitted(stack(), 'dave');
  ofSam = await submitted(stack(), 'sam', SELF_KEY_REQUEST);
  ofDana = await submitted(stack(), 'dana', { ...CHANGE_REQUEST, justification: 'dana only' });
  const run = await stack().api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST', headers: { 'content-type': 'application/json' } });
  expect([200, 202]).toContain(run.status);
  before = await settledState(stack());
}, 60_000);

describe('OData injection', () => {
  it('the listing refuses injected status, mine and pageSize, and never shows another caller\'s requests', async () => {
    expect(await listed('dana', 'mine=false')).toMatchObject({ status: 200, requestedBy: [PERSONAS.dana.oid], ids: [ofDana] });
    for (const injection of INJECTIONS) {
      for (const [name, code] of [['status', 'invalid-status'], ['mine', 'invalid-query'], ['pageSize', 'invalid-query']] as const) {
        expect({ name, injection, ...(await listed('dana', `${name}=${q(injection)}`)) }).toMatchObject({ name, injection, status: 400, code });
      }
      expect({ injection, ...(await listed('dana', `status=Pending&mine=false&x=${q(injection)}`)) }).toMatchObject({ injection, status: 200, requestedBy: [PERSONAS.dana.oid] });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('continuation tokens that are not the API\'s are refused; crafted ones never reach another caller\'s rows', async () => {
    const crafted = [
      ...INJECTIONS.map((injection) => b64({ nextPartitionKey: 'ledger', nextRowKey: `request|${injection}` })),
      b64({ nextPartitionKey: "ledger' or '1' eq '1" }),
      b64({ nextPartitionKey: 'ledger', nextRowKey: 'audit|' }),
      b64({ nextPartitionKey: 'ledger', nextRowKey: 'request|' }),
      b64({ nextPartitionKey: 'reconcile', nextRowKey: '' }),
    ];
    for (const continuation of crafted) {
      const seen = await listed('dana', `mine=false&continuation=${q(continuation)}`);
      expect({ continuation, status: seen.status, others: seen.requestedBy.filter((who) => who !== PERSONAS.dana.oid) }).toEqual({ continuation, status: seen.status === 400 ? 400 : 200, others: [] });
    }
    for (const injection of INJECTIONS) {
      expect({ injection, ...(await listed('dana', `continuation=${q(injection)}`)) }).toMatchObject({ injection, status: 400, code: 'invalid-query' });
    }
    // Tokens whose keys no table key can be are refused before they reach the SDK (they were 500s).
    for (const token of [{ nextPartitionKey: 'ledger', nextRowKey: 5 }, { nextPartitionKey: 'ledger', nextRowKey: { a: 1 } }, { nextPartitionKey: '\u00ff\u0100\ud800' }, { nextPartitionKey: 7 }, { nextPartitionKey: 'ledger', extra: 'x' }]) {
      expect({ token, ...(await listed('dana', `continuation=${q(b64(token))}`)) }).toMatchObject({ token, status: 400, code: 'invalid-query' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('request ids with injections are not found, on every route, and another caller\'s id is not found either', async () => {
    for (const injection of [...INJECTIONS, `${ofDave}' or '1' eq '1`, `${ofDave}'`, ofDave.toUpperCase().replace(/-/g, '')]) {
      const path = `/api/requests/${q(injection)}`;
      const read = await problemOf(await stack().api(path, { persona: 'dana' }));
      expect({ injection, status: read.status, contentType: read.contentType }).toEqual({ injection, status: expect.any(Number), contentType: 'application/problem+json' });
      expect({ injection, refused: read.status === 404 || read.status === 400 }).toEqual({ injection, refused: true });
      for (const action of ['decisions', 'cancel', 'revoke', 'extend']) {
        const response = await stack().api(`${path}/${action}`, { persona: 'dana', method: 'POST', body: action === 'decisions' ? { decision: 'approve' } : action === 'extend' ? { duration: 'PT1H' } : {}, headers: { 'content-type': 'application/json' } });
        expect({ injection, action, status: response.status }).toEqual({ injection, action, status: response.status >= 400 && response.status < 500 ? response.status : 'a 4xx' });
      }
    }
    for (const id of [ofDave, ofSam, ofDave.toUpperCase()]) {
      expect(await problemOf(await stack().api(`/api/requests/${id}`, { persona: 'dana' }))).toMatchObject({ status: 404, code: 'request-not-found' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('audit ranges, report ids, key names and day counts refuse injections', async () => {
    for (const injection of INJECTIONS) {
      for (const persona of ['dana', 'alice']) {
        for (const name of ['from', 'to']) {
          const response = await stack().api(`/api/audit?${name}=${q(`2020-01-01${injection}`)}`, { persona });
          // alice audits everything anyway; dana must never get the trail, however the date is spelled.
          if (persona === 'dana') expect({ injection, name, status: response.status }).toEqual({ injection, name, status: response.status === 400 ? 400 : 403 });
          else expect({ injection, name, status: response.status }).toEqual({ injection, name, status: response.status === 400 ? 400 : 200 });
        }
      }
      const report = await problemOf(await stack().api(`/api/reconcile/reports/${q(injection)}`, { persona: 'alice' }));
      expect({ injection, refused: [400, 404].includes(report.status), contentType: report.contentType }).toEqual({ injection, refused: true, contentType: 'application/problem+json' });
      expect({ injection, ...(await problemOf(await stack().api(`/api/reports/access?key=${q(injection)}`, { persona: 'alice' }))) }).toMatchObject({ injection, status: 404, code: 'key-not-found' });
      expect({ injection, ...(await problemOf(await stack().api(`/api/reports/keys?days=${q(injection)}`, { persona: 'alice' }))) }).toMatchObject({ injection, status: 400, code: 'invalid-query' });
    }
    const oneKey = await stack().api('/api/reports/access?key=release-signing-key', { persona: 'alice' });
    expect(oneKey.status).toBe(200);
    expect(((await oneKey.json()) as { keys: Array<{ name?: string; key?: string }> }).keys).toHaveLength(1);
    expect(await settledState(stack())).toEqual(before);
  });

  it('body fields with injections are refused and store nothing', async () => {
    for (const injection of INJECTIONS) {
      for (const field of ['principalId', 'hsm', 'role', 'scope', 'duration']) {
        const response = await stack().api('/api/requests', { persona: 'dana', method: 'POST', body: { ...RELEASE_REQUEST, [field]: injection }, headers: { 'content-type': 'application/json' } });
        const refusal = await problemOf(response);
        expect({ injection, field, status: refusal.status, contentType: refusal.contentType }).toEqual({ injection, field, status: refusal.status >= 400 && refusal.status < 500 ? refusal.status : 'a 4xx', contentType: 'application/problem+json' });
      }
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('an Idempotency-Key another caller used, quotes and all, never returns that caller\'s request', async () => {
    const key = "release'or'1'eq'1'%27";
    // One open request per principal, role and scope: clear the way for the two below.
    for (const [persona, id] of [['dave', ofDave], ['dana', ofDana]]) {
      expect((await stack().api(`/api/requests/${id}/cancel`, { persona, method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    }
    const daves = await stack().api('/api/requests', { persona: 'dave', method: 'POST', body: { ...RELEASE_REQUEST, justification: 'keyed' }, headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    expect(daves.status).toBe(201);
    const daveId = ((await daves.json()) as { id: string }).id;
    expect((await stack().api(`/api/requests/${daveId}/cancel`, { persona: 'dave', method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);

    const danas = await stack().api('/api/requests', { persona: 'dana', method: 'POST', body: { ...RELEASE_REQUEST, justification: 'keyed' }, headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    expect(danas.status).toBe(201);
    const request = (await danas.json()) as { id: string; requestedBy: string; principalId: string; status: string };
    expect(request).toMatchObject({ requestedBy: PERSONAS.dana.oid, principalId: APP_VM, status: 'Pending' });
    expect(request.id).not.toBe(daveId);
  });
});
