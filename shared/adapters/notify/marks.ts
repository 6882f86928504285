import type { TableClient } from '@azure/data-tables';
import type { NotificationMarks } from '../../services/notificationPorts';
import { onceSucceeded } from '../storage/setup';

const PARTITION = 'mark';

/** One row per timer notification sent: inserting it claims the send, a 409 means it was sent already. */
export class TableNotificationMarks implements NotificationMarks {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly table: TableClient) {
    this.ensureTable = onceSucceeded(() => table.createTable());
  }


  async claim(key: string): Promise<boolean> {
    await this.ensureTable();
    // RowKey may not hold / \ # ? or control characters.
    const rowKey = [...key].map((ch) => (/[/\\#?]/.test(ch) || ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f) ? '_' : ch)).join('');
    try {
      await this.table.createEntity({ partitionKey: PARTITION, rowKey, claimedAt: new Date().toISOString() });
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 409) return false;
      throw error;
    }
  }
}
