import type { TokenCredential } from '@azure/core-auth';
import { TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { isLoopbackHost, type StorageConfig } from '../config';

/** Plain http is only ever allowed towards a local emulator on this machine. */
function clientOptions(storage: StorageConfig): TableServiceClientOptions {
  const url = new URL(storage.tableEndpoint);
  return url.protocol === 'http:' && isLoopbackHost(url.hostname) ? { allowInsecureConnection: true } : {};
}

export function createTableClient(storage: StorageConfig, tableName: string, credential: TokenCredential): TableClient {
  if (storage.kind === 'connectionString') return TableClient.fromConnectionString(storage.connectionString, tableName, clientOptions(storage));
  return new TableClient(storage.tableEndpoint, tableName, credential, clientOptions(storage));
}

/** The account's queue beside its tables (revocations, run continuations). */
export function createQueueClient(storage: StorageConfig, queueName: string, credential: TokenCredential): QueueClient {
  if (storage.kind === 'connectionString') return QueueServiceClient.fromConnectionString(storage.connectionString).getQueueClient(queueName);
  return new QueueClient(`${storage.tableEndpoint.replace('.table.', '.queue.')}/${queueName}`, credential);
}

export function createTableServiceClient(storage: StorageConfig, credential: TokenCredential): TableServiceClient {
  if (storage.kind === 'connectionString') return TableServiceClient.fromConnectionString(storage.connectionString, clientOptions(storage));
  return new TableServiceClient(storage.tableEndpoint, credential, clientOptions(storage));
}

/** The cheapest authenticated call the table service answers: the first (one-item) page of tables. */
export async function pingStorage(storage: StorageConfig, credential: TokenCredential, abortSignal?: AbortSignal): Promise<void> {
  const pages = createTableServiceClient(storage, credential).listTables({ abortSignal }).byPage({ maxPageSize: 1 });
  await pages.next();
}
