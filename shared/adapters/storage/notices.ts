import { odata, type TableClient } from '@azure/data-tables';
import { withExtensionTotals, type AccessRequest, type NotificationIntent } from '../../domain';
import type { NoticeEntry, NoticeStore } from '../../services/ports';
import { NOTICE_END, NOTICE_PREFIX } from './partitionedLedger';
import { ensureTable, statusOf } from './setup';

/**
 * The notice rows the partitioned ledger writes with each change that owes notifications (one
 * partition's): read in commit order, deleted once sent. See docs/ledger.md.
 */
export class TableNotices implements NoticeStore {
  constructor(private readonly table: TableClient, private readonly partitionKey: string) {}

  async waiting(limit: number): Promise<NoticeEntry[]> {
    await ensureTable(this.table);
    const filter = odata`PartitionKey eq ${this.partitionKey} and RowKey ge ${NOTICE_PREFIX} and RowKey lt ${NOTICE_END}`;
    const entries: NoticeEntry[] = [];
    for await (const page of this.table.listEntities<{ intent: string; request: string }>({ queryOptions: { filter } }).byPage({ maxPageSize: limit })) {
      for (const entity of page) {
        entries.push({ key: entity.rowKey as string, intent: JSON.parse(entity.intent) as NotificationIntent, request: withExtensionTotals(JSON.parse(entity.request) as AccessRequest) });
        if (entries.length >= limit) return entries;
      }
    }
    return entries;
  }

  async remove(entry: NoticeEntry): Promise<void> {
    await this.table.deleteEntity(this.partitionKey, entry.key).catch((error: unknown) => {
      if (statusOf(error) !== 404) throw error;
    });
  }
}
