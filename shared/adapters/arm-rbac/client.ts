import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy, PipelineRetryOptions } from '@azure/core-rest-pipeline';

/** Azure Resource Manager in the public cloud, and the audience of its tokens. */
export const ARM_ENDPOINT = 'https://management.azure.com';
export const ARM_SCOPE = `${ARM_ENDPOINT}/.default`;

export interface ArmClientSettings {
  subscriptionId: string;
  credential: TokenCredential;
  /** `https://management.azure.com` (default) in Azure; the local emulator's URL in development. */
  endpoint?: string;
  /** Tokens are always for ARM, whichever endpoint serves it; the SDK would otherwise ask for `{endpoint}/.default`. */
  credentialScopes?: string | string[];
  /** PEM of an extra CA to trust (the local emulator's); the system store otherwise. */
  caPem?: string;
  /** The SDK's own retry policy, which honours ARM's Retry-After on 429 and 503. */
  retryOptions?: PipelineRetryOptions;
  /** Policies run on every attempt, retries included (pacing, counting). */
  perAttemptPolicies?: PipelinePolicy[];
}

export function createArmAuthorizationClient(settings: ArmClientSettings): AuthorizationManagementClient {
  const endpoint = (settings.endpoint ?? ARM_ENDPOINT).replace(/\/+$/, '');
  // Loaded when the first management-plane client is made, not at cold start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { AuthorizationManagementClient: Client } = require('@azure/arm-authorization') as typeof import('@azure/arm-authorization');
  return new Client(settings.credential, settings.subscriptionId, {
    endpoint,
    credentialScopes: settings.credentialScopes ?? ARM_SCOPE,
    ...(settings.caPem ? { tlsOptions: { ca: settings.caPem } } : {}),
    ...(settings.retryOptions ? { retryOptions: settings.retryOptions } : {}),
    ...(settings.perAttemptPolicies ? { additionalPolicies: settings.perAttemptPolicies.map((policy) => ({ policy, position: 'perRetry' as const })) } : {}),
  });
}
