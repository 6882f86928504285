/**
 * Ingestion of the HSM's AuditEvent log over Azurite: records per second through the whole path
 * (ranged blob read, parse, findings stored in Table Storage, checkpoint), as a ratio to a floor
 * measured in the same run (the same blob downloaded and its lines parsed, storing nothing); and the
 * lag from a key operation's record being appended to its use being readable as evidence; then, on
 * the whole local stack, the lag from a signature (as the workload sees it return) to that use being
 * in the grant's `GET /api/requests/{id}`: the HSM's append, BlobCreated through the system topic,
 * the blobs webhook, the blob trigger's read.
 *
 *   npm run bench:audit-ingestion [-- RECORDS]
 */
import { TableClient } from '@azure/data-tables';
import { startAzurite } from '../dev/azurite';
import { AuditLogWriter, directContainerClient } from '../dev/hsm-emulator/auditLog';
import { StorageAuditBlobReader } from '../shared/adapters/storage/auditBlobs';
import { TableEvidenceStore } from '../shared/adapters/storage/evidenceStore';
import { auditBlobName, parseAuditLine } from '../shared/domain';
import { AuditIngestionService } from '../shared/services/auditIngestion';
import { actAsWorkload } from '../dev/workload';
import { PERSONAS } from '../dev/personas';
import { grant } from '../test/helpers/evidenceFakes';
import { startTestStack } from '../test/helpers/stack';

const RECORDS = Number(process.argv[2] ?? 3000);
const HSM_ID = '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/BENCH/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/BENCH-HSM';
const PRINCIPAL = '2c564836-0f4a-4ada-9cc4-6b2363d7a09e';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const reactions = { assignmentChanged: async () => undefined, usedOutsideAnyGrant: async () => undefined, persistentRefusals: async () => undefined };

function sign(time: Date, i: number): Record<string, unknown> {
  return {
    time: time.toISOString(), resourceId: HSM_ID, operationName: 'KeySign', category: 'AuditEvent', resultType: 'Success', httpStatusCode: 200,
    identity: JSON.stringify({ claim: { http_schemas_microsoft_com_identity: { claims: { objectidentifier: PRINCIPAL } } } }),
    requestUri: 'https://bench-hsm.managedhsm.azure.net/keys/release-signing-key//sign?api-version=7.4', correlationId: `c-${i}`,
  };
}

async function main(): Promise<void> {
  const azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
  try {
    const now = new Date();
    const grants = [grant({ id: 'bench', grantedAt: new Date(now.getTime() - 3_600_000).toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString() })];
    const writer = new AuditLogWriter({ connectionString: azurite.connectionString, resourceId: HSM_ID });
    for (let i = 0; i < RECORDS; i += 500) await writer.append(Array.from({ length: Math.min(500, RECORDS - i) }, (_, j) => sign(now, i + j)), now);
    const blob = auditBlobName(HSM_ID, now);
    const container = directContainerClient(azurite.connectionString);

    const floorStart = performance.now();
    const bytes = await container.getBlobClient(blob).downloadToBuffer();
    const parsed = bytes.toString('utf8').split('\n').filter(Boolean).map(parseAuditLine).length;
    const floorRate = parsed / ((performance.now() - floorStart) / 1000);

    const store = new TableEvidenceStore(TableClient.fromConnectionString(azurite.connectionString, 'benchEvidence', { allowInsecureConnection: true }));
    const service = new AuditIngestionService({ reader: new StorageAuditBlobReader(container), store, reactions, log: silent, context: { grants: async () => grants, standing: [], hsm: 'contoso-hsm', serviceObjectId: 'none' } });
    const start = performance.now();
    const outcome = await service.ingest(blob);
    const rate = outcome.records / ((performance.now() - start) / 1000);

    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      const appended = performance.now();
      await writer.append([sign(new Date(), RECORDS + i)], now);
      await service.ingest(blob);
      const uses = await store.uses('bench');
      if (uses.length !== RECORDS + i + 1) throw new Error(`expected ${RECORDS + i + 1} uses, found ${uses.length}`);
      lags.push(performance.now() - appended);
    }
    lags.sort((a, b) => a - b);
    console.log(`records ingested:            ${outcome.records}`);
    console.log(`floor (download + parse):    ${floorRate.toFixed(0)} records/s`);
    console.log(`ingestion (read, parse, store, checkpoint): ${rate.toFixed(0)} records/s = ${(rate / floorRate).toFixed(3)} x floor`);
    console.log(`lag, record appended -> use readable (event delivery not included): median ${lags[5].toFixed(0)} ms, max ${lags[9].toFixed(0)} ms`);
  } finally {
    await azurite.close();
  }
  await endToEnd();
}

/** Key operation to evidence on the local stack, 10 signatures under one grant. */
async function endToEnd(): Promise<void> {
  const stack = await startTestStack({ auditLog: true });
  try {
    const asked = await stack.api('/api/requests', { persona: 'dave', method: 'POST', body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: PERSONAS['app-vm'].oid, duration: 'PT1H', justification: 'bench' } });
    const { id } = (await asked.json()) as { id: string };
    await stack.api(`/api/requests/${id}/decisions`, { persona: 'sam', method: 'POST', body: { decision: 'approve' } });
    const signatures = async (): Promise<number> => {
      const body = (await (await stack.api(`/api/requests/${id}`, { persona: 'dave' })).json()) as { status: string; usage?: { operations: Array<{ operation: string; count: number }> } };
      return body.usage?.operations.find((o) => o.operation === 'KeySign')?.count ?? (body.status === 'Active' ? 0 : -1);
    };
    while ((await signatures()) < 0) await new Promise((done) => setTimeout(done, 100));
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      await actAsWorkload({ persona: 'app-vm', operation: 'sign', key: 'release-signing-key', text: `bench ${i}`, dataDir: stack.stack.dataDir });
      const signed = performance.now();
      while ((await signatures()) < i + 1) await new Promise((done) => setTimeout(done, 20));
      lags.push(performance.now() - signed);
    }
    lags.sort((a, b) => a - b);
    console.log(`lag, signature -> its use in GET /api/requests/{id} (local stack, events included): median ${lags[5].toFixed(0)} ms, max ${lags[9].toFixed(0)} ms`);
  } finally {
    await stack.close();
  }
}

void main();
