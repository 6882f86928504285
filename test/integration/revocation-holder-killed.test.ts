import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { PROCESSING_VISIBILITY_SECONDS } from '../../dev/host/queues';
import { createHsmAccessControlClient } from '../../shared/adapters/hsm-rbac';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { QueueRevocationScheduler } from '../../shared/adapters/storage/revocationQueue';
import type { AccessRequest } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import type { AssignmentPort } from '../../shared/services/ports';
import { EXPIRY_GRACE_MS } from '../chaos/scenario';
import { caller, drainWakeUps, SILENT_LOG, takeWakeUps, type ReceivedWakeUp } from '../helpers/workflow';

/**
 * The instance holding a revocation message dies (its message stays invisible for the processing
 * time, ten minutes): the grant still ends within the goal (expiry + 60 s), because the wake-up
 * wrote its follow-up before it worked, or the sweep hands the grant to the queue again.
 * Real Azurite queues and the HSM emulator; the service's clock is the test's.
 */
const POLICY = loadPolicyFile(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'));
const SEED = join(__dirname, '..', '..', 'examples', 'contoso', 'hsm-seed.json');
const SCOPE = '/keys/storage-cmk';

let idp: IdentityProvider;
let hsm: HsmEmulator;
let azurite: Azurite;
let name: string;
const clock = { current: new Date(), now: () => new Date(clock.current) };

const queue = (): QueueClient => QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(`revocations-${name}`);

/** An instance; `dying` makes its HSM calls hang for ever from the given one on (the process was killed in it). */
function instance(dying?: 'create' | 'remove'): AccessRequestService {
  const client = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
  const hang = (): Promise<never> => new Promise<never>(() => undefined);
  const port = (real: AssignmentPort): AssignmentPort => ({
    create: (a) => (dying === 'create' ? hang() : real.create(a)),
    listFor: (scope, principal) => real.listFor(scope, principal),
    remove: (scope, assignment) => (dying === 'remove' ? hang() : real.remove(scope, assignment)),
  });
  return new AccessRequestService({
    policy: POLICY,
    ledger: new PartitionedLedger(TableClient.fromConnectionString(azurite.connectionString, `ledger${name}`, { allowInsecureConnection: true })),
    hsm: () => port(new HsmAssignmentPort(client)),
    scheduler: new QueueRevocationScheduler(queue(), clock),
    clock,
    log: SILENT_LOG,
    newId: randomUUID,
    sleep: async () => undefined,
  });
}

const held = (): number => hsm.assignments().filter((a) => a.properties.principalId === PERSONAS.sara.oid && a.properties.scope === SCOPE).length;

async function activeGrant(): Promise<AccessRequest> {
  const svc = instance();
  const submitted = await svc.submit(caller('sara'), { role: 'Crypto User', scope: SCOPE, duration: 'PT1H', justification: 'kill test' });
  if (!submitted.ok) throw new Error(submitted.detail);
  const decided = await svc.decide(caller('sam'), submitted.value.request.id, 'approve');
  if (!decided.ok || decided.value.status !== 'Active') throw new Error('not granted');
  // The approval's own follow-up (it found the grant done): out of the way of what the tests watch.
  const approvalFollowUp = await nextWakeUp(decided.value.id);
  await queue().deleteMessage(approvalFollowUp.messageId, approvalFollowUp.popReceipt);
  return decided.value;
}

/** Waits (on the queue's own clock) until a wake-up for `id` is visible, and takes it. */
async function nextWakeUp(id: string): Promise<ReceivedWakeUp & { messageId: string; popReceipt: string }> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const found = (await takeWakeUps(queue(), 1)).find((wakeUp) => wakeUp.requestId === id);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no wake-up for ${id} became visible`);
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
  name = randomUUID().replace(/-/g, '').slice(0, 12);
  clock.current = new Date();
});

describe('a revocation whose holder is killed', () => {
  it('ends the grant through the follow-up the wake-up wrote before it worked, while the killed message stays invisible', async () => {
    const grant = await activeGrant();
    clock.current = new Date(Date.parse(grant.expiresAt!) + 1);
    // The expiry message, as the queue trigger takes it (invisible for the processing time), on an instance killed mid-removal.
    await queue().sendMessage(Buffer.from(JSON.stringify({ requestId: grant.id, expiresAt: grant.expiresAt, reason: 'expiry' })).toString('base64'));
    const [held1] = (await takeWakeUps(queue(), PROCESSING_VISIBILITY_SECONDS)).filter((w) => w.requestId === grant.id && w.reason === 'expiry');
    expect(held1).toBeDefined();
    void instance('remove').wake(grant.id, held1.reason, held1.meantFor, held1.hop);

    // What becomes visible is the follow-up (never the killed message), meant for seconds after the kill.
    const followUp = await nextWakeUp(grant.id);
    expect(followUp).toMatchObject({ reason: 'follow-up', hop: 1 });
    expect(followUp.meantFor.getTime()).toBeLessThanOrEqual(Date.parse(grant.expiresAt!) + EXPIRY_GRACE_MS / 10);
    const survivor = instance();
    await survivor.wake(followUp.requestId, followUp.reason, followUp.meantFor, followUp.hop);
    expect((await survivor.get(caller('sara'), grant.id))).toMatchObject({ ok: true, value: { status: 'Expired' } });
    expect(held()).toBe(0);
    const leftOver = await takeWakeUps(queue(), 1);
    expect(leftOver.map((w) => w.messageId)).not.toContain(held1.messageId);
  });

  it('hands a grant whose holder died before it wrote anything to the queue at the next sweep (start-up)', async () => {
    const grant = await activeGrant();
    clock.current = new Date(Date.parse(grant.expiresAt!) + 5_000);
    // Every message about the grant is held by instances that are gone.
    while ((await takeWakeUps(queue(), PROCESSING_VISIBILITY_SECONDS)).length > 0);
    const restarted = instance();
    expect(await restarted.sweep()).toMatchObject({ due: 1 });
    const handed = await takeWakeUps(queue(), 60);
    expect(handed.map((w) => [w.requestId, w.reason])).toEqual([[grant.id, 'follow-up']]);
    await restarted.wake(handed[0].requestId, handed[0].reason, handed[0].meantFor, handed[0].hop);
    expect(held()).toBe(0);
    expect((await restarted.get(caller('sara'), grant.id))).toMatchObject({ ok: true, value: { status: 'Expired' } });
  });

  it('makes an approval live whose grant step died, through its follow-up or the sweep', async () => {
    const svc = instance('create');
    const submitted = await svc.submit(caller('sara'), { role: 'Crypto User', scope: SCOPE, duration: 'PT1H', justification: 'kill test' });
    if (!submitted.ok) throw new Error(submitted.detail);
    const id = submitted.value.request.id;
    void svc.decide(caller('sam'), id, 'approve');
    // The approval wrote its follow-up before its commit; the instance dies creating the assignment.
    const followUp = await nextWakeUp(id);
    expect(followUp.reason).toBe('follow-up');
    const survivor = instance();
    await survivor.wake(followUp.requestId, followUp.reason, followUp.meantFor, followUp.hop);
    expect((await survivor.get(caller('sara'), id))).toMatchObject({ ok: true, value: { status: 'Active' } });
    expect(held()).toBe(1);
    // Nothing is left that a sweep would hand over, and the grant still expires through the queue.
    expect(await survivor.sweep()).toMatchObject({ due: 0, stalled: 0 });
    clock.current = new Date(Date.now() + 3_600_000 + 5_000);
    expect(await survivor.sweep()).toMatchObject({ due: 1 });
    await drainWakeUps(queue(), survivor, clock.now);
    expect(held()).toBe(0);
  });
});
