/**
 * npm run ledger:migrate [-- --connection-string CS]
 * Moves a ledger stored in one partition (ADR 0005) to the partitioned layout (ADR 0017), then
 * verifies the whole trail. Safe to run again; run it with the app stopped. Storage as for audit:verify.
 */
import { migrateLedger } from '../shared/adapters/storage/ledgerMigration';
import { PartitionedLedger } from '../shared/adapters/storage/partitionedLedger';
import { verifyPartitionedAudit } from '../shared/domain';
import { connectedTable } from './audit-verify';

async function main(): Promise<number> {
  const table = connectedTable();
  const report = await migrateLedger(table, new Date());
  console.log(`Moved ${report.requests} request(s) and ${report.indexRows} index row(s); ${report.anchored ? `anchor ${report.anchored.seq} recorded the chain heads` : 'no chain head to anchor'}`);
  const result = verifyPartitionedAudit(await new PartitionedLedger(table).auditTrail());
  if (!result.ok) {
    console.error(`After the migration the audit chain is BROKEN in ${result.chain} at record ${result.brokenAtSeq}: ${result.reason}`);
    return 1;
  }
  console.log(`Audit trail intact: ${result.records} records in ${result.chains} chain(s), ${result.anchors} anchor(s)`);
  return 0;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error((error as Error).message);
  process.exit(2);
});
