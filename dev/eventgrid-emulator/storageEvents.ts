import { randomUUID } from 'node:crypto';
import type { JsonObject } from './events';

/**
 * `Microsoft.Storage.BlobCreated` in the Event Grid schema, as a storage account's system topic raises
 * it (learn.microsoft.com, "Azure Blob Storage as an Event Grid source"; the SDK's
 * StorageBlobCreatedEventData): raised when a blob is created or replaced, by Put Blob, Put Block List
 * (so again for every append a writer commits with it), Copy Blob and Flush With Close. Subject
 * `/blobServices/default/containers/{container}/blobs/{name}`; `topic` is the storage account.
 */
export const BLOB_CREATED = 'Microsoft.Storage.BlobCreated';

export interface CreatedBlob {
  /** The blob's URL as the account serves it. */
  url: string;
  container: string;
  name: string;
  eTag: string;
  contentLength: number;
  contentType?: string;
  /** The storage call that raised it (default `PutBlockList`). */
  api?: string;
  time?: Date;
}

let sequence = 0;

/** An opaque value that orders the events of one blob by string comparison, as `sequencer` does. */
function nextSequencer(): string {
  sequence += 1;
  return sequence.toString(16).padStart(32, '0');
}

export function blobCreatedEvent(blob: CreatedBlob): JsonObject {
  const requestId = randomUUID();
  return {
    subject: `/blobServices/default/containers/${blob.container}/blobs/${blob.name}`,
    eventType: BLOB_CREATED,
    eventTime: (blob.time ?? new Date()).toISOString(),
    id: requestId,
    data: {
      api: blob.api ?? 'PutBlockList',
      clientRequestId: randomUUID(),
      requestId,
      eTag: blob.eTag,
      contentType: blob.contentType ?? 'application/json',
      contentLength: blob.contentLength,
      blobType: 'BlockBlob',
      accessTier: 'Default',
      url: blob.url,
      sequencer: nextSequencer(),
      storageDiagnostics: { batchId: randomUUID() },
    },
    dataVersion: '',
  };
}
