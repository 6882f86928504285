import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient } from '../../shared/adapters/hsm-rbac';
import { HsmAssignmentPort } from '../../shared/adapters/hsm-rbac/assignmentPort';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { grantPartitionOf, PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { QueueRevocationScheduler } from '../../shared/adapters/storage/revocationQueue';
import { assignmentNameFor, verifyPartitionedAudit, type AccessRequest } from '../../shared/domain';
import { AccessRequestService } from '../../shared/services/accessRequests';
import type { AssignmentPort, LedgerPort } from '../../shared/services/ports';
import { caller, drainWakeUps, SILENT_LOG } from '../helpers/workflow';

/**
 * The workflow on real storage (Azurite) and a real HSM emulator, with the clock in the test's
 * hands so that expiry, sweeps and crashes can be played in seconds.
 */
const POLICY = loadPolicyFile(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'));
const SEED = join(__dirname, '..', '..', 'examples', 'contoso', 'hsm-seed.json');

let idp: IdentityProvider;
let hsm: HsmEmulator;
let azurite: Azurite;
let tableName: string;
const clock = { current: new Date('2026-11-23T09:00:00Z'), now: () => new Date(clock.current) };

function ledger(): PartitionedLedger {
  return new PartitionedLedger(TableClient.fromConnectionString(azurite.connectionString, tableName, { allowInsecureConnection: true }));
}

const revocationQueue = (): QueueClient => QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient(`revocations-${tableName.toLowerCase()}`);

/** A sweep and then the queue trigger's work on what it handed over. */
async function sweepAndWake(svc: AccessRequestService): Promise<Awaited<ReturnType<AccessRequestService['sweep']>>> {
  const counts = await svc.sweep();
  await drainWakeUps(revocationQueue(), svc, clock.now);
  return counts;
}

function service(ledgerPort: LedgerPort = ledger(), extra: { wrapHsm?: (port: AssignmentPort) => AssignmentPort; onFailed?: (request: AccessRequest) => Promise<void> } = {}): AccessRequestService {
  const client = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
  const queue = revocationQueue();
  return new AccessRequestService({
    policy: POLICY,
    ledger: ledgerPort,
    hsm: () => (extra.wrapHsm ?? ((port: AssignmentPort) => port))(new HsmAssignmentPort(client)),
    ...(extra.onFailed ? { onFailed: extra.onFailed } : {}),
    scheduler: new QueueRevocationScheduler(queue, clock),
    clock,
    log: SILENT_LOG,
    newId: randomUUID,
    sleep: async () => undefined,
  });
}

function heldBy(principalId: string, scope: string): string[] {
  return hsm.assignments().filter((a) => a.properties.principalId === principalId && a.properties.scope === scope).map((a) => a.name);
}

async function grantFor(requester: keyof typeof PERSONAS, approver: keyof typeof PERSONAS, scope: string, svc = service()): Promise<AccessRequest> {
  const submitted = await svc.submit(caller(requester), { role: 'Crypto User', scope, duration: 'PT1H', justification: 'maintenance' });
  if (!submitted.ok) throw new Error(submitted.detail);
  const decided = await svc.decide(caller(approver), submitted.value.request.id, 'approve');
  if (!decided.ok) throw new Error(decided.detail);
  return decided.value;
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
  tableName = `ledger${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  clock.current = new Date('2026-11-23T09:00:00Z');
});

describe('access request workflow on Azurite and the HSM emulator', () => {
  it('starts the clock when the assignment is in place and two concurrent sweepers end each grant once', async () => {
    const grants: AccessRequest[] = [];
    for (const [requester, approver, key] of [['sam', 'sara', 'app-signing-key'], ['sara', 'sean', 'app-signing-key'], ['sean', 'sam', 'release-signing-key'], ['sam', 'sean', 'storage-cmk']] as const) {
      grants.push(await grantFor(requester, approver, `/keys/${key}`));
    }
    for (const grant of grants) {
      expect(grant.status).toBe('Active');
      expect(grant.grantedAt).toBe(clock.current.toISOString());
      expect(heldBy(grant.principalId, grant.scope)).toHaveLength(1);
    }

    clock.current = new Date(clock.current.getTime() + 3_600_000 + 5000);
    const [first, second] = await Promise.all([service().sweep(), service().sweep()]);
    expect([first.due, second.due]).toEqual([grants.length, grants.length]);
    // Each sweeper handed every grant to the queue: two queue triggers share the wake-ups, and each grant ends once.
    await Promise.all([drainWakeUps(revocationQueue(), service(), clock.now), drainWakeUps(revocationQueue(), service(), clock.now)]);

    const audit = await ledger().audit();
    expect(verifyPartitionedAudit(await ledger().auditTrail())).toMatchObject({ ok: true });
    for (const grant of grants) {
      const stored = await ledger().get(grant.id);
      expect(stored?.request.status).toBe('Expired');
      expect(stored?.request.history.filter((h) => h.to === 'Expired')).toHaveLength(1);
      expect(audit.filter((r) => r.requestId === grant.id && r.action === 'request.expired')).toHaveLength(1);
      expect(heldBy(grant.principalId, grant.scope)).toHaveLength(0);
    }
  });

  it('keeps access that another running grant or a standing assignment still justifies', async () => {
    // Two running grants of one access: new ones are refused as duplicates, so the second is stored
    // as a ledger without the open-access index (records from before it) would have stored it.
    const real = ledger();
    const withoutOpenAccessIndex: LedgerPort = Object.assign(Object.create(real) as LedgerPort, {
      create: (request: AccessRequest, audit: Parameters<LedgerPort['create']>[1], events: Parameters<LedgerPort['create']>[2], claims: Parameters<LedgerPort['create']>[3] = {}) =>
        real.create(request, audit, events, { ...(claims.submissionKey ? { submissionKey: claims.submissionKey } : {}) }),
    });
    const svc = service();
    const first = await grantFor('sam', 'sara', '/keys/release-signing-key', svc);
    clock.current = new Date(clock.current.getTime() + 30 * 60_000);
    const second = await grantFor('sam', 'sean', '/keys/release-signing-key', service(withoutOpenAccessIndex));
    expect(heldBy(PERSONAS.sam.oid, '/keys/release-signing-key')).toHaveLength(1);

    clock.current = new Date(Date.parse(first.expiresAt as string) + 5000);
    await sweepAndWake(svc);
    expect((await ledger().get(first.id))?.request.status).toBe('Expired');
    expect(heldBy(PERSONAS.sam.oid, '/keys/release-signing-key')).toHaveLength(1);

    clock.current = new Date(Date.parse(second.expiresAt as string) + 5000);
    await sweepAndWake(svc);
    expect((await ledger().get(second.id))?.request.status).toBe('Expired');
    expect(heldBy(PERSONAS.sam.oid, '/keys/release-signing-key')).toHaveLength(0);
  });

  it('recovers from a crash between "assignment created" and "state saved": no orphan, nothing alive past expiry', async () => {
    const real = ledger();
    // The process dies right after the HSM call: the save that would make the grant Active never happens.
    const dying: LedgerPort = Object.assign(Object.create(real) as LedgerPort, {
      update: async (request: AccessRequest, etag: string, audit: Parameters<LedgerPort['update']>[2]) => {
        if (request.status === 'Active') throw new Error('process killed');
        return real.update(request, etag, audit);
      },
    });
    const submitted = await service(dying).submit(caller('sara'), { role: 'Crypto User', scope: '/keys/storage-cmk', duration: 'PT1H', justification: 'crash test' });
    if (!submitted.ok) throw new Error(submitted.detail);
    const id = submitted.value.request.id;
    await expect(service(dying).decide(caller('sam'), id, 'approve')).rejects.toThrow('process killed');

    const stranded = await real.get(id);
    expect(stranded?.request.status).toBe('Approved');
    const name = assignmentNameFor(id, 'contoso-hsm', '/keys/storage-cmk', PERSONAS.sara.oid, '21dbd100-6940-42c2-9190-5d6cb909625b');
    expect(heldBy(PERSONAS.sara.oid, '/keys/storage-cmk')).toEqual([name]);

    clock.current = new Date(clock.current.getTime() + 20_000);
    const restarted = service();
    expect(await sweepAndWake(restarted)).toMatchObject({ stalled: 1 });
    const recovered = (await real.get(id))?.request as AccessRequest;
    expect(recovered.status).toBe('Active');
    const approvedAt = recovered.history.find((h) => h.to === 'Approved')?.at as string;
    // The assignment may have existed since approval, so the grant counts from then.
    expect(recovered.grantedAt).toBe(approvedAt);

    clock.current = new Date(Date.parse(recovered.expiresAt as string) + 5000);
    await sweepAndWake(restarted);
    expect((await real.get(id))?.request.status).toBe('Expired');
    expect(heldBy(PERSONAS.sara.oid, '/keys/storage-cmk')).toHaveLength(0);
    expect(verifyPartitionedAudit(await real.auditTrail())).toMatchObject({ ok: true });
  });

  it('extends an active grant on approval with no gap in access', async () => {
    const svc = service();
    const grant = await grantFor('sean', 'sam', '/keys/app-signing-key', svc);
    const originalExpiry = Date.parse(grant.expiresAt as string);
    clock.current = new Date(originalExpiry - 5 * 60_000);
    expect(await svc.extend(caller('sean'), grant.id, 'PT4H')).toMatchObject({ ok: false, code: 'duration-too-long' });
    const asked = await svc.extend(caller('sean'), grant.id, 'PT1H', 'the rotation takes longer');
    expect(asked).toMatchObject({ ok: true, value: { status: 'Active', extension: { status: 'Pending' } } });
    expect(await svc.decide(caller('sean'), grant.id, 'approve')).toMatchObject({ ok: false, code: 'self-approval' });
    const approved = await svc.decide(caller('sara'), grant.id, 'approve');
    expect(approved).toMatchObject({ ok: true, value: { expiresAt: new Date(originalExpiry + 3_600_000).toISOString() } });

    clock.current = new Date(originalExpiry + 5000);
    expect(await sweepAndWake(svc)).toMatchObject({ due: 0 });
    expect(heldBy(PERSONAS.sean.oid, '/keys/app-signing-key')).toHaveLength(1);
    clock.current = new Date(originalExpiry + 3_600_000 + 5000);
    expect(await sweepAndWake(svc)).toMatchObject({ due: 1 });
    expect(heldBy(PERSONAS.sean.oid, '/keys/app-signing-key')).toHaveLength(0);
  });

  it('retries a removal the HSM keeps refusing, then fails the grant loudly', async () => {
    const grant = await grantFor('sara', 'sean', '/keys/release-signing-key');
    const failed: AccessRequest[] = [];
    let attempts = 0;
    const broken = service(ledger(), {
      wrapHsm: (port) => ({ create: (a) => port.create(a), listFor: (scope, principal) => port.listFor(scope, principal), remove: async () => { attempts++; throw Object.assign(new Error('HSM unavailable'), { statusCode: 503 }); } }),
      onFailed: async (request) => { failed.push(request); },
    });
    clock.current = new Date(Date.parse(grant.expiresAt as string) + 5000);
    await sweepAndWake(broken);
    expect(attempts).toBe(4);
    const stored = (await ledger().get(grant.id))?.request;
    expect(stored?.status).toBe('Failed');
    expect(failed.map((r) => r.id)).toEqual([grant.id]);
    expect((await ledger().audit()).filter((r) => r.requestId === grant.id).map((r) => r.action)).toEqual(['request.created', 'request.approved', 'request.active', 'request.expired', 'request.failed']);
    // The assignment is still there: reconciliation reports it; nothing pretends it is gone.
    expect(heldBy(PERSONAS.sara.oid, '/keys/release-signing-key')).toHaveLength(1);
  });

  it('times out requests nobody decided and detects an edited audit record', async () => {
    const svc = service();
    const submitted = await svc.submit(caller('dave'), { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: PERSONAS['app-vm'].oid, justification: 'late release' });
    if (!submitted.ok) throw new Error(submitted.detail);
    clock.current = new Date(clock.current.getTime() + 24 * 3_600_000 + 5000);
    expect(await svc.sweep()).toMatchObject({ timedOut: 1 });
    expect((await ledger().get(submitted.value.request.id))?.request.status).toBe('TimedOut');
    expect(await svc.verifyAudit()).toMatchObject({ ok: true });

    const table = TableClient.fromConnectionString(azurite.connectionString, tableName, { allowInsecureConnection: true });
    const partitionKey = grantPartitionOf(PERSONAS['app-vm'].oid);
    const row = await table.getEntity<{ data: string }>(partitionKey, 'audit|000000000001');
    await table.updateEntity({ partitionKey, rowKey: 'audit|000000000001', data: row.data.replace('request.created', 'request.forged') }, 'Merge');
    expect(await svc.verifyAudit()).toMatchObject({ ok: false, brokenAtSeq: 1 });
  });
});
