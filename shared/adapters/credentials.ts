import type { TokenCredential } from '@azure/core-auth';
import { ManagedIdentityCredential } from '@azure/identity';
import type { ManagedIdentityConfig } from './config';

/**
 * The service's own identity: its managed identity, system-assigned or (with AZURE_CLIENT_ID)
 * user-assigned. `@azure/identity` finds the endpoint itself (IDENTITY_ENDPOINT/IDENTITY_HEADER on
 * App Service — which the local stack points at its identity provider — or IMDS elsewhere), so
 * there is no development-only credential in the app.
 */
export function createServiceCredential(identity: ManagedIdentityConfig): TokenCredential {
  return identity.clientId ? new ManagedIdentityCredential({ clientId: identity.clientId }) : new ManagedIdentityCredential();
}
