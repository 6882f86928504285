import type { TokenCredential } from '@azure/core-auth';
import { isLoopbackHost } from '../config';
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

export function createHsmAccessControlClient(settings: HsmClientSettings): HsmAccessControlClient {
  const { url, credential, caPem, ...options } = settings;
  return new HsmAccessControlClient(url, credential, {
    // A loopback emulator answers the challenge for managedhsm.azure.net; a real HSM's host must match it.
    disableChallengeResourceVerification: isLoopbackHost(new URL(url).hostname),
    ...options,
    ...(caPem ? { tlsOptions: { ca: caPem } } : {}),
  });
}
export * from './pacing';
