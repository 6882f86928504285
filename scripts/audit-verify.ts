/**
 * npm run audit:verify [-- --connection-string CS]
 * Re-computes every audit chain from its first record to its head (each ledger partition's, the one
 * frozen from the one-partition layout, and the anchor chain), and checks that every head an anchor
 * recorded is still in its chain (docs/adr/0017-partitioned-ledger-with-anchored-chains.md). Uses the
 * storage of a running `npm start` (.data/endpoints.json) unless a connection string is given or set
 * in AzureWebJobsStorage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { PartitionedLedger } from '../shared/adapters/storage/partitionedLedger';
import { LEDGER_TABLE } from '../shared/app';
import { verifyPartitionedAudit } from '../shared/domain';

/** The connection string, and the CA its endpoints' certificate comes from (the local stack's Azurite serves HTTPS from a private one). */
export function connectionString(): { connectionString: string; caFile?: string } {
  const caFile = process.env.STORAGE_CA_FILE?.trim() || undefined;
  const flag = process.argv.indexOf('--connection-string');
  if (flag >= 0 && process.argv[flag + 1]) return { connectionString: process.argv[flag + 1], ...(caFile ? { caFile } : {}) };
  if (process.env.AzureWebJobsStorage) return { connectionString: process.env.AzureWebJobsStorage, ...(caFile ? { caFile } : {}) };
  const endpoints = join(__dirname, '..', '.data', 'endpoints.json');
  if (existsSync(endpoints)) {
    const stack = JSON.parse(readFileSync(endpoints, 'utf8')) as { storageConnectionString: string; storageCaFile?: string };
    return { connectionString: stack.storageConnectionString, ...(stack.storageCaFile ? { caFile: stack.storageCaFile } : {}) };
  }
  throw new Error('No storage: start the stack (npm start), set AzureWebJobsStorage or pass --connection-string');
}

export function connectedTable(): TableClient {
  const { connectionString: cs, caFile } = connectionString();
  return TableClient.fromConnectionString(cs, LEDGER_TABLE, {
    allowInsecureConnection: /127\.0\.0\.1|localhost/.test(cs),
    ...(caFile ? { tlsOptions: { ca: readFileSync(caFile, 'utf8') } } : {}),
  });
}

async function main(): Promise<number> {
  const result = verifyPartitionedAudit(await new PartitionedLedger(connectedTable()).auditTrail());
  if (!result.ok) {
    console.error(`Audit chain BROKEN in ${result.chain} at record ${result.brokenAtSeq}: ${result.reason}`);
    return 1;
  }
  console.log(`Audit trail intact: ${result.records} records in ${result.chains} chain(s), ${result.anchors} anchor(s)`);
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (error: unknown) => {
    console.error((error as Error).message);
    process.exit(2);
  });
}
