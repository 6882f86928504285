import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { DriftItem, ObservedAssignment, RequestPlane } from '../../domain';
import type { KeyInfo, ReconcileRun, ReconcileStorePort, StoredRun } from '../../services/reconciliationPorts';
import { ensureTable, isContended, rowKeyOf, statusOf } from './setup';

/**
 * Layout of the `reconcile` table: `runs/{id}` one row per run (checkpoint, then report);
 * `locks/{hsm}` the run that holds an HSM; `latest/{hsm}` the last completed run; and per run the
 * partitions `{id}|keys` (a row per key), `{id}|inventory` (a row per scope) and `{id}|items`
 * (ITEMS_PER_ROW items a row), written in batches.
 */
const RUNS = 'runs';
const LOCKS = 'locks';
const LATEST = 'latest';
const BATCH = 100;
/** Characters per batch, well inside a batch's 4 MiB (UTF-16 strings, JSON framing). */
const BATCH_CHARS = 1_500_000;
/**
 * Drift items per row: a 5,000-key HSM can show 50,000 items, and a row each made storing them
 * take longer than listing the HSM. About 200 × 500 characters stays well inside an entity's 1 MiB.
 */
const ITEMS_PER_ROW = 200;
/** Table Storage strings hold 32K UTF-16 characters: longer JSON is split over `data0`, `data1`... */
const CHUNK = 30_000;

type Chunked = Record<string, unknown>;

function chunked(value: unknown): Chunked {
  const text = JSON.stringify(value);
  const out: Chunked = { chunks: Math.max(1, Math.ceil(text.length / CHUNK)) };
  for (let i = 0; i * CHUNK < text.length || i === 0; i++) out[`data${i}`] = text.slice(i * CHUNK, (i + 1) * CHUNK);
  return out;
}

function unchunked<T>(entity: Record<string, unknown>): T {
  const count = Number(entity.chunks ?? 1);
  let text = '';
  for (let i = 0; i < count; i++) text += String(entity[`data${i}`] ?? '');
  return JSON.parse(text) as T;
}

export class TableReconcileStore implements ReconcileStorePort {
  constructor(private readonly table: TableClient, private readonly now: () => Date = () => new Date()) {}

  private ensureTable(): Promise<void> {
    return ensureTable(this.table);
  }

  private async entity(partitionKey: string, rowKey: string): Promise<TableEntityResult<Record<string, unknown>> | undefined> {
    await this.ensureTable();
    try {
      return await this.table.getEntity<Record<string, unknown>>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async createRun(run: ReconcileRun, lockForMs: number): Promise<{ created: true } | { created: false; runningRunId: string }> {
    const lock = await this.entity(LOCKS, rowKeyOf(run.hsm));
    const now = this.now().getTime();
    if (lock && String(lock.runId) !== run.id && Number(lock.until) > now) {
      return { created: false, runningRunId: String(lock.runId) };
    }
    const row = { partitionKey: LOCKS, rowKey: rowKeyOf(run.hsm), runId: run.id, until: now + lockForMs };
    try {
      if (lock) await this.table.updateEntity(row, 'Replace', { etag: lock.etag });
      else await this.table.createEntity(row);
    } catch (error) {
      // Another run took the lock between our read and our write.
      if (isContended(error)) {
        const winner = await this.entity(LOCKS, rowKeyOf(run.hsm));
        return { created: false, runningRunId: String(winner?.runId ?? 'unknown') };
      }
      throw error;
    }
    await this.table.upsertEntity({ partitionKey: RUNS, rowKey: rowKeyOf(run.id), hsm: run.hsm, status: run.status, ...chunked(run) }, 'Replace');
    return { created: true };
  }

  async getRun(id: string): Promise<StoredRun | undefined> {
    const entity = await this.entity(RUNS, rowKeyOf(id));
    return entity ? { run: unchunked<ReconcileRun>(entity), etag: entity.etag } : undefined;
  }

  async updateRun(run: ReconcileRun, etag: string): Promise<{ etag: string } | 'conflict'> {
    await this.ensureTable();
    try {
      const result = await this.table.updateEntity({ partitionKey: RUNS, rowKey: rowKeyOf(run.id), hsm: run.hsm, status: run.status, ...chunked(run) }, 'Replace', { etag });
      return { etag: result.etag ?? '' };
    } catch (error) {
      if (statusOf(error) === 412) return 'conflict';
      throw error;
    }
  }

  async holdLock(hsm: string, runId: string, forMs: number): Promise<void> {
    const lock = await this.entity(LOCKS, rowKeyOf(hsm));
    if (lock && String(lock.runId) !== runId) return;
    await this.table.upsertEntity({ partitionKey: LOCKS, rowKey: rowKeyOf(hsm), runId, until: this.now().getTime() + forMs }, 'Replace');
  }

  async releaseLock(hsm: string, runId: string): Promise<void> {
    const lock = await this.entity(LOCKS, rowKeyOf(hsm));
    if (!lock || String(lock.runId) !== runId) return;
    try {
      await this.table.deleteEntity(LOCKS, rowKeyOf(hsm), { etag: lock.etag });
    } catch (error) {
      if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
    }
  }

  private async writeRows(partitionKey: string, rows: ReadonlyArray<{ rowKey: string; value: unknown }>): Promise<void> {
    await this.ensureTable();
    let actions: TransactionAction[] = [];
    let size = 0;
    for (const row of rows) {
      const entity = { partitionKey, rowKey: row.rowKey, ...chunked(row.value) };
      const length = Object.values(entity).reduce<number>((sum, value) => sum + String(value).length, 0);
      // A batch holds at most 100 entities and 4 MiB.
      if (actions.length === BATCH || (actions.length > 0 && size + length > BATCH_CHARS)) {
        await this.table.submitTransaction(actions);
        actions = [];
        size = 0;
      }
      actions.push(['upsert', entity, 'Replace']);
      size += length;
    }
    if (actions.length > 0) await this.table.submitTransaction(actions);
  }

  private async readRows<T>(partitionKey: string): Promise<T[]> {
    await this.ensureTable();
    const out: Array<{ rowKey: string; value: T }> = [];
    const filter = odata`PartitionKey eq ${partitionKey}`;
    for await (const entity of this.table.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
      out.push({ rowKey: String(entity.rowKey), value: unchunked<T>(entity) });
    }
    return out.sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0)).map((row) => row.value);
  }

  saveKeys(runId: string, keys: readonly KeyInfo[]): Promise<void> {
    return this.writeRows(`${runId}|keys`, keys.map((key) => ({ rowKey: rowKeyOf(key.name), value: key })));
  }

  loadKeys(runId: string): Promise<KeyInfo[]> {
    return this.readRows<KeyInfo>(`${runId}|keys`);
  }

  saveInventory(runId: string, byScope: ReadonlyArray<{ scope: string; assignments: readonly ObservedAssignment[] }>): Promise<void> {
    return this.writeRows(`${runId}|inventory`, byScope.map((entry) => ({ rowKey: rowKeyOf(entry.scope), value: entry.assignments })));
  }

  async loadInventory(runId: string): Promise<ObservedAssignment[]> {
    return (await this.readRows<ObservedAssignment[]>(`${runId}|inventory`)).flat();
  }

  saveItems(runId: string, items: readonly DriftItem[], plane?: RequestPlane): Promise<void> {
    const rows: Array<{ rowKey: string; value: DriftItem[] }> = [];
    // Another plane's rows sort after the HSM's digits-only keys.
    const prefix = plane ? `${plane}|` : '';
    for (let i = 0; i < items.length; i += ITEMS_PER_ROW) rows.push({ rowKey: prefix + String(i / ITEMS_PER_ROW).padStart(6, '0'), value: items.slice(i, i + ITEMS_PER_ROW) });
    return this.writeRows(`${runId}|items`, rows);
  }

  async loadItems(runId: string): Promise<DriftItem[]> {
    // Rows hold ITEMS_PER_ROW items; older runs stored one item per row.
    return (await this.readRows<DriftItem[] | DriftItem>(`${runId}|items`)).flatMap((row) => (Array.isArray(row) ? row : [row]));
  }

  async setLatest(hsm: string, run: { id: string; startedAt: string }): Promise<void> {
    const row = { partitionKey: LATEST, rowKey: rowKeyOf(hsm), runId: run.id, startedAt: run.startedAt };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.entity(LATEST, rowKeyOf(hsm));
      // A late close of an older run must not move the pointer back.
      if (current && String(current.runId) !== run.id && String(current.startedAt ?? '') > run.startedAt) return;
      try {
        if (current) await this.table.updateEntity(row, 'Replace', { etag: current.etag });
        else await this.table.createEntity(row);
        return;
      } catch (error) {
        if (!isContended(error)) throw error;
      }
    }
    throw new Error(`Could not move the latest run of ${hsm}: it kept changing`);
  }

  async latest(hsm: string): Promise<string | undefined> {
    const entity = await this.entity(LATEST, rowKeyOf(hsm));
    return entity ? String(entity.runId) : undefined;
  }
}
