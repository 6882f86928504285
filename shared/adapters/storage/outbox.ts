import { odata, type TableClient } from '@azure/data-tables';
import type { OutboundEvent } from '../../domain';
import type { OutboxEntry, OutboxStore } from '../../services/outboxPorts';
import { LEDGER_PARTITION, OUTBOX_END, OUTBOX_PREFIX } from './ledger';
import { ensureTable, isContended, statusOf } from './setup';

/**
 * The outbox rows the ledger writes with each change (same partition), and the lease row that lets
 * one instance drain them at a time. See docs/adr/0008-transactional-outbox.md.
 */
const LEASE_ROW = 'outbox-lease';
/** Events the topic refused: `outbox-dead|{the outbox row's key}`, kept for an operator. */
export const DEAD_LETTER_PREFIX = 'outbox-dead|';

interface LeaseEntity {
  partitionKey: string;
  rowKey: string;
  holder: string;
  /** ISO 8601: the lease lapses then. */
  until: string;
}

export class TableOutbox implements OutboxStore {
  /** The lease row's ETag as this instance last wrote it: the next take or release tries it first (one call, not two). */
  private leaseEtag: string | undefined;

  /** `partitionKey`: the ledger partition whose outbox rows this drains (each has its own lease row). */
  constructor(private readonly table: TableClient, private readonly partitionKey: string = LEDGER_PARTITION) {}

  private ensureTable(): Promise<void> {
    return ensureTable(this.table);
  }

  async oldest(limit: number): Promise<OutboxEntry[]> {
    await this.ensureTable();
    const filter = odata`PartitionKey eq ${this.partitionKey} and RowKey ge ${OUTBOX_PREFIX} and RowKey lt ${OUTBOX_END}`;
    const pages = this.table.listEntities<{ data: string }>({ queryOptions: { filter } }).byPage({ maxPageSize: limit });
    const entries: OutboxEntry[] = [];
    // Table Storage returns a partition's rows in RowKey order, which is commit order here.
    for await (const page of pages) {
      for (const entity of page) {
        if (entries.length >= limit) return entries;
        entries.push({ key: entity.rowKey as string, etag: entity.etag, event: JSON.parse(entity.data) as OutboundEvent });
      }
      if (entries.length >= limit) break;
    }
    return entries;
  }

  async deadLetter(entry: OutboxEntry, reason: string): Promise<void> {
    const dead = { partitionKey: this.partitionKey, rowKey: `${DEAD_LETTER_PREFIX}${entry.key}`, eventId: entry.event.id, reason: reason.slice(0, 4000), at: new Date().toISOString(), data: JSON.stringify(entry.event) };
    await this.table.submitTransaction([['upsert', dead, 'Replace'], ['delete', { partitionKey: this.partitionKey, rowKey: entry.key }]]).catch((error: unknown) => {
      // Another drainer moved or published it meanwhile.
      if (statusOf(error) !== 404) throw error;
    });
  }

  async remove(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      // Outbox rows are never updated, so the transaction's unconditional deletes remove exactly what was read.
      await this.table.submitTransaction(entries.map((entry) => ['delete', { partitionKey: this.partitionKey, rowKey: entry.key }]));
    } catch (error) {
      // One row already deleted (by a drainer whose lease lapsed) fails the whole batch: delete one by one.
      if (statusOf(error) !== 404) throw error;
      for (const entry of entries) {
        await this.table.deleteEntity(this.partitionKey, entry.key, { etag: entry.etag }).catch((failure: unknown) => {
          if (statusOf(failure) !== 404) throw failure;
        });
      }
    }
  }

  async lease(holder: string, until: Date, now: Date): Promise<boolean> {
    await this.ensureTable();
    const entity: LeaseEntity = { partitionKey: this.partitionKey, rowKey: LEASE_ROW, holder, until: until.toISOString() };
    // The row as this instance left it: nobody took it since, so it is ours to take again without reading it.
    if (this.leaseEtag && (await this.writeLease(entity, this.leaseEtag))) return true;
    let current: (LeaseEntity & { etag: string }) | undefined;
    try {
      current = await this.table.getEntity<LeaseEntity>(this.partitionKey, LEASE_ROW);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    if (current && current.holder !== holder && current.until > now.toISOString()) return false;
    return this.writeLease(entity, current?.etag);
  }

  /** Creates the lease row (no `etag`) or replaces it with If-Match; false when another instance wrote it first. */
  private async writeLease(entity: LeaseEntity, etag: string | undefined): Promise<boolean> {
    try {
      const written = etag ? await this.table.updateEntity(entity, 'Replace', { etag }) : await this.table.createEntity(entity);
      this.leaseEtag = written.etag;
      return true;
    } catch (error) {
      this.leaseEtag = undefined;
      // Another instance created or took the lease between our read and our write.
      if (isContended(error)) return false;
      throw error;
    }
  }

  async release(holder: string): Promise<void> {
    const released: LeaseEntity = { partitionKey: this.partitionKey, rowKey: LEASE_ROW, holder, until: new Date(0).toISOString() };
    // Only the row as this instance last wrote it: one another instance took since stays theirs (412).
    if (this.leaseEtag) await this.writeLease(released, this.leaseEtag);
  }
}
