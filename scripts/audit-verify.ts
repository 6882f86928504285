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

export function connectionString(): string {
  const flag = process.argv.indexOf('--connection-string');
  if (flag >= 0 && process.argv[flag + 1]) return process.argv[flag + 1];
  if (process.env.AzureWebJobsStorage) return process.env.AzureWebJobsStorage;
  const endpoints = join(__dirname, '..', '.data', 'endpoints.json');
  if (existsSync(endpoints)) return (JSON.parse(readFileSync(endpoints, 'utf8')) as { storageConnectionString: string }).storageConnectionString;
  throw new Error('No storage: start the stack (npm start), set AzureWebJobsStorage or pass --connection-string');
}

export function connectedTable(): TableClient {
  const cs = connectionString();
  return TableClient.fromConnectionString(cs, LEDGER_TABLE, { allowInsecureConnection: /127\.0\.0\.1|localhost/.test(cs) });
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
