import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { AuditLogWriter, directContainerClient } from '../../dev/hsm-emulator/auditLog';
import { StorageAuditBlobReader } from '../../shared/adapters/storage/auditBlobs';
import { TableEvidenceStore } from '../../shared/adapters/storage/evidenceStore';
import { auditBlobName } from '../../shared/domain';
import { AuditIngestionService } from '../../shared/services/auditIngestion';
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
