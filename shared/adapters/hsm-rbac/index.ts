import type { TokenCredential } from '@azure/core-auth';
import { HsmAccessControlClient, type HsmAccessControlClientOptions } from './accessControlClient';

export * from './accessControlClient';
export * from './errors';
export * from './models';
export * from './paging';
export * from './retryPolicy';

export interface HsmClientSettings extends Omit<HsmAccessControlClientOptions, 'tlsOptions'> {
  url: string;
  credential: TokenCredential;
  /** PEM of an extra CA to trust (the local emulator's); the system store otherwise. */
  caPem?: string;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

export function createHsmAccessControlClient(settings: HsmClientSettings): HsmAccessControlClient {
  const { url, credential, caPem, ...options } = settings;
  return new HsmAccessControlClient(url, credential, {
    // A loopback emulator answers the challenge for managedhsm.azure.net; a real HSM's host must match it.
    disableChallengeResourceVerification: isLoopback(url),
    ...options,
    ...(caPem ? { tlsOptions: { ca: caPem } } : {}),
  });
}
export * from './pacing';
