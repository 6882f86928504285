import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { EVENT_TYPES, lifecycleEventFor, type LifecycleEvent, type LifecyclePublisher } from '../../../shared/domain/events';
import { applyEvent, createRequest, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';
import { CALLERS, NOW, OID, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'r' }, NOW) as EligibleRequest;

function run(request: AccessRequest, steps: Array<[RequestEvent, Date]>): AccessRequest {
  return steps.reduce((r, [e, now]) => {
    const res = applyEvent(r, e, now);
    if (!res.ok) throw new Error(res.detail);
    return res.request;
  }, request);
}

function types(request: AccessRequest): string[] {
  return request.history.map((h, i) => lifecycleEventFor(request, h, `e${i}`)?.eventType).filter((t): t is LifecycleEvent['eventType'] => !!t);
}

describe('lifecycle events', () => {
  const later = (ms: number): Date => new Date(NOW.getTime() + ms);

  it('maps history to event types', () => {
    const created = createRequest(policy, evaluation, { id: 'r1', requestedBy: OID.dave }, NOW);
    const done = run(created, [
      [{ type: 'decide', by: OID.sam, decision: 'approve' }, NOW],
      [{ type: 'granted', assignmentName: 'n' }, NOW],
      [{ type: 'requestExtension', by: OID.dave, durationMs: 60_000 }, NOW],
      [{ type: 'decideExtension', by: OID.sara, decision: 'approve' }, NOW],
      [{ type: 'expire' }, later(2 * 3_600_000)],
    ]);
    expect(types(done)).toEqual([EVENT_TYPES.Created, EVENT_TYPES.Approved, EVENT_TYPES.Granted, EVENT_TYPES.Extended, EVENT_TYPES.Expired]);
    expect(types(run(created, [[{ type: 'decide', by: OID.sam, decision: 'deny' }, NOW]])).at(-1)).toBe(EVENT_TYPES.Denied);
    expect(types(run(created, [[{ type: 'cancel', by: OID.dave }, NOW]])).at(-1)).toBe(EVENT_TYPES.Cancelled);
    expect(types(run(created, [[{ type: 'timeout' }, later(25 * 3_600_000)]])).at(-1)).toBe(EVENT_TYPES.TimedOut);
    const active = run(created, [[{ type: 'decide', by: OID.sam, decision: 'approve' }, NOW], [{ type: 'granted', assignmentName: 'n' }, NOW]]);
    expect(types(run(active, [[{ type: 'revoke', by: OID.sam, reason: 'x' }, NOW]])).at(-1)).toBe(EVENT_TYPES.Revoked);
    expect(types(run(active, [[{ type: 'fail', reason: 'x' }, NOW]])).at(-1)).toBe(EVENT_TYPES.Failed);
  });

  it('builds Event Grid shaped events', () => {
    const created = createRequest(policy, evaluation, { id: 'r1', requestedBy: OID.dave }, NOW);
    expect(lifecycleEventFor(created, created.history[0]!, 'id-1')).toEqual({
      id: 'id-1', eventType: 'HsmAccessGovernor.Request.Created', subject: 'hsms/contoso-hsm/requests/r1', eventTime: NOW.toISOString(), dataVersion: '1.0',
      data: expect.objectContaining({ requestId: 'r1', status: 'Pending', principalId: OID.appVm, requestedBy: OID.dave, actor: OID.dave }),
    });
  });

  it('the publisher is a small interface', async () => {
    const published: LifecycleEvent[] = [];
    const publisher: LifecyclePublisher = { publish: async (events) => { published.push(...events); } };
    const created = createRequest(policy, evaluation, { id: 'r1', requestedBy: OID.dave }, NOW);
    await publisher.publish([lifecycleEventFor(created, created.history[0]!, 'x')!]);
    expect(published).toHaveLength(1);
  });
});
