import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { AuditLogWriter, directContainerClient } from '../../dev/hsm-emulator/auditLog';
import { StorageAuditBlobReader } from '../../shared/adapters/storage/auditBlobs';
import { TableEvidenceStore } from '../../shared/adapters/storage/evidenceStore';
import { auditBlobName } from '../../shared/domain';
import { AuditIngestionService } from '../../shared/services/auditIngestion';
import { createHash, randomUUID } from 'node:crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { startHsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';
import { RecordingReactions, grant } from '../helpers/evidenceFakes';
import { usageReport } from '../../shared/domain';
import { waitUntil } from '../helpers/poll';
import { SILENT_LOG } from '../helpers/workflow';

/**
 * Ingestion over real sockets: the emulator's writer appends PT1H.json blocks to Azurite, the
 * ingestion reads them with ranged GETs and keeps its findings and checkpoints in Table Storage.
 */
const HSM_ID = '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/CONTOSO/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSO-HSM';
const HOUR = new Date('2030-01-01T10:00:00Z');
const BLOB = auditBlobName(HSM_ID, HOUR);
const WORKER = join(__dirname, '..', 'fixtures', 'audit-ingest-worker', 'index.ts');
const reactions = { assignmentChanged: async () => undefined, usedOutsideAnyGrant: async () => undefined, persistentRefusals: async () => undefined };

function refused(index: number): Record<string, unknown> {
  return {
    time: new Date(HOUR.getTime() + index * 1000).toISOString(), resourceId: HSM_ID, operationName: 'KeySign', category: 'AuditEvent', resultType: 'Failure', httpStatusCode: 403,
    identity: JSON.stringify({ claim: { http_schemas_microsoft_com_identity: { claims: { objectidentifier: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e' } } } }),
    requestUri: 'https://contoso-hsm.managedhsm.azure.net/keys/release-signing-key//sign?api-version=7.4', correlationId: `c-${index}`,
  };
}

let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
}, 60_000);
afterAll(async () => {
  await azurite?.close();
});

/** Runs `write` with HTTP_PROXY naming a proxy that answers nothing, as a test of the app's identity does. */
async function behindDeadProxy<T>(write: () => Promise<T>): Promise<T> {
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  process.env.HTTP_PROXY = 'http://127.0.0.1:9';
  delete process.env.NO_PROXY;
  try {
    return await write();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

function ingestion(table: string) {
  const store = new TableEvidenceStore(TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true }));
  const service = new AuditIngestionService({
    reader: new StorageAuditBlobReader(directContainerClient(azurite.connectionString)), store, reactions, log: SILENT_LOG,
    context: { grants: async () => [], standing: [], hsm: 'contoso-hsm', serviceObjectId: 'none' },
  });
  return { store, service };
}

it('reads what the emulator appends, from the checkpoint on, through an environment proxy that answers nothing', async () => {
  const appended: number[] = [];
  const writer = new AuditLogWriter({ connectionString: azurite.connectionString, resourceId: `${HSM_ID}-A`, onAppended: (blob) => void appended.push(blob.contentLength) });
  const blob = auditBlobName(`${HSM_ID}-A`, HOUR);
  await behindDeadProxy(() => writer.append([refused(1), refused(2)], HOUR));
  const { store, service } = ingestion('evidenceA');
  expect(await service.ingest(blob)).toMatchObject({ records: 2 });
  await behindDeadProxy(() => writer.append([refused(3)], HOUR));
  expect(await service.ingest(blob)).toMatchObject({ records: 1 });
  expect(await service.ingest(blob)).toMatchObject({ records: 0 });
  expect(await store.refusalCount('2c564836-0f4a-4ada-9cc4-6b2363d7a09e', 'release-signing-key')).toBe(3);
  expect(appended).toHaveLength(2);
  expect(appended[1]).toBeGreaterThan(appended[0]);
}, 60_000);

it('counts every record once when a reader is killed with SIGKILL mid-blob and the blob grows after', async () => {
  const writer = new AuditLogWriter({ connectionString: azurite.connectionString, resourceId: HSM_ID });
  const first = Array.from({ length: 60 }, (_, i) => refused(i));
  for (let i = 0; i < first.length; i += 10) await writer.append(first.slice(i, i + 10), HOUR);
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', WORKER], {
    env: { ...process.env, WORKER_SETTINGS: JSON.stringify({ connectionString: azurite.connectionString, blob: BLOB, table: 'evidenceKill' }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let reads = 0;
  let done = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    reads += chunk.toString().split('\n').filter((l) => l.startsWith('read ')).length;
    done ||= chunk.toString().includes('done');
  });
  const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await waitUntil('the worker to be inside the blob', () => reads >= 3, { timeoutMs: 60_000, intervalMs: 5 });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(done).toBe(false);

  await writer.append(Array.from({ length: 15 }, (_, i) => refused(100 + i)), HOUR);
  const { store, service } = ingestion('evidenceKill');
  await service.ingest(BLOB);
  const rows = await store.rows('refused');
  expect(rows).toHaveLength(75);
  expect(new Set(rows.map((r) => r.correlationId)).size).toBe(75);
}, 120_000);

it('turns the emulator\'s log of real SDK calls into uses, a refusal and an assignment made outside the service', async () => {
  const idp = await startIdentityProvider();
  const hsm = await startHsmEmulator({
    issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId,
    seed: { roleAssignments: [{ name: randomUUID(), scope: '/', role: 'Managed HSM Administrator', principalId: PERSONAS.sam.oid }, { name: randomUUID(), scope: '/keys', role: 'Managed HSM Crypto User', principalId: PERSONAS.sara.oid }] },
    auditLog: { connectionString: azurite.connectionString, resourceId: `${HSM_ID}-E` },
  });
  const startedAt = new Date();
  try {
    const options = { disableChallengeResourceVerification: true, tlsOptions: { ca: hsm.caPem }, retryOptions: { maxRetries: 0 } };
    const key = await new KeyClient(hsm.url, new DevPersonaCredential(idp.url, 'sara'), options).createEcKey('release-signing-key', { curve: 'P-256' });
    const digest = createHash('sha256').update('release').digest();
    const signer = new CryptographyClient(key.id as string, new DevPersonaCredential(idp.url, 'sara'), options);
    for (let i = 0; i < 3; i++) await signer.sign('ES256', digest);
    await expect(new CryptographyClient(key.id as string, new DevPersonaCredential(idp.url, 'app-vm'), options).sign('ES256', digest)).rejects.toMatchObject({ statusCode: 403 });
    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });
    await rbac.createRoleAssignment('/keys/release-signing-key', randomUUID(), roleDefinitionIdFor('21dbd100-6940-42c2-9190-5d6cb909625b'), PERSONAS.dave.oid);
    await hsm.auditLogFlushed();

    const grants = [grant({ id: 'g-sara', principalId: PERSONAS.sara.oid, grantedAt: new Date(Date.now() - 60_000).toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() })];
    const store = new TableEvidenceStore(TableClient.fromConnectionString(azurite.connectionString, 'evidenceE', { allowInsecureConnection: true }));
    const reactions = new RecordingReactions();
    const service = new AuditIngestionService({
      reader: new StorageAuditBlobReader(directContainerClient(azurite.connectionString)), store, reactions, log: SILENT_LOG,
      context: { grants: async () => grants, standing: [], hsm: 'contoso-hsm', serviceObjectId: PERSONAS['hsm-governor'].oid },
    });
    // Calls on either side of an hour's end land in two blobs.
    for (const blob of new Set([auditBlobName(`${HSM_ID}-E`, startedAt), auditBlobName(`${HSM_ID}-E`, new Date())])) await service.ingest(blob);
    const report = usageReport(grants, await store.uses());
    // Sara created the key under the grant too; the SDK's CryptographyClient reads the key once before its first operation.
    expect(report.grants[0].operations).toEqual([
      expect.objectContaining({ operation: 'KeyCreate', key: 'release-signing-key', count: 1 }),
      expect.objectContaining({ operation: 'KeyGet', key: 'release-signing-key', count: 1 }),
      expect.objectContaining({ operation: 'KeySign', key: 'release-signing-key', count: 3 }),
    ]);
    // app-vm's client was refused reading the key, then signing with it.
    expect((await store.rows('refused')).map((r) => [r.principalId, r.operation])).toEqual([[PERSONAS['app-vm'].oid, 'KeyGet'], [PERSONAS['app-vm'].oid, 'KeySign']]);
    expect(reactions.calls.map((c) => c.what)).toEqual(['assignment-change']);
    expect((reactions.calls[0].detail as { principalId: string }).principalId).toBe(PERSONAS.sam.oid);
  } finally {
    await hsm.close();
    await idp.close();
  }
}, 120_000);
