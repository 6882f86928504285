import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import { TableClient, TableServiceClient, type TableServiceClientOptions } from '@azure/data-tables';
import { QueueClient, QueueServiceClient, type StoragePipelineOptions } from '@azure/storage-queue';
import { isLoopbackHost, type StorageConfig } from '../config';

/**
 * The same client options for every storage client: plain http only towards a local emulator on this
 * machine, and the extra CA (STORAGE_CA_FILE) trusted when one is given. The queue and blob SDKs hand
 * their options to core-rest-pipeline's createClientPipeline, which honours `tlsOptions` as the
 * tables SDK does, though their option types do not list it.
 */
export function storageClientOptions(storage: Pick<StorageConfig, 'endpoints' | 'caPem'>): TableServiceClientOptions & StoragePipelineOptions & { tlsOptions?: TlsSettings } {
  const url = new URL(storage.endpoints.table);
  return {
    ...(url.protocol === 'http:' && isLoopbackHost(url.hostname) ? { allowInsecureConnection: true } : {}),
    ...(storage.caPem ? { tlsOptions: { ca: storage.caPem } } : {}),
  };
}

/**
 * A table of the account. `credential` is the connection's own identity (createStorageCredential);
 * a connection string signs with its key instead.
 */
export function createTableClient(storage: StorageConfig, tableName: string, credential: TokenCredential): TableClient {
  if (storage.kind === 'connectionString') return TableClient.fromConnectionString(storage.connectionString, tableName, storageClientOptions(storage));
  return new TableClient(storage.endpoints.table, tableName, credential, storageClientOptions(storage));
}

/** The account's queue beside its tables (revocations, run continuations). */
export function createQueueClient(storage: StorageConfig, queueName: string, credential: TokenCredential): QueueClient {
  if (storage.kind === 'connectionString') return QueueServiceClient.fromConnectionString(storage.connectionString, storageClientOptions(storage)).getQueueClient(queueName);
  return new QueueClient(`${storage.endpoints.queue}/${queueName}`, credential, storageClientOptions(storage));
}

export function createTableServiceClient(storage: StorageConfig, credential: TokenCredential): TableServiceClient {
  if (storage.kind === 'connectionString') return TableServiceClient.fromConnectionString(storage.connectionString, storageClientOptions(storage));
  return new TableServiceClient(storage.endpoints.table, credential, storageClientOptions(storage));
}

/** The cheapest authenticated call the table service answers: the first (one-item) page of tables. */
export async function pingStorage(storage: StorageConfig, credential: TokenCredential, abortSignal?: AbortSignal): Promise<void> {
  const pages = createTableServiceClient(storage, credential).listTables({ abortSignal }).byPage({ maxPageSize: 1 });
  await pages.next();
}
