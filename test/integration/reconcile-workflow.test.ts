import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient } from '../../shared/adapters/hsm-rbac';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { HsmInventory } from '../../shared/adapters/hsm-rbac/inventory';
import { TableLedger } from '../../shared/adapters/storage/ledger';
import { TableOutbox } from '../../shared/adapters/storage/outbox';
import { TableReconcileStore } from '../../shared/adapters/storage/reconcileStore';
import { applyEvent, createRequest, evaluateRequest, parsePolicy, roleDefinitionIdFor, verifyAuditChain, type EligibleRequest, type Policy } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import { ReconciliationService, type ReconciliationDeps } from '../../shared/services/reconciliation';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';
import { runPage } from '../../shared/web/reports';
import { caller, SILENT_LOG } from '../helpers/workflow';

/**
 * Reconciliation runs on Azurite and the HSM emulator through the real clients: resuming from
 * checkpoints, duplicate executions, and each guard rail of apply.
 */
const ROOT = join(__dirname, '..', '..');
const CONTOSO = readFileSync(join(ROOT, 'examples', 'contoso', 'policy.yaml'), 'utf8');
const DRIFTED = join(ROOT, 'examples', 'contoso', 'hsm-seed-drifted.json');
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const RELEASE_KEY = '/keys/release-signing-key';
const policyWith = (reconcile: string): Policy => parsePolicy(CONTOSO.replace(/\nreconcile:[\s\S]*$/, `\nreconcile:\n${reconcile}`), 'test-policy.yaml');
const ENFORCE = policyWith('  mode: enforce\n');

let idp: IdentityProvider;
let azurite: Azurite;
let hsm: HsmEmulator;
let suffix: string;
const queued: string[] = [];

const table = (name: string): TableClient => TableClient.fromConnectionString(azurite.connectionString, `${name}${suffix}`, { allowInsecureConnection: true });

function reconciliation(policy: Policy = ENFORCE, extra: Partial<ReconciliationDeps> = {}): ReconciliationService {
  // One inventory per service, as the app keeps one per process: its clients answer the 401 challenge once.
  const inventory = new HsmInventory({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem, requestsPerSecond: 500 });
  return new ReconciliationService({
    policy,
    store: new TableReconcileStore(table('reconcile')),
    ledger: new TableLedger(table('ledger')),
    inventory: () => inventory,
    continuation: { continueLater: async (runId) => void queued.push(runId) },
    clock: { now: () => new Date() },
    log: SILENT_LOG,
    newRunId: randomUUID,
    ...extra,
  });
}

function requests(): AccessRequestService {
  const client = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
  return new AccessRequestService({
    policy: ENFORCE,
    ledger: new TableLedger(table('ledger')),
    hsm: () => new HsmAssignmentPort(client),
    scheduler: { schedule: async () => undefined },
    clock: { now: () => new Date() },
    log: SILENT_LOG,
    newId: randomUUID,
  });
}

/** Steps a run to the end, `budgetMs` per execution; returns the run and how many executions it took. */
async function runToEnd(service: ReconciliationService, run: ReconcileRun, budgetMs: number, until?: (run: ReconcileRun) => boolean): Promise<ReconcileRun> {
  let current = run;
  while (current.status === 'running' && !(until?.(current))) {
    const stepped = await service.step(current.id, budgetMs);
    if (!stepped) throw new Error('lost the run');
    current = stepped;
  }
  return current;
}

async function started(service: ReconciliationService, mode: 'plan' | 'apply'): Promise<ReconcileRun> {
  const outcome = await service.start(mode, PERSONAS.sam.oid);
  if (!outcome.ok) throw new Error(`busy: ${outcome.runningRunId}`);
  return outcome.run;
}

const kinds = (items: ReadonlyArray<{ kind: string }>): string[] => items.map((i) => i.kind).sort();

beforeAll(async () => {
  idp = await startIdentityProvider();
  azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
});

afterAll(async () => {
  await Promise.all([azurite.close(), idp.close()]);
});

beforeEach(async () => {
  suffix = randomUUID().replace(/-/g, '').slice(0, 10);
  queued.length = 0;
  hsm = await startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: DRIFTED, pageSize: 2 });
});

afterEach(async () => {
  await hsm.close();
});

describe('reconciliation runs', () => {
  it('schedules a continuation before working, and resumes from checkpoints to the same result with the same calls', async () => {
    const once = reconciliation();
    const whole = await runToEnd(once, await started(once, 'plan'), 60_000);
    expect(whole.executions).toBe(1);
    expect(queued).toEqual([whole.id]);

    const piecewise = reconciliation();
    const resumed = await runToEnd(piecewise, await started(piecewise, 'plan'), 0);
    // One unit of work per execution: definitions, root, 2 key pages (each with its scopes), classify, done.
    expect(resumed.executions).toBeGreaterThanOrEqual(6);
    expect(resumed.status).toBe('completed');
    expect(resumed.hsmCalls).toBe(whole.hsmCalls);
    expect(kinds((await piecewise.report(resumed.id))!.items)).toEqual(kinds((await once.report(whole.id))!.items));
    expect(kinds((await once.report(whole.id))!.items)).toEqual(['forbidden-principal', 'missing', 'unexpected']);
  });

  it('lets one execution work on a run at a time, and one run per HSM', async () => {
    const service = reconciliation();
    const run = await started(service, 'apply');
    const second = await service.start('plan', PERSONAS.sara.oid);
    expect(second).toEqual({ ok: false, code: 'reconcile-in-progress', runningRunId: run.id });

    const [a, b] = await Promise.all([service.step(run.id, 60_000), service.step(run.id, 60_000)]);
    const finished = await runToEnd(service, (a?.status === 'completed' ? a : b) ?? run, 60_000);
    expect(finished.status).toBe('completed');
    expect(finished.actions.map((x) => x.action)).toEqual(['created', 'removed', 'removed']);
    const audit = await new TableLedger(table('ledger')).audit();
    expect(verifyAuditChain(audit)).toMatchObject({ ok: true });
    expect(audit.filter((r) => r.requestId === run.id && /^reconcile\.(created|removed)$/.test(r.action))).toHaveLength(3);
    expect((await service.start('plan', PERSONAS.sam.oid)).ok).toBe(true);
  });

  it('refuses the whole apply when removals would exceed maxRemovalsPerRun, changing nothing', async () => {
    const before = hsm.assignments();
    const service = reconciliation(policyWith('  mode: enforce\n  maxRemovalsPerRun: 1\n'));
    const run = await runToEnd(service, await started(service, 'apply'), 60_000);
    expect(run.refused).toMatchObject({ code: 'too-many-removals' });
    expect(run.actions).toEqual([]);
    expect(hsm.assignments()).toEqual(before);
  });

  it('reports only, in report mode', async () => {
    const before = hsm.assignments();
    const service = reconciliation(policyWith('  mode: report\n'));
    const run = await runToEnd(service, await started(service, 'apply'), 60_000);
    expect(run.refused).toMatchObject({ code: 'report-mode' });
    expect(hsm.assignments()).toEqual(before);
  });

  it('re-checks each item before changing it: a grant that started after the plan keeps its access', async () => {
    // sam is given Crypto User on app-signing-key by hand: unexpected, until his own grant covers it.
    const admin = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
    await admin.createRoleAssignment('/keys/app-signing-key', randomUUID(), roleDefinitionIdFor(CRYPTO_USER), PERSONAS.sam.oid);
    const service = reconciliation();
    const planned = await runToEnd(service, await started(service, 'apply'), 0, (run) => run.phase === 'apply');
    expect((await service.report(planned.id))!.items.filter((i) => i.principalId === PERSONAS.sam.oid).map((i) => i.kind)).toEqual(['unexpected']);

    const submitted = await requests().submit(caller('sam'), { role: 'Crypto User', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'rotation test' });
    if (!submitted.ok) throw new Error(submitted.detail);
    const decided = await requests().decide(caller('sara'), submitted.value.request.id, 'approve');
    if (!decided.ok) throw new Error(decided.detail);
    expect(decided.value.status).toBe('Active');

    const finished = await runToEnd(service, planned, 60_000);
    const sams = finished.actions.filter((a) => a.principalId === PERSONAS.sam.oid);
    expect(sams).toMatchObject([{ action: 'skipped', detail: expect.stringMatching(/justified when re-checked/) }]);
    expect(hsm.assignments().filter((a) => a.properties.principalId === PERSONAS.sam.oid && a.properties.scope === '/keys/app-signing-key')).toHaveLength(1);
  });

  it.each([2, 3])('keeps an assignment %i grants share while any of them runs: the first ends, then plan and enforcing apply', async (count) => {
    // app-vm's release grants, asked for by dave and dana: the first makes the assignment, the others rely on it.
    const service = requests();
    const grants: string[] = [];
    for (let i = 0; i < count; i++) {
      const now = new Date();
      const requester = i % 2 === 0 ? 'dave' : 'dana';
      const evaluation = evaluateRequest(ENFORCE, caller(requester), { role: 'Crypto User', scope: RELEASE_KEY, principalId: PERSONAS['app-vm'].oid, duration: 'PT1H', justification: `release ${i}` }, now) as EligibleRequest;
      const created = createRequest(ENFORCE, evaluation, { id: randomUUID(), requestedBy: caller(requester).objectId }, now);
      const decided = applyEvent(created, { type: 'decide', by: PERSONAS.sam.oid, decision: 'approve' }, now);
      if (!decided.ok) throw new Error(decided.detail);
      await new TableLedger(table('ledger')).create(decided.request, [{ at: now.toISOString(), actor: 'test', action: 'request.created', requestId: created.id, to: 'Approved', reason: 'test' }]);
      expect(await service.provision(created.id)).toMatchObject({ status: 'Active' });
      grants.push(created.id);
    }
    const releaseAssignments = (): string[] => hsm.assignments().filter((a) => a.properties.principalId === PERSONAS['app-vm'].oid && a.properties.scope === RELEASE_KEY).map((a) => a.name);
    expect(releaseAssignments()).toHaveLength(1);
    expect(await service.revoke(caller('dave'), grants[0]!, 'done early')).toMatchObject({ ok: true, value: { status: 'Revoked' } });
    expect(releaseAssignments()).toHaveLength(1);

    const reconciler = reconciliation();
    const planned = await runToEnd(reconciler, await started(reconciler, 'plan'), 60_000);
    expect((await reconciler.report(planned.id))!.items.filter((i) => i.scope === RELEASE_KEY)).toEqual([]);
    const applied = await runToEnd(reconciler, await started(reconciler, 'apply'), 60_000);
    expect(applied.actions.filter((a) => a.scope === RELEASE_KEY)).toEqual([]);
    expect(releaseAssignments()).toHaveLength(1);
  });

  it('never removes the last Administrator assignment at /, nor protected ones or its own', async () => {
    const noAdmins = parsePolicy(CONTOSO
      .replace(/ {2}- principal: security-team\n {4}role: Administrator\n {4}scope: \/\n/, '')
      .replace(/ {2}- principal: break-glass\n {4}role: Administrator\n {4}scope: \/\n {4}reason: .*\n/, '')
      .replace(/\nreconcile:[\s\S]*$/, '\nreconcile:\n  mode: enforce\n'), 'no-admins.yaml');
    const service = reconciliation(noAdmins);
    const run = await runToEnd(service, await started(service, 'apply'), 60_000);
    const admins = hsm.assignments().filter((a) => a.properties.scope === '/' && a.properties.roleDefinitionId.endsWith('a290e904-7015-4bba-90c8-60543313cdb4'));
    expect(admins).toHaveLength(1);
    expect(run.held).toHaveLength(1);
    expect(run.held?.[0]?.reason).toMatch(/last Administrator/);
    expect(hsm.assignments().filter((a) => a.properties.principalId === PERSONAS['hsm-governor'].oid)).toHaveLength(1);
  });
});

/** A store that dies once when a run's close is about to be marked: after its audit record and events were written. */
class StoreThatDiesBeforeClosedAt extends TableReconcileStore {
  died = false;

  override async updateRun(run: ReconcileRun, etag: string): Promise<{ etag: string } | 'conflict'> {
    if (run.closedAt && !this.died) {
      this.died = true;
      throw new Error('process died');
    }
    return super.updateRun(run, etag);
  }
}

/** A store whose first `setLatest` dies, as a process would between a run's last checkpoint and its close. */
class StoreThatDiesOnce extends TableReconcileStore {
  died = false;

  override async setLatest(hsm: string, run: { id: string; startedAt: string }): Promise<void> {
    if (!this.died) {
      this.died = true;
      throw new Error('process died');
    }
    return super.setLatest(hsm, run);
  }
}

describe('runs that crash or fail', () => {
  async function auditOf(runId: string, action: string): Promise<unknown[]> {
    return (await new TableLedger(table('ledger')).audit()).filter((r) => r.requestId === runId && r.action === action);
  }

  it.each(['a redelivered continuation', 'the next start'])('a run that died between its last checkpoint and its close is closed once, by %s', async (closer) => {
    const told: string[] = [];
    const store = new StoreThatDiesOnce(table('reconcile'));
    const service = reconciliation(policyWith('  mode: report\n'), { store, onCompleted: [async (run) => void told.push(`first ${run.id}`), async (run) => void told.push(`second ${run.id}`)] });
    const run = await started(service, 'plan');
    await expect(service.step(run.id, 60_000)).rejects.toThrow('process died');
    expect((await store.getRun(run.id))?.run).toMatchObject({ status: 'completed' });
    expect((await store.getRun(run.id))?.run.closedAt).toBeUndefined();
    expect(await store.latest('contoso-hsm')).toBeUndefined();
    expect(told).toEqual([]);

    if (closer === 'the next start') {
      const next = await service.start('plan', PERSONAS.sam.oid);
      expect(next.ok).toBe(true);
    } else {
      expect(await service.step(run.id, 60_000)).toMatchObject({ status: 'completed', closedAt: expect.any(String) });
      expect((await service.start('plan', PERSONAS.sam.oid)).ok).toBe(true);
    }
    expect(await store.latest('contoso-hsm')).toBe(run.id);
    // Closing again (another redelivery) changes nothing and tells nobody twice.
    await service.step(run.id, 60_000);
    expect(told.sort()).toEqual([`first ${run.id}`, `second ${run.id}`]);
    expect(await auditOf(run.id, 'reconcile.completed')).toHaveLength(1);
    expect(verifyAuditChain(await new TableLedger(table('ledger')).audit())).toMatchObject({ ok: true });
  });

  it('a run that died after its completion was recorded, before closedAt, records it and publishes its events once', async () => {
    const store = new StoreThatDiesBeforeClosedAt(table('reconcile'));
    let commits = 0;
    const service = reconciliation(policyWith('  mode: report\n'), { store, eventSource: '/hsm-access-governor/test', afterCommit: () => void commits++ });
    const run = await started(service, 'plan');
    await expect(service.step(run.id, 60_000)).rejects.toThrow('process died');
    expect((await store.getRun(run.id))?.run.closedAt).toBeUndefined();
    expect(await service.step(run.id, 60_000)).toMatchObject({ status: 'completed', closedAt: expect.any(String) });
    await service.step(run.id, 60_000);

    expect(await auditOf(run.id, 'reconcile.completed')).toHaveLength(1);
    const outbox = (await new TableOutbox(table('ledger')).oldest(1000)).map((entry) => entry.event).filter((event) => event.data.runId === run.id);
    const items = (await service.report(run.id))!.items;
    expect(outbox.map((event) => event.id)).toEqual([...items.map((item) => `${run.id}.detected.${item.id}`), `${run.id}.completed`]);
    expect(commits).toBe(1);
    expect(verifyAuditChain(await new TableLedger(table('ledger')).audit())).toMatchObject({ ok: true });
  });

  it('never moves latest back to an older run closed late', async () => {
    const store = new TableReconcileStore(table('reconcile'));
    await store.setLatest('contoso-hsm', { id: 'newer', startedAt: '2026-11-23T10:00:00.000Z' });
    await store.setLatest('contoso-hsm', { id: 'older', startedAt: '2026-11-23T09:00:00.000Z' });
    expect(await store.latest('contoso-hsm')).toBe('newer');
  });

  it('gives a run up as failed when the HSM refuses every call, releases the HSM, and records why', async () => {
    const told: string[] = [];
    const service = reconciliation(ENFORCE, { maxAttempts: 3, retryDelayMs: 1000, onCompleted: async (run) => void told.push(run.id) });
    const run = await started(service, 'plan');
    hsm.setFaults({ forbidden: 1 });
    const delays: number[] = [];
    const recordingService = reconciliation(ENFORCE, { maxAttempts: 3, retryDelayMs: 1000, continuation: { continueLater: async (_id, delayMs) => void delays.push(delayMs) } });

    const first = await service.step(run.id, 60_000);
    expect(first).toMatchObject({ status: 'running', failedAttempts: 1, phase: 'definitions' });
    expect(first?.error).toMatch(/403.*AccessDenied|AccessDenied/);
    expect(first?.owner).toBeUndefined();
    await recordingService.continueLater(first!);
    const second = await service.step(run.id, 60_000);
    expect(second).toMatchObject({ status: 'running', failedAttempts: 2 });
    await recordingService.continueLater(second!);
    expect(delays).toEqual([1000, 2000]);
    // Meanwhile the HSM is still this run's: no other run starts.
    expect(await service.start('plan', PERSONAS.sam.oid)).toMatchObject({ ok: false, runningRunId: run.id });

    const third = await service.step(run.id, 60_000);
    expect(third).toMatchObject({ status: 'failed', failedAttempts: 3, finishedAt: expect.any(String), closedAt: expect.any(String) });
    expect(third?.error).toMatch(/AccessDenied/);
    const report = await service.report(run.id);
    expect(report?.run).toMatchObject({ status: 'failed', failedAttempts: 3, error: third?.error });
    expect(runPage(report!.run, report!.items)).toMatch(/Failed<\/th><td><span class="warn">.*AccessDenied.*3 failed attempt\(s\) in a row/);
    const audit = (await auditOf(run.id, 'reconcile.run-failed')) as Array<{ reason: string; details: Record<string, unknown> }>;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ details: { attempts: 3, phase: 'definitions' } });
    expect(audit[0]!.reason).toMatch(/failed after 3 attempt\(s\).*AccessDenied/);
    expect(told).toEqual([]);
    // A failed run is not the latest inventory, and a step of it does nothing more.
    expect(await service.latestReport()).toBeUndefined();
    expect(await service.step(run.id, 60_000)).toMatchObject({ status: 'failed', failedAttempts: 3 });
    expect(await auditOf(run.id, 'reconcile.run-failed')).toHaveLength(1);

    hsm.setFaults({});
    const next = await runToEnd(service, await started(service, 'plan'), 60_000);
    expect(next).toMatchObject({ status: 'completed' });
    expect(told).toEqual([next.id]);
  });

  it('keeps the progress of a run whose HSM fails for a while, and finishes it', async () => {
    const service = reconciliation(ENFORCE, { maxAttempts: 3 });
    const run = await runToEnd(service, await started(service, 'plan'), 0, (r) => r.phase === 'keys');
    hsm.setFaults({ forbidden: 1 });
    expect(await service.step(run.id, 0)).toMatchObject({ status: 'running', phase: 'keys', failedAttempts: 1 });
    hsm.setFaults({});
    const finished = await runToEnd(service, run, 60_000);
    expect(finished).toMatchObject({ status: 'completed' });
    expect(finished.failedAttempts).toBeUndefined();
    expect(finished.error).toBeUndefined();
  });
});
