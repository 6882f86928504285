import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { QueueServiceClient } from '@azure/storage-queue';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { createHsmAccessControlClient } from '../../shared/adapters/hsm-rbac';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { QueueRevocationScheduler } from '../../shared/adapters/storage/revocationQueue';
import { applyEvent, createRequest, evaluateRequest, type AccessRequest, type EligibleRequest } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import type { AssignmentPort, LedgerPort } from '../../shared/services/ports';
import { caller, SILENT_LOG } from '../helpers/workflow';

/**
 * A revoke racing the grant step right after approval, each in a process of its own (two services
 * over the same storage and HSM), paused at every step of the other through its ports. Whatever
 * the interleaving, the revoke answers with Revoked and the HSM ends without the assignment.
 */
const POLICY = loadPolicyFile(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'));
const SEED = join(__dirname, '..', '..', 'examples', 'contoso', 'hsm-seed.json');
const SCOPE = '/keys/release-signing-key';
const APP_VM = '2c564836-0f4a-4ada-9cc4-6b2363d7a09e';

let idp: IdentityProvider;
let hsm: HsmEmulator;
let azurite: Azurite;
let tableName: string;

/** A point a process stops at until the test lets it go on; `reached` resolves when it gets there. */
class Pause {
  private armed = true;
  private letGo!: () => void;
  private arrived!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.arrived = resolve));
  private readonly released = new Promise<void>((resolve) => (this.letGo = resolve));

  async here(): Promise<void> {
    if (!this.armed) return;
    this.armed = false;
    this.arrived();
    await this.released;
  }

  release(): void {
    this.letGo();
  }
}

type Step = 'create' | 'created' | 'listFor' | 'update' | 'updated';
type Hooks = Partial<Record<Step, (request?: AccessRequest) => Promise<void>>>;

function hookedPort(port: AssignmentPort, hooks: Hooks): AssignmentPort {
  return {
    create: async (assignment) => {
      await hooks.create?.();
      const created = await port.create(assignment);
      await hooks.created?.();
      return created;
    },
    remove: (scope, name) => port.remove(scope, name),
    listFor: async (scope, principalId) => {
      await hooks.listFor?.();
      return port.listFor(scope, principalId);
    },
  };
}

function hookedLedger(ledger: PartitionedLedger, hooks: Hooks): LedgerPort {
  return {
    create: (...args) => ledger.create(...args),
    get: (id) => ledger.get(id),
    list: (query) => ledger.list(query),
    appendAudit: (...args) => ledger.appendAudit(...args),
    appendAuditOnce: (...args) => ledger.appendAuditOnce(...args),
    audit: (range) => ledger.audit(range),
    auditTrail: () => ledger.auditTrail(),
    auditPage: (query) => ledger.auditPage(query),
    auditHead: () => ledger.auditHead(),
    requestIdForSubmission: (...args) => ledger.requestIdForSubmission(...args),
    update: async (request, etag, audit, events) => {
      await hooks.update?.(request);
      const saved = await ledger.update(request, etag, audit, events);
      await hooks.updated?.(request);
      return saved;
    },
  };
}

function ledger(): PartitionedLedger {
  return new PartitionedLedger(TableClient.fromConnectionString(azurite.connectionString, tableName, { allowInsecureConnection: true }));
}

/** One process of the app: its own clients, the shared storage and HSM. */
function instance(hooks: Hooks = {}): AccessRequestService {
  const client = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
  const clock = { now: () => new Date() };
  return new AccessRequestService({
    policy: POLICY,
    ledger: hookedLedger(ledger(), hooks),
    hsm: () => hookedPort(new HsmAssignmentPort(client), hooks),
    scheduler: new QueueRevocationScheduler(QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(`revocations-${tableName.toLowerCase()}`), clock),
    clock,
    log: SILENT_LOG,
    newId: randomUUID,
    sleep: async () => undefined,
  });
}

function heldFor(principalId: string): string[] {
  return hsm.assignments().filter((a) => a.properties.principalId === principalId && a.properties.scope === SCOPE).map((a) => a.name);
}

async function pending(): Promise<AccessRequest> {
  const submitted = await instance().submit(caller('dave'), { role: 'Crypto User', scope: SCOPE, principalId: APP_VM, duration: 'PT1H', justification: 'release' });
  if (!submitted.ok) throw new Error(submitted.detail);
  return submitted.value.request;
}


beforeAll(async () => {
  idp = await startIdentityProvider();
  [hsm, azurite] = await Promise.all([
    startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: SEED }),
    startAzurite({ ports: { blob: 0, queue: 0, table: 0 } }),
  ]);
});

afterAll(async () => {
  await Promise.all([hsm.close(), azurite.close(), idp.close()]);
});

beforeEach(() => {
  tableName = `races${randomUUID().replace(/-/g, '').slice(0, 12)}`;
});

afterEach(async () => {
  // Each test leaves the HSM as it found it, whatever it asserted.
  const admin = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
  for (const name of heldFor(APP_VM)) await admin.deleteRoleAssignment(SCOPE, name);
});

async function expectRevokedWithoutAccess(id: string, answered: Awaited<ReturnType<AccessRequestService['revoke']>>): Promise<void> {
  expect(answered).toMatchObject({ ok: true, value: { status: 'Revoked' } });
  expect((await ledger().get(id))!.request.status).toBe('Revoked');
  expect(heldFor(APP_VM)).toEqual([]);
}

describe('a revoke while the grant step runs in another process', () => {
  it.each<[string, Step, (request?: AccessRequest) => boolean]>([
    ['before the assignment is created', 'create', () => true],
    ['after the assignment is created, before Active is committed', 'created', () => true],
    ['after Active is committed, before its expiry is scheduled', 'updated', (request) => request?.status === 'Active'],
  ])('paused %s: ends Revoked without the assignment', async (_, step, when) => {
    const request = await pending();
    const pause = new Pause();
    const granting = instance({ [step]: async (r?: AccessRequest) => (when(r) ? pause.here() : undefined) });
    const approving = granting.decide(caller('sam'), request.id, 'approve');
    await pause.reached;
    const revoked = await instance().revoke(caller('dave'), request.id, 'incident');
    pause.release();
    await approving;
    await expectRevokedWithoutAccess(request.id, revoked);
  });

  it('that dies after creating the assignment: the revocation follow-up takes it away', async () => {
    const request = await pending();
    const pause = new Pause();
    // The granting process stops for good right after its create (as if killed); it never resumes.
    void instance({ created: () => pause.here() }).decide(caller('sam'), request.id, 'approve');
    await pause.reached;
    const revoked = await instance().revoke(caller('dave'), request.id, 'incident');
    expect(revoked).toMatchObject({ ok: true, value: { status: 'Revoked' } });
    await instance().wake(request.id, 'follow-up');
    expect(heldFor(APP_VM)).toEqual([]);
    expect((await ledger().get(request.id))!.request.status).toBe('Revoked');
  });
});

describe('the grant step while a revoke runs in another process', () => {
  it.each<[string, Step]>([
    ['read the request Approved, before it commits', 'update'],
    ['got as far as looking for the assignment to remove', 'listFor'],
  ])('the revoke paused after it %s: ends Revoked without the assignment', async (_, step) => {
    const request = await pending();
    // Approved, the grant step held back before its create so that the revoke reads Approved.
    const held = new Pause();
    const approving = instance({ create: () => held.here() }).decide(caller('sam'), request.id, 'approve');
    await held.reached;
    const pause = new Pause();
    const revoking = instance({ [step]: () => pause.here() }).revoke(caller('dave'), request.id, 'incident');
    await pause.reached;
    held.release();
    await approving;
    pause.release();
    await expectRevokedWithoutAccess(request.id, await revoking);
  });
});

describe('a shared assignment removed while another grant starts', () => {
  /** An Approved request written as the workflow writes it (its grant step not run yet). */
  async function approved(requester: 'dave' | 'dana'): Promise<AccessRequest> {
    const now = new Date();
    const evaluation = evaluateRequest(POLICY, caller(requester), { role: 'Crypto User', scope: SCOPE, principalId: APP_VM, duration: 'PT1H', justification: 'release' }, now) as EligibleRequest;
    const created = createRequest(POLICY, evaluation, { id: randomUUID(), requestedBy: caller(requester).objectId }, now);
    const decided = applyEvent(created, { type: 'decide', by: caller('sam').objectId, decision: 'approve' }, now);
    if (!decided.ok) throw new Error(decided.detail);
    await ledger().create(decided.request, [{ at: now.toISOString(), actor: 'test', action: 'request.created', requestId: created.id, to: 'Approved', reason: 'test' }]);
    return decided.request;
  }

  it('gives the grant that relied on it an assignment of its own', async () => {
    const first = await approved('dave');
    expect(await instance().provision(first.id)).toMatchObject({ status: 'Active' });
    // The revoke of the first has read that nothing else runs; the second starts on the first's assignment.
    const pause = new Pause();
    const revoking = instance({ listFor: () => pause.here() }).revoke(caller('dave'), first.id, 'done');
    await pause.reached;
    const second = await approved('dana');
    expect(await instance().provision(second.id)).toMatchObject({ status: 'Active' });
    pause.release();
    expect(await revoking).toMatchObject({ ok: true, value: { status: 'Revoked' } });
    expect(heldFor(APP_VM)).toHaveLength(1);
  });
});
