import { applyEvent, approvalCard, createRequest, evaluateDecision, evaluateRequest, MAX_CARD_BYTES, type AccessRequest, type Caller, type Decision, type EligibleRequest } from '../../shared/domain';
import type { Outcome } from '../../shared/services/accessRequests';
import { PolicyDirectory, TeamsApprovalService, type CardAction, type DecisionPort } from '../../shared/services/teamsApprovals';
import { CALLERS, NOW, OID, contosoPolicy } from './domain/fixtures';

const policy = contosoPolicy();
const TENANT = 'a7f8a5ce-8fe6-4690-942d-d7a0682c5867';
const ID = '0b6c1f0e-8a57-4a43-9d2b-6b1f7f3c9a01';

/** The workflow's decision rules on one request in memory (the port the bot drives). */
class OneRequest implements DecisionPort {
  decisions = 0;
  constructor(public request: AccessRequest) {}
  async get(): Promise<Outcome<AccessRequest>> {
    return { ok: true, value: this.request };
  }
  async decide(caller: Caller, _id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>> {
    const verdict = evaluateDecision(policy, this.request, caller, decision);
    if (!verdict.ok) return verdict;
    const applied = applyEvent(this.request, { type: verdict.event, by: caller.objectId, decision, ...(comment ? { comment } : {}) }, NOW);
    if (!applied.ok) throw new Error(applied.detail);
    this.decisions += 1;
    this.request = applied.request;
    return { ok: true, value: this.request };
  }
}

function releaseRequest(): AccessRequest {
  const asks = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, justification: '**click** [here](https://evil.example)' }, NOW) as EligibleRequest;
  return createRequest(policy, asks, { id: ID, requestedBy: OID.dave }, NOW);
}

function setup(request = releaseRequest()) {
  const port = new OneRequest(request);
  const service = new TeamsApprovalService({ policy, tenantId: TENANT, requests: port, directory: new PolicyDirectory(policy), clock: { now: () => NOW } });
  const click = (oid: string, verb: string, extra: Partial<CardAction> = {}) => service.handle({ tenantId: TENANT, aadObjectId: oid, teamsUserId: `29:${oid}`, verb, data: { requestId: ID }, ...extra });
  return { port, service, click };
}

const actionsOf = (card: Record<string, unknown>) => ((card.actions as { verb: string }[] | undefined) ?? []).map((a) => a.verb);
const textOf = (card: Record<string, unknown>) => JSON.stringify(card.body);

describe('Teams approval cards', () => {
  it('an approver sees Approve and Deny; the requester and the grantee see the status only', async () => {
    const { click } = setup();
    const sam = await click(OID.sam, 'refresh');
    expect(sam.kind === 'card' && actionsOf(sam.card)).toEqual(['approve', 'deny']);
    const dave = await click(OID.dave, 'refresh');
    expect(dave.kind === 'card' && actionsOf(dave.card)).toEqual([]);
    expect(dave.kind === 'card' && textOf(dave.card)).toContain('Waiting for approval (0 of 1)');
  });

  it('sam approves: the card shows who approved, and nobody sees buttons any more', async () => {
    const { click, port } = setup();
    const result = await click(OID.sam, 'approve', { data: { requestId: ID, comment: 'ok' } });
    expect(port.decisions).toBe(1);
    expect(port.request.status).toBe('Approved');
    expect(result.kind === 'card' && textOf(result.card)).toContain('Approved by Sam Security');
    const sara = await click(OID.sara, 'refresh');
    expect(sara.kind === 'card' && actionsOf(sara.card)).toEqual([]);
  });

  it('the requester clicking Approve changes nothing and is told why', async () => {
    const { click, port } = setup();
    const result = await click(OID.dave, 'approve');
    expect(port.decisions).toBe(0);
    expect(result.kind === 'card' && textOf(result.card)).toContain('Your decision was not taken');
  });

  it('a second click by the same approver is no second decision', async () => {
    const asks = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto Officer', scope: '/', justification: 'x', ticket: 'CHG-1' }, NOW) as EligibleRequest;
    const { click, port } = setup(createRequest(policy, asks, { id: ID, requestedBy: OID.sam }, NOW));
    await click(OID.sara, 'approve');
    await click(OID.sara, 'approve');
    expect(port.decisions).toBe(1);
    expect(port.request.status).toBe('Pending');
    const sean = await click(OID.sean, 'refresh');
    expect(sean.kind === 'card' && textOf(sean.card)).toContain('(1 of 2)');
    await click(OID.sean, 'approve');
    expect(port.request.status).toBe('Approved');
  });

  it.each([
    ['another tenant', { tenantId: '00000000-0000-4000-8000-000000000000' }, 'wrong-tenant'],
    ['no tenant', { tenantId: undefined }, 'wrong-tenant'],
    ['no Entra user', { aadObjectId: undefined }, 'unknown-user'],
    ['no request id', { data: { requestId: 'x' } }, 'invalid-action'],
    ['a comment too long', { data: { requestId: ID, comment: 'x'.repeat(501) } }, 'invalid-action'],
  ] as const)('%s is refused and decides nothing', async (_name, extra, code) => {
    const { click, port } = setup();
    const result = await click(OID.sam, 'approve', extra as Partial<CardAction>);
    expect(result).toMatchObject({ kind: 'error', code });
    expect(port.decisions).toBe(0);
  });

  it('text people wrote is a TextRun, schema 1.5, under Teams size limit', () => {
    const card = approvalCard(policy, releaseRequest(), CALLERS.sam, NOW, { refreshUserIds: Array.from({ length: 80 }, (_, i) => `29:${i}`) });
    expect(card.version).toBe('1.5');
    expect((card.refresh as { userIds: string[] }).userIds).toHaveLength(60);
    const runs = JSON.stringify(card.body);
    expect(runs).toContain('"type":"TextRun","text":"Justification: **click** [here](https://evil.example)"');
    expect(Buffer.byteLength(JSON.stringify(card))).toBeLessThan(MAX_CARD_BYTES);
  });

  it('an active grant shows until when, then expired', () => {
    const approved = applyEvent(releaseRequest(), { type: 'decide', by: OID.sam, decision: 'approve' }, NOW);
    if (!approved.ok) throw new Error(approved.detail);
    const active = { ...approved.request, status: 'Active' as const, grantedAt: NOW.toISOString(), expiresAt: '2030-01-01T11:00:00.000Z' };
    expect(JSON.stringify(approvalCard(policy, active, undefined, NOW, { refreshUserIds: [] }))).toContain('Active until 11:00');
    expect(JSON.stringify(approvalCard(policy, active, undefined, new Date('2030-01-01T11:00:01Z'), { refreshUserIds: [] }))).toContain('"Expired"');
  });
});
