import { createHash } from 'node:crypto';
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import type { UseRecord } from '../../domain';
import type { BlobCheckpoint, EvidenceRow, EvidenceStore } from '../../services/auditIngestion';
import { ensureTable, isContended, rowKeyOf, statusOf } from './setup';

/**
 * Layout of the `evidence` table: `checkpoints/{blob}` the byte offset read up to; `use|{grantId}`
 * one row per use under a grant (a use under two grants counts for each); `refused|{principal}|{key}`;
 * `outside-any-grant` and `assignment-change`. A finding's row key is its blob's hash and its line's
 * offset, so storing the same line again replaces its row instead of adding one.
 */
const CHECKPOINTS = 'checkpoints';
const BATCH = 100;

const findingKey = (row: EvidenceRow): string => `${createHash('sha256').update(row.blob).digest('hex').slice(0, 32)}|${String(row.offset).padStart(15, '0')}`;

function partitionsOf(row: EvidenceRow): string[] {
  if (row.type === 'use') return (row.grantIds ?? []).map((id) => `use|${id}`);
  if (row.type === 'refused') return [`refused|${rowKeyOf(row.principalId)}|${rowKeyOf(row.key ?? '')}`];
  return [row.type];
}

function toEntity(partitionKey: string, row: EvidenceRow): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  const { grantIds, ...rest } = row;
  return { partitionKey, rowKey: findingKey(row), ...rest, grantIds: JSON.stringify(grantIds ?? []) };
}

function fromEntity(entity: Record<string, unknown>): EvidenceRow {
  const grantIds = JSON.parse(String(entity.grantIds ?? '[]')) as string[];
  const optional = (name: string): Record<string, string> => (typeof entity[name] === 'string' && entity[name] !== '' ? { [name]: entity[name] as string } : {});
  return {
    blob: String(entity.blob), offset: Number(entity.offset), type: entity.type as EvidenceRow['type'], time: String(entity.time), principalId: String(entity.principalId),
    operation: String(entity.operation), status: Number(entity.status), correlationId: String(entity.correlationId ?? ''), ...optional('key'), ...optional('scope'),
    ...(grantIds.length > 0 ? { grantIds } : {}),
  };
}

export class TableEvidenceStore implements EvidenceStore {
  constructor(private readonly table: TableClient) {}

  async checkpoint(blob: string): Promise<BlobCheckpoint> {
    await ensureTable(this.table);
    try {
      const entity = await this.table.getEntity<{ offset: number }>(CHECKPOINTS, rowKeyOf(blob));
      return { offset: Number(entity.offset), ...(entity.etag ? { etag: entity.etag } : {}) };
    } catch (error) {
      if (statusOf(error) === 404) return { offset: 0 };
      throw error;
    }
  }

  async save(rows: readonly EvidenceRow[]): Promise<void> {
    await ensureTable(this.table);
    const byPartition = new Map<string, TransactionAction[]>();
    for (const row of rows) {
      for (const partition of partitionsOf(row)) {
        const actions = byPartition.get(partition) ?? [];
        actions.push(['upsert', toEntity(partition, row), 'Replace']);
        byPartition.set(partition, actions);
      }
    }
    await Promise.all([...byPartition.values()].map(async (actions) => {
      for (let i = 0; i < actions.length; i += BATCH) await this.table.submitTransaction(actions.slice(i, i + BATCH));
    }));
  }

  async advance(blob: string, offset: number, expected: BlobCheckpoint): Promise<boolean> {
    await ensureTable(this.table);
    const entity = { partitionKey: CHECKPOINTS, rowKey: rowKeyOf(blob), blob, offset };
    try {
      if (expected.etag) await this.table.updateEntity(entity, 'Replace', { etag: expected.etag });
      else await this.table.createEntity(entity);
      return true;
    } catch (error) {
      if (isContended(error)) return false;
      throw error;
    }
  }

  private async list(filter: string): Promise<EvidenceRow[]> {
    await ensureTable(this.table);
    const rows: EvidenceRow[] = [];
    for await (const entity of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) rows.push(fromEntity(entity));
    return rows;
  }

  async uses(grantId?: string): Promise<UseRecord[]> {
    const filter = grantId ? odata`PartitionKey eq ${`use|${grantId}`}` : odata`PartitionKey ge 'use|' and PartitionKey lt 'use}'`;
    await ensureTable(this.table);
    const uses: UseRecord[] = [];
    for await (const entity of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter, select: ['PartitionKey', 'operation', 'key', 'time'] } })) {
      uses.push({ grantId: String(entity.partitionKey).slice('use|'.length), operation: String(entity.operation), key: String(entity.key ?? ''), time: String(entity.time) });
    }
    return uses;
  }

  async refusalCount(principalId: string, key: string): Promise<number> {
    return (await this.list(odata`PartitionKey eq ${`refused|${rowKeyOf(principalId)}|${rowKeyOf(key)}`}`)).length;
  }

  async rows(type: EvidenceRow['type']): Promise<EvidenceRow[]> {
    if (type === 'use') return this.list(odata`PartitionKey ge 'use|' and PartitionKey lt 'use}'`);
    if (type === 'refused') return this.list(odata`PartitionKey ge 'refused|' and PartitionKey lt 'refused}'`);
    return this.list(odata`PartitionKey eq ${type}`);
  }
}
