import type { TableClient } from '@azure/data-tables';
import type { NotificationMarks } from '../../services/notificationPorts';

const PARTITION = 'mark';

/** One row per timer notification sent: inserting it claims the send, a 409 means it was sent already. */
export class TableNotificationMarks implements NotificationMarks {
  private ready: Promise<void> | undefined;

  constructor(private readonly table: TableClient) {}

  private ensureTable(): Promise<void> {
    this.ready ??= this.table.createTable().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
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
