/**
 * npm run audit:verify [-- --connection-string CS]
 * Re-computes the audit trail's hash chain from the first record to the head. Uses the storage of a
 * running `npm start` (.data/endpoints.json) unless a connection string is given or set in
 * AzureWebJobsStorage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { TableLedger } from '../shared/adapters/storage/ledger';
import { LEDGER_TABLE } from '../shared/app';
import { verifyAuditChain } from '../shared/domain';

function connectionString(): string {
  const flag = process.argv.indexOf('--connection-string');
  if (flag >= 0 && process.argv[flag + 1]) return process.argv[flag + 1];
  if (process.env.AzureWebJobsStorage) return process.env.AzureWebJobsStorage;
  const endpoints = join(__dirname, '..', '.data', 'endpoints.json');
  if (existsSync(endpoints)) return (JSON.parse(readFileSync(endpoints, 'utf8')) as { storageConnectionString: string }).storageConnectionString;
  throw new Error('No storage: start the stack (npm start), set AzureWebJobsStorage or pass --connection-string');
}

async function main(): Promise<number> {
  const cs = connectionString();
  const ledger = new TableLedger(TableClient.fromConnectionString(cs, LEDGER_TABLE, { allowInsecureConnection: /127\.0\.0\.1|localhost/.test(cs) }));
  const records = await ledger.audit();
  const result = verifyAuditChain(records);
  const head = await ledger.auditHead();
  if (!result.ok) {
    console.error(`Audit chain BROKEN at record ${result.brokenAtSeq}: ${result.reason}`);
    return 1;
  }
  if ((head?.hash ?? '') !== (records[records.length - 1]?.hash ?? '')) {
    console.error(`Audit chain BROKEN: it ends at record ${records.length} but its head is at ${head?.seq ?? 0} (records were removed from the end)`);
    return 1;
  }
  console.log(`Audit chain intact: ${result.count} records, last hash ${result.lastHash}`);
  return 0;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error((error as Error).message);
  process.exit(2);
});
