import type { TableClient } from '@azure/data-tables';
import type { DriftAlertState } from '../../domain';
import type { DriftAlertStore, NotificationMarks } from '../../services/notificationPorts';
import { ensureTable, statusOf } from '../storage/setup';

const PARTITION = 'mark';

interface MarkEntity {
  partitionKey: string;
  rowKey: string;
  claimedAt: string;
  /** Set once the message went out; a claim without it may be taken over when it is old enough. */
  sentAt?: string;
}

/** RowKey may not hold / \ # ? or control characters. */
const rowKeyOf = (key: string): string => [...key].map((ch) => (/[/\\#?]/.test(ch) || ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f) ? '_' : ch)).join('');

/**
 * One row per notification that must go out once (timer messages, a run's drift message): inserting
 * it claims the send, and `sentAt` confirms it. A claim left unconfirmed by a sender that died is
 * taken over by a later caller, so the message is sent at least once.
 */
export class TableNotificationMarks implements NotificationMarks {
  constructor(private readonly table: TableClient) {}

  private ensureTable(): Promise<void> {
    return ensureTable(this.table);
  }

  async claim(key: string, reclaimAfterMs?: number): Promise<boolean> {
    await this.ensureTable();
    const rowKey = rowKeyOf(key);
    // A caller that may take a dead claim over (the timer, every minute) mostly finds the mark
    // confirmed: one read answers that, where an insert would fail and still need the read.
    const mark = reclaimAfterMs === undefined ? undefined : await this.read(rowKey);
    if (!mark) return this.insert(rowKey);
    if (mark.sentAt || Date.parse(mark.claimedAt) > Date.now() - reclaimAfterMs!) return false;
    try {
      // If-Match: of two callers reclaiming the same dead claim, one wins.
      await this.table.updateEntity<MarkEntity>({ partitionKey: PARTITION, rowKey, claimedAt: new Date().toISOString() }, 'Replace', { etag: mark.etag });
      return true;
    } catch (error) {
      if (statusOf(error) === 412) return false;
      throw error;
    }
  }

  private async insert(rowKey: string): Promise<boolean> {
    try {
      await this.table.createEntity<MarkEntity>({ partitionKey: PARTITION, rowKey, claimedAt: new Date().toISOString() });
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }

  private async read(rowKey: string): Promise<(MarkEntity & { etag: string }) | undefined> {
    try {
      return await this.table.getEntity<MarkEntity>(PARTITION, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async isSent(key: string): Promise<boolean> {
    await this.ensureTable();
    return (await this.read(rowKeyOf(key)))?.sentAt !== undefined;
  }

  async confirm(key: string): Promise<void> {
    await this.ensureTable();
    await this.table.updateEntity<Partial<MarkEntity> & { partitionKey: string; rowKey: string }>({ partitionKey: PARTITION, rowKey: rowKeyOf(key), sentAt: new Date().toISOString() }, 'Merge');
  }
}

const DRIFT_PARTITION = 'drift-alert';

/** One row per HSM in the marks table: what its security team was last told about drift. Writes are conditional (If-Match, or insert). */
export class TableDriftAlerts implements DriftAlertStore {
  constructor(private readonly table: TableClient) {}

  async read(hsm: string): Promise<{ state: DriftAlertState; etag: string } | undefined> {
    await ensureTable(this.table);
    try {
      const entity = await this.table.getEntity<{ state: string }>(DRIFT_PARTITION, rowKeyOf(hsm.toLowerCase()));
      return { state: JSON.parse(entity.state) as DriftAlertState, etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async write(hsm: string, state: DriftAlertState, etag: string | undefined): Promise<boolean> {
    await ensureTable(this.table);
    const entity = { partitionKey: DRIFT_PARTITION, rowKey: rowKeyOf(hsm.toLowerCase()), state: JSON.stringify(state) };
    try {
      if (etag === undefined) await this.table.createEntity(entity);
      else await this.table.updateEntity(entity, 'Replace', { etag });
      return true;
    } catch (error) {
      if (statusOf(error) === 409 || statusOf(error) === 412) return false;
      throw error;
    }
  }
}
