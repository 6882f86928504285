import type { TokenCredential } from '@azure/core-auth';
import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';
import { AUDIT_LOG_CONTAINER } from '../../domain';
import type { AuditBlobReader } from '../../services/auditIngestion';
import type { AuditLogStorage, StorageConfig } from '../config';
import { statusOf } from './setup';
import { storageClientOptions } from './tables';

/** The diagnostic setting's container, in the account the logs go to (AUDIT_LOGS_STORAGE, else the app's own). */
export function auditLogContainer(storage: StorageConfig, credential: TokenCredential): ContainerClient {
  const options = storageClientOptions(storage);
  if (storage.kind === 'connectionString') return BlobServiceClient.fromConnectionString(storage.connectionString, options).getContainerClient(AUDIT_LOG_CONTAINER);
  if (!storage.endpoints.blob) throw new Error('AzureWebJobsStorage__blobServiceUri is not set (nor AzureWebJobsStorage__accountName): the audit logs are read from the blob service');
  const service = new BlobServiceClient(storage.endpoints.blob, credential, options);
  return service.getContainerClient(AUDIT_LOG_CONTAINER);
}

/** The diagnostic setting's container in the account AUDIT_LOGS_STORAGE names. */
export function auditLogContainerOf(storage: AuditLogStorage, credential: TokenCredential): ContainerClient {
  // core-rest-pipeline honours `tlsOptions` and `allowInsecureConnection`; the storage option type lists neither.
  const options = { ...(storage.caPem ? { tlsOptions: { ca: storage.caPem } } : {}), ...(storage.allowInsecureConnection ? { allowInsecureConnection: true } : {}) } as StoragePipelineOptions;
  const service = storage.kind === 'connectionString' ? BlobServiceClient.fromConnectionString(storage.connectionString, options) : new BlobServiceClient(storage.blobEndpoint, credential, options);
  return service.getContainerClient(AUDIT_LOG_CONTAINER);
}

/** Reads a PT1H.json from an offset: a ranged GET, so a blob appended to is never read again from its start. */
export class StorageAuditBlobReader implements AuditBlobReader {
  constructor(private readonly container: ContainerClient) {}

  async readFrom(blob: string, offset: number): Promise<Uint8Array> {
    try {
      return await this.container.getBlobClient(blob).downloadToBuffer(offset);
    } catch (error) {
      // 416: nothing past the offset yet; 404: the event came before the blob is readable.
      if (statusOf(error) === 416 || statusOf(error) === 404) return new Uint8Array(0);
      throw error;
    }
  }
}
