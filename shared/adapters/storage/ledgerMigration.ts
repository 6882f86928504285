import { odata, type TableClient } from '@azure/data-tables';
import type { ChainedAuditRecord } from '../../domain';
import { LEDGER_PARTITION } from './ledger';
import { grantPartitionOf, partitionOf, partitionOfHash, PartitionedLedger } from './partitionedLedger';
import { ensureTable, statusOf } from './setup';

/**
 * Moves a ledger stored in the one-partition layout (ADR 0005) to the partitioned one (ADR 0017).
 * Requests and their index rows are copied to their grantee's partition with create (a copy already
 * made, or a request changed since, is never overwritten), then removed from the old partition. The
 * old audit chain stays where it is, frozen and verified as before, and the first anchor records its
 * head. Running it again after a crash finishes what is left. Run it with the app stopped.
 */
export interface MigrationReport {
  readonly requests: number;
  readonly indexRows: number;
  readonly anchored?: ChainedAuditRecord;
}

type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

async function createUnlessThere(table: TableClient, row: Row): Promise<void> {
  try {
    await table.createEntity(row);
  } catch (error) {
    if (statusOf(error) !== 409) throw error;
  }
}

async function rowsWith(table: TableClient, prefix: string): Promise<Row[]> {
  const filter = odata`PartitionKey eq ${LEDGER_PARTITION} and RowKey ge ${prefix} and RowKey lt ${`${prefix.slice(0, -1)}}`}`;
  const rows: Row[] = [];
  for await (const entity of table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
    const { etag: _etag, timestamp: _timestamp, ...row } = entity;
    rows.push(row as Row);
  }
  return rows;
}

const bare = (row: Row): Record<string, unknown> => {
  const { partitionKey: _p, rowKey: _r, ...rest } = row;
  return rest;
};

export async function migrateLedger(table: TableClient, now: Date): Promise<MigrationReport> {
  await ensureTable(table);
  const requests = await rowsWith(table, 'request|');
  const partitionOfRequest = new Map<string, string>();
  for (const row of requests) {
    const id = row.rowKey.slice('request|'.length);
    const target = grantPartitionOf(row.principalId as string);
    partitionOfRequest.set(id, target);
    await createUnlessThere(table, { partitionKey: partitionOf(id), rowKey: `locate|${id}`, target, at: now.toISOString() });
    await createUnlessThere(table, { ...bare(row), partitionKey: target, rowKey: row.rowKey });
  }
  const indexRows = [...(await rowsWith(table, 'submission|')), ...(await rowsWith(table, 'open|'))];
  for (const row of indexRows) {
    const target = partitionOfRequest.get(row.requestId as string);
    if (!target) continue; // Its request was never stored (or is gone): nothing to point at.
    await createUnlessThere(table, { ...bare(row), partitionKey: target, rowKey: row.rowKey });
    if (row.rowKey.startsWith('submission|')) {
      const hash = row.rowKey.slice('submission|'.length);
      await createUnlessThere(table, { partitionKey: partitionOfHash(hash), rowKey: `submitted|${hash}`, target, at: now.toISOString() });
    }
  }
  const marks = await rowsWith(table, 'once|');
  for (const row of marks) {
    await createUnlessThere(table, { ...bare(row), partitionKey: partitionOf(`once\n${decodeURIComponent(row.rowKey.slice('once|'.length))}`), rowKey: row.rowKey });
  }
  for (const row of [...requests, ...indexRows, ...marks]) {
    await table.deleteEntity(LEDGER_PARTITION, row.rowKey).catch((error: unknown) => {
      if (statusOf(error) !== 404) throw error;
    });
  }
  const anchored = await new PartitionedLedger(table).anchor(now.toISOString());
  return { requests: requests.length, indexRows: indexRows.length, ...(anchored ? { anchored } : {}) };
}
