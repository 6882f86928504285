import { isGuid } from '../domain/roles';
import { ConfigurationError, isHttpsOrigin, isLoopbackHost, parseUrl, readCaFile } from './config';
import { ARM_ENDPOINT } from './arm-rbac/client';

/** Where the management plane is: absent when the app governs the data plane only. */
export interface ArmSettings {
  subscriptionId: string;
  /** `https://management.azure.com` in Azure; the local emulator's URL in development. */
  endpoint: string;
  /** An extra CA to trust for ARM (the local emulator's), as PEM. */
  caPem?: string;
}

/**
 * ARM_SUBSCRIPTION_ID turns the management plane on; ARM_ENDPOINT and ARM_CA_FILE are for the local
 * emulator. A policy with an `azureRbac` section needs them: the app refuses to start without.
 */
export function readArmSettings(env: NodeJS.ProcessEnv, policyNeedsArm: boolean): ArmSettings | undefined {
  const problems: string[] = [];
  const subscriptionId = env.ARM_SUBSCRIPTION_ID?.trim();
  if (!subscriptionId) {
    if (policyNeedsArm) throw new ConfigurationError(['ARM_SUBSCRIPTION_ID is not set, but the policy governs Azure RBAC scopes (azureRbac)']);
    return undefined;
  }
  if (!isGuid(subscriptionId)) problems.push('ARM_SUBSCRIPTION_ID must be a subscription id (a GUID)');
  const raw = env.ARM_ENDPOINT?.trim() || ARM_ENDPOINT;
  const url = parseUrl(raw);
  if (!isHttpsOrigin(url)) {
    problems.push('ARM_ENDPOINT must be an https URL with no path, query or credentials');
  } else if (url.origin !== ARM_ENDPOINT && !isLoopbackHost(url.hostname) && !url.hostname.endsWith('.management.azure.com')) {
    // Tokens for ARM go wherever this points: only Azure's own endpoints, or a local emulator.
    problems.push('ARM_ENDPOINT must be https://management.azure.com (or a local emulator on 127.0.0.1)');
  }
  const caPem = readCaFile(env, 'ARM_CA_FILE', problems);
  if (problems.length > 0 || !url) throw new ConfigurationError(problems);
  return { subscriptionId: subscriptionId.toLowerCase(), endpoint: url.origin, ...(caPem ? { caPem } : {}) };
}
