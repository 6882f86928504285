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
import { TableReconcileStore } from '../../shared/adapters/storage/reconcileStore';
import { parsePolicy, roleDefinitionIdFor, verifyAuditChain, type Caller, type Policy } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import { ReconciliationService } from '../../shared/services/reconciliation';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';

/**
 * Reconciliation runs on Azurite and the HSM emulator through the real clients: resuming from
 * checkpoints, duplicate executions, and each guard rail of apply.
 */
const ROOT = join(__dirname, '..', '..');
const CONTOSO = readFileSync(join(ROOT, 'examples', 'contoso', 'policy.yaml'), 'utf8');
const DRIFTED = join(ROOT, 'examples', 'contoso', 'hsm-seed-drifted.json');
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const policyWith = (reconcile: string): Policy => parsePolicy(CONTOSO.replace(/\nreconcile:[\s\S]*$/, `\nreconcile:\n${reconcile}`), 'test-policy.yaml');
const ENFORCE = policyWith('  mode: enforce\n');
const caller = (name: keyof typeof PERSONAS): Caller => ({ objectId: PERSONAS[name].oid, groups: [...PERSONAS[name].groups] });
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

let idp: IdentityProvider;
let azurite: Azurite;
let hsm: HsmEmulator;
let suffix: string;
const queued: string[] = [];

const table = (name: string): TableClient => TableClient.fromConnectionString(azurite.connectionString, `${name}${suffix}`, { allowInsecureConnection: true });

function reconciliation(policy: Policy = ENFORCE): ReconciliationService {
  // One inventory per service, as the app keeps one per process: its clients answer the 401 challenge once.
  const inventory = new HsmInventory({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem, requestsPerSecond: 500 });
  return new ReconciliationService({
    policy,
    store: new TableReconcileStore(table('reconcile')),
    ledger: new TableLedger(table('ledger')),
    inventory: () => inventory,
    continuation: { continueLater: async (runId) => void queued.push(runId) },
    clock: { now: () => new Date() },
    log: silent,
    newRunId: randomUUID,
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
    log: silent,
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
    // One unit of work per execution: definitions, root, 2 key pages, 1 scope batch, classify, done.
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
