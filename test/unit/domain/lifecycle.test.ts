import { applyEvent, createRequest, isTerminal, REQUEST_STATUSES, type AccessRequest, type RequestEvent, type RequestStatus } from '../../../shared/domain/lifecycle';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { CALLERS, NOW, OID, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);

const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'release' }, NOW) as EligibleRequest;
const pending = createRequest(policy, evaluation, { id: 'req-1', requestedBy: OID.dave }, NOW);

type Fixture = 'Pending' | 'Approved' | 'Active' | 'Active+extension' | 'Expired' | 'Revoked' | 'Denied' | 'Cancelled' | 'TimedOut' | 'Failed';

function fixture(kind: Fixture): AccessRequest {
  const active: AccessRequest = { ...pending, status: 'Active', grantedAt: NOW.toISOString(), expiresAt: at(HOUR).toISOString(), assignmentName: 'a-1' };
  switch (kind) {
    case 'Pending': return pending;
    case 'Approved': return { ...pending, status: 'Approved' };
    case 'Active': return active;
    case 'Active+extension': return { ...active, extension: { durationMs: HOUR, duration: 'PT1H', requestedAt: NOW.toISOString(), requestedBy: OID.dave, status: 'Pending', approvalsRequired: 1, decisions: [] } };
    default: return { ...active, status: kind as RequestStatus, endedAt: NOW.toISOString() };
  }
}

interface EventCase { name: string; event: RequestEvent; now: Date }
const EVENTS: EventCase[] = [
  { name: 'approve', event: { type: 'decide', by: OID.sam, decision: 'approve' }, now: NOW },
  { name: 'deny', event: { type: 'decide', by: OID.sam, decision: 'deny', comment: 'not now' }, now: NOW },
  { name: 'cancel', event: { type: 'cancel', by: OID.dave }, now: NOW },
  { name: 'timeout', event: { type: 'timeout' }, now: at(25 * HOUR) },
  { name: 'granted', event: { type: 'granted', assignmentName: 'a-1' }, now: NOW },
  { name: 'expire', event: { type: 'expire' }, now: at(2 * HOUR) },
  { name: 'revoke', event: { type: 'revoke', by: OID.sam, reason: 'done' }, now: NOW },
  { name: 'fail', event: { type: 'fail', reason: 'HSM unreachable' }, now: NOW },
  { name: 'requestExtension', event: { type: 'requestExtension', by: OID.dave, durationMs: HOUR }, now: NOW },
  { name: 'decideExtension', event: { type: 'decideExtension', by: OID.sam, decision: 'approve' }, now: NOW },
];

/** fixture → event name → resulting status (absent: refused). */
const ALLOWED: Record<Fixture, Partial<Record<string, RequestStatus>>> = {
  Pending: { approve: 'Approved', deny: 'Denied', cancel: 'Cancelled', timeout: 'TimedOut' },
  Approved: { granted: 'Active', revoke: 'Revoked', fail: 'Failed' },
  Active: { expire: 'Expired', revoke: 'Revoked', fail: 'Failed', requestExtension: 'Active' },
  'Active+extension': { expire: 'Expired', revoke: 'Revoked', fail: 'Failed', decideExtension: 'Active' },
  Expired: { fail: 'Failed' },
  Revoked: { fail: 'Failed' },
  Denied: {},
  Cancelled: {},
  TimedOut: {},
  Failed: {},
};

const table = (Object.keys(ALLOWED) as Fixture[]).flatMap((kind) => EVENTS.map((e) => [kind, e.name, ALLOWED[kind][e.name] ?? null] as const));

describe('applyEvent: every status × every event', () => {
  it.each(table)('%s + %s → %s', (kind, eventName, expected) => {
    const request = fixture(kind);
    const { event, now } = EVENTS.find((e) => e.name === eventName)!;
    const result = applyEvent(request, event, now);
    if (expected === null) {
      expect(result).toMatchObject({ ok: false, code: 'invalid-transition' });
      if (!result.ok) expect(result.detail).toMatch(new RegExp(`cannot ${event.type}`));
    } else {
      if (!result.ok) throw new Error(result.detail);
      expect(result.request.status).toBe(expected);
      expect(result.request.history).toHaveLength(request.history.length + 1);
      const last = result.request.history[result.request.history.length - 1]!;
      expect(last).toMatchObject({ at: now.toISOString(), from: request.status, to: expected });
      expect(last.by.length).toBeGreaterThan(0);
    }
    // Inputs are never mutated.
    expect(request).toEqual(fixture(kind));
  });

  it('covers all nine statuses', () => {
    expect(REQUEST_STATUSES).toHaveLength(9);
    for (const s of REQUEST_STATUSES) expect(Object.keys(ALLOWED).some((k) => k.startsWith(s))).toBe(true);
    expect(REQUEST_STATUSES.filter(isTerminal)).toEqual(['Expired', 'Revoked', 'Denied', 'Cancelled', 'TimedOut', 'Failed']);
  });
});

describe('applyEvent: conditions', () => {
  it('createRequest: Pending with pendingUntil = now + lifetime and a creation entry', () => {
    expect(pending).toMatchObject({ status: 'Pending', role: 'Managed HSM Crypto User', duration: 'PT1H', durationMs: HOUR, ruleId: 'release-signing', approvalsRequired: 1, createdAt: NOW.toISOString(), pendingUntil: at(24 * HOUR).toISOString(), requestedBy: OID.dave, principalId: OID.appVm });
    expect(pending.history).toEqual([{ at: NOW.toISOString(), from: null, to: 'Pending', by: OID.dave, reason: 'requested' }]);
  });

  it('an approval short of the count keeps Pending and records the decision', () => {
    const needsTwo = { ...pending, approvalsRequired: 2 };
    const r1 = applyEvent(needsTwo, { type: 'decide', by: OID.sam, decision: 'approve' }, NOW);
    if (!r1.ok) throw new Error(r1.detail);
    expect(r1.request.status).toBe('Pending');
    expect(r1.request.history.at(-1)).toMatchObject({ from: 'Pending', to: 'Pending', reason: 'approval recorded (1/2)' });
    expect(applyEvent(r1.request, { type: 'decide', by: OID.sam.toUpperCase(), decision: 'approve' }, NOW)).toMatchObject({ ok: false, code: 'invalid-transition' });
    const r2 = applyEvent(r1.request, { type: 'decide', by: OID.sara, decision: 'approve' }, NOW);
    expect(r2.ok && r2.request.status).toBe('Approved');
    expect(r2.ok && r2.request.decisions.map((d) => d.by)).toEqual([OID.sam, OID.sara]);
  });

  it('a decision after pendingUntil is refused; timeout before pendingUntil is refused', () => {
    expect(applyEvent(pending, { type: 'decide', by: OID.sam, decision: 'approve' }, at(24 * HOUR))).toMatchObject({ ok: false });
    expect(applyEvent(pending, { type: 'timeout' }, at(24 * HOUR - 1))).toMatchObject({ ok: false, detail: expect.stringMatching(/pending until/) });
    expect(applyEvent(pending, { type: 'timeout' }, at(24 * HOUR))).toMatchObject({ ok: true, request: { status: 'TimedOut' } });
  });

  it('only the requester can cancel', () => {
    expect(applyEvent(pending, { type: 'cancel', by: OID.sam }, NOW)).toMatchObject({ ok: false, detail: expect.stringMatching(/only the requester/) });
    expect(applyEvent(pending, { type: 'cancel', by: OID.dave.toUpperCase() }, NOW)).toMatchObject({ ok: true, request: { status: 'Cancelled', endReason: 'cancelled' } });
  });

  it('the clock starts when the assignment is in place', () => {
    const approved = fixture('Approved');
    const placedAt = at(5 * 60_000);
    const result = applyEvent(approved, { type: 'granted', assignmentName: 'name-1', at: placedAt }, at(6 * 60_000));
    expect(result).toMatchObject({ ok: true, request: { status: 'Active', grantedAt: placedAt.toISOString(), expiresAt: at(5 * 60_000 + HOUR).toISOString(), assignmentName: 'name-1' } });
    const defaulted = applyEvent(approved, { type: 'granted', assignmentName: 'name-1' }, NOW);
    expect(defaulted.ok && defaulted.request.expiresAt).toBe(at(HOUR).toISOString());
  });

  it('expire is refused before expiresAt and accepted at it', () => {
    const active = fixture('Active');
    expect(applyEvent(active, { type: 'expire' }, at(HOUR - 1))).toMatchObject({ ok: false, detail: expect.stringMatching(/active until/) });
    expect(applyEvent(active, { type: 'expire' }, at(HOUR))).toMatchObject({ ok: true, request: { status: 'Expired', endedAt: at(HOUR).toISOString(), endReason: 'expired' } });
  });

  it('revoke records who and why', () => {
    const result = applyEvent(fixture('Active'), { type: 'revoke', by: OID.sam, reason: 'incident' }, NOW);
    expect(result).toMatchObject({ ok: true, request: { status: 'Revoked', endReason: 'incident' } });
    expect(result.ok && result.request.history.at(-1)).toMatchObject({ by: OID.sam, reason: 'revoked: incident' });
  });

  it('an extension approved before expiry moves expiresAt with no gap', () => {
    const active = fixture('Active');
    const asked = applyEvent(active, { type: 'requestExtension', by: OID.dave, durationMs: 30 * 60_000, justification: 'release slipped' }, at(50 * 60_000));
    if (!asked.ok) throw new Error(asked.detail);
    expect(asked.request.extension).toMatchObject({ status: 'Pending', duration: 'PT30M', approvalsRequired: 1, requestedBy: OID.dave });
    expect(asked.request.expiresAt).toBe(active.expiresAt);
    expect(applyEvent(asked.request, { type: 'requestExtension', by: OID.dave, durationMs: HOUR }, at(51 * 60_000))).toMatchObject({ ok: false, detail: expect.stringMatching(/already pending/) });
    const approved = applyEvent(asked.request, { type: 'decideExtension', by: OID.sam, decision: 'approve' }, at(55 * 60_000));
    if (!approved.ok) throw new Error(approved.detail);
    expect(approved.request.expiresAt).toBe(at(HOUR + 30 * 60_000).toISOString());
    expect(approved.request.extension).toMatchObject({ status: 'Approved', decidedAt: at(55 * 60_000).toISOString() });
    expect(approved.request.history.at(-1)).toMatchObject({ from: 'Active', to: 'Active', reason: expect.stringMatching(/^extended by PT30M/) });
    // A new extension may be asked once the previous one is decided.
    expect(applyEvent(approved.request, { type: 'requestExtension', by: OID.dave, durationMs: HOUR }, at(56 * 60_000)).ok).toBe(true);
  });

  it('an extension decided after expiry, denied, doubled or zero-length is refused or leaves expiresAt', () => {
    const ext = fixture('Active+extension');
    expect(applyEvent(ext, { type: 'decideExtension', by: OID.sam, decision: 'approve' }, at(HOUR))).toMatchObject({ ok: false, detail: expect.stringMatching(/expired/) });
    const denied = applyEvent(ext, { type: 'decideExtension', by: OID.sam, decision: 'deny' }, NOW);
    expect(denied).toMatchObject({ ok: true, request: { status: 'Active', expiresAt: ext.expiresAt, extension: { status: 'Denied' } } });
    const twoNeeded = { ...ext, extension: { ...ext.extension!, approvalsRequired: 2 } };
    const one = applyEvent(twoNeeded, { type: 'decideExtension', by: OID.sam, decision: 'approve' }, NOW);
    if (!one.ok) throw new Error(one.detail);
    expect(one.request.expiresAt).toBe(ext.expiresAt);
    expect(applyEvent(one.request, { type: 'decideExtension', by: OID.sam, decision: 'approve' }, NOW)).toMatchObject({ ok: false, detail: expect.stringMatching(/already decided/) });
    expect(applyEvent(fixture('Active'), { type: 'requestExtension', by: OID.dave, durationMs: 0 }, NOW)).toMatchObject({ ok: false });
    expect(applyEvent(fixture('Active'), { type: 'requestExtension', by: OID.dave, durationMs: HOUR }, at(HOUR))).toMatchObject({ ok: false, detail: expect.stringMatching(/expired/) });
  });

  it('a rule without approval: created Approved; extensions apply at once', () => {
    const alice = evaluateRequest(policy, CALLERS.alice!, { role: 'Crypto Auditor', scope: '/keys/k1', justification: 'review' }, NOW) as EligibleRequest;
    const request = createRequest(policy, alice, { id: 'req-a', requestedBy: OID.alice }, NOW);
    expect(request.status).toBe('Approved');
    expect(request.history.map((h) => [h.from, h.to])).toEqual([[null, 'Pending'], ['Pending', 'Approved']]);
    const granted = applyEvent(request, { type: 'granted', assignmentName: 'n' }, NOW);
    if (!granted.ok) throw new Error(granted.detail);
    const extended = applyEvent(granted.request, { type: 'requestExtension', by: OID.alice, durationMs: HOUR }, NOW);
    expect(extended).toMatchObject({ ok: true, request: { expiresAt: at(2 * HOUR).toISOString(), extension: { status: 'Approved' } } });
  });

  it('fail keeps the original end time of an ended grant', () => {
    const expired = fixture('Expired');
    const failed = applyEvent(expired, { type: 'fail', reason: 'could not remove assignment', by: 'sweeper' }, at(HOUR));
    expect(failed).toMatchObject({ ok: true, request: { status: 'Failed', endedAt: expired.endedAt, endReason: 'failed: could not remove assignment' } });
  });
});
