import { AccessRequestService } from '../../../shared/services/accessRequests';
import { InMemoryAssignments, RecordingScheduler } from '../../fakes/assignments';
import { InMemoryLedger } from '../../fakes/ledger';
import { CALLERS, NOW, OID, contosoPolicy } from '../domain/fixtures';

/** The request workflow on in-memory ports: what each use case does, without Azurite or an HSM. */
function workflow(observe?: (transition: string) => void) {
  const ledger = new InMemoryLedger();
  const hsm = new InMemoryAssignments();
  const scheduler = new RecordingScheduler();
  const failed: string[] = [];
  const transitions: string[] = [];
  let now = NOW;
  let next = 0;
  const service = new AccessRequestService({
    policy: contosoPolicy(),
    ledger,
    hsm: () => hsm,
    scheduler,
    clock: { now: () => now },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    newId: () => `req-${++next}`,
    sleep: async () => undefined,
    onFailed: async (request) => void failed.push(request.id),
    onTransition: async (before, after) => {
      transitions.push(`${before?.status ?? 'new'}->${after.status}`);
      observe?.(`${before?.status ?? 'new'}->${after.status}`);
    },
  });
  return { service, ledger, hsm, scheduler, failed, transitions, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
}

const AUDITOR_REVIEW = { role: 'Crypto Auditor', scope: '/keys/release-signing-key', duration: 'PT1H', justification: 'quarterly key review' };

describe('AccessRequestService on in-memory ports', () => {
  it('grants an auto-approved submission at once, reading the stored request only after the assignment is made', async () => {
    const { service, ledger, hsm, scheduler, transitions } = workflow();
    const submitted = await service.submit(CALLERS.alice, AUDITOR_REVIEW);
    expect(submitted.ok && submitted.value.request.status).toBe('Active');
    expect([...hsm.assignments.values()].map((a) => [a.scope, a.principalId])).toEqual([['/keys/release-signing-key', OID.alice]]);
    // One read: the grant re-reads the request after making the assignment (a revocation meanwhile wins).
    expect(ledger.reads).toBe(1);
    expect(scheduler.scheduled.map((s) => s.reason)).toEqual(['follow-up', 'expiry']);
    expect(transitions).toEqual(['new->Approved', 'Approved->Active']);
    expect(ledger.auditRecords.map((r) => r.action)).toEqual(['request.created', 'request.approved', 'request.active']);
  });

  it('settles access before anyone is told: the grant and its expiry message before the approval is announced, the removal before the revocation is', async () => {
    const seen: string[] = [];
    const { service, hsm, scheduler } = workflow((transition) => seen.push(`${transition} with ${hsm.assignments.size} assignment(s), ${scheduler.scheduled.filter((s) => s.reason === 'expiry').length} expiry message(s)`));
    const submitted = await service.submit(CALLERS.dave, { role: 'Managed HSM Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1M', justification: 'release 1.2' });
    const id = submitted.ok ? submitted.value.request.id : '';
    expect(submitted.ok && submitted.value.request.status).toBe('Pending');
    const approved = await service.decide(CALLERS.sam, id, 'approve');
    expect(approved.ok && approved.value.status).toBe('Active');
    await service.revoke(CALLERS.dave, id, 'done');
    expect(seen).toEqual([
      'new->Pending with 0 assignment(s), 0 expiry message(s)',
      // Announced in the order of events, but only once the grant is live and its expiry is scheduled.
      'Pending->Approved with 1 assignment(s), 1 expiry message(s)',
      'Approved->Active with 1 assignment(s), 1 expiry message(s)',
      'Active->Revoked with 0 assignment(s), 1 expiry message(s)',
    ]);
  });

  it('answers a retried submission with the request it made, and refuses a second open request for the same access', async () => {
    const { service, hsm } = workflow();
    const first = await service.submit(CALLERS.alice, { ...AUDITOR_REVIEW, idempotencyKey: 'k1' });
    const retry = await service.submit(CALLERS.alice, { ...AUDITOR_REVIEW, idempotencyKey: 'k1' });
    expect(retry.ok && first.ok && [retry.value.created, retry.value.request.id]).toEqual([false, first.ok && first.value.request.id]);
    expect(await service.submit(CALLERS.alice, AUDITOR_REVIEW)).toMatchObject({ ok: false, status: 409, code: 'duplicate-request' });
    expect(hsm.assignments.size).toBe(1);
  });

  it('revokes: the assignment is gone and the request Revoked; a repeated revoke answers the same', async () => {
    const { service, hsm } = workflow();
    const submitted = await service.submit(CALLERS.alice, AUDITOR_REVIEW);
    const id = submitted.ok ? submitted.value.request.id : '';
    const revoked = await service.revoke(CALLERS.alice, id, 'done early');
    expect(revoked.ok && revoked.value.status).toBe('Revoked');
    expect(hsm.assignments.size).toBe(0);
    const again = await service.revoke(CALLERS.alice, id);
    expect(again.ok && again.value.status).toBe('Revoked');
  });

  it('a request the caller may not see is not found, whether or not it exists', async () => {
    const { service } = workflow();
    const submitted = await service.submit(CALLERS.alice, AUDITOR_REVIEW);
    const id = submitted.ok ? submitted.value.request.id : '';
    const unseen = await service.get(CALLERS.appVm, id);
    const missing = await service.get(CALLERS.appVm, 'req-404');
    expect([unseen.ok || unseen.code, missing.ok || missing.code]).toEqual(['request-not-found', 'request-not-found']);
  });

  it('a grant the HSM refuses ends Failed and alerts; one it cannot answer stays Approved until the sweep hands it on', async () => {
    const refused = workflow();
    refused.hsm.failCreateWith = Object.assign(new Error('Forbidden'), { statusCode: 403 });
    const failed = await refused.service.submit(CALLERS.alice, AUDITOR_REVIEW);
    expect(failed.ok && failed.value.request.status).toBe('Failed');
    expect(refused.failed).toHaveLength(1);

    const unavailable = workflow();
    unavailable.hsm.failCreateWith = Object.assign(new Error('Service Unavailable'), { statusCode: 503 });
    const waiting = await unavailable.service.submit(CALLERS.alice, AUDITOR_REVIEW);
    expect(waiting.ok && waiting.value.request.status).toBe('Approved');
    unavailable.hsm.failCreateWith = undefined;
    unavailable.advance(5_000);
    const queued = unavailable.scheduler.scheduled.length;
    // The sweep hands the stalled grant to the queue; the wake-up it sends makes the grant.
    expect(await unavailable.service.sweep()).toEqual({ due: 0, stalled: 1, timedOut: 0 });
    const handed = unavailable.scheduler.scheduled.slice(queued);
    expect(handed.map((s) => s.reason)).toEqual(['follow-up']);
    expect((await unavailable.service.wake(handed[0]!.requestId, 'follow-up'))?.status).toBe('Active');
  });

  it('the sweep hands a grant past its expiry to the queue, whose wake-up ends it and takes its assignment away', async () => {
    const { service, hsm, scheduler, advance } = workflow();
    await service.submit(CALLERS.alice, AUDITOR_REVIEW);
    advance(60 * 60_000 + 3_000);
    const queued = scheduler.scheduled.length;
    // Past expiry and its messages lost: the sweep hands it to the queue, and that wake-up ends it.
    expect(await service.sweep()).toEqual({ due: 1, stalled: 0, timedOut: 0 });
    const handed = scheduler.scheduled.slice(queued);
    expect(handed.map((s) => s.reason)).toEqual(['follow-up']);
    // A backlog does not feed itself: the next sweep, seconds later, does not send it again.
    advance(5_000);
    await service.sweep();
    expect(scheduler.scheduled.length).toBe(queued + 1);
    expect((await service.wake(handed[0]!.requestId, 'follow-up'))?.status).toBe('Expired');
    expect(hsm.assignments.size).toBe(0);
  });
});
