import type { TokenCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import type { ManagedIdentityConfig, StorageConfig } from './config';

/**
 * The service's own identity: its managed identity, system-assigned or (with AZURE_CLIENT_ID)
 * user-assigned. `@azure/identity` finds the endpoint itself (IDENTITY_ENDPOINT/IDENTITY_HEADER on
 * App Service — which the local stack points at its identity provider — or IMDS elsewhere), so
 * there is no development-only credential in the app.
 */
export function createServiceCredential(identity: ManagedIdentityConfig): TokenCredential {
  return identity.clientId ? new ManagedIdentityCredential({ clientId: identity.clientId }) : new ManagedIdentityCredential();
}

/**
 * The identity storage is reached as: the one the `AzureWebJobsStorage__*` connection names, as the
 * Functions host signs in for the app's triggers (`__clientId`, `__managedIdentityResourceId`, or
 * the system-assigned identity). When that is the service's own identity its credential is shared,
 * so the two keep one token cache.
 */
export function createStorageCredential(storage: StorageConfig, service: { identity: ManagedIdentityConfig; credential: TokenCredential }): TokenCredential {
  if (storage.kind !== 'identity') return service.credential;
  const { clientId, resourceId } = storage.identity;
  if (!resourceId && clientId === service.identity.clientId) return service.credential;
  if (resourceId) return new ManagedIdentityCredential({ resourceId });
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}
