import type { TokenCredential } from '@azure/core-auth';
import type { Policy } from '../../domain';
import type { AssignmentPort } from '../../services/ports';
import { readArmSettings, type ArmSettings } from '../armSettings';
import { ArmAssignmentPort } from './assignmentPort';
import { createArmAuthorizationClient } from './client';
import { ArmInventory } from './inventory';

export interface AzureRbacAdapters {
  readonly settings: ArmSettings;
  /** The workflow's port for management-plane grants, in the policy's mode. */
  readonly assignments: AssignmentPort;
  readonly inventory: ArmInventory;
}

/** The management plane's adapters, or undefined when the app has no ARM settings and the policy no `azureRbac`. */
export function createAzureRbacAdapters(env: NodeJS.ProcessEnv, policy: Policy, credential: TokenCredential): AzureRbacAdapters | undefined {
  const settings = readArmSettings(env, policy.azureRbac !== undefined);
  if (!settings) return undefined;
  const client = createArmAuthorizationClient({ subscriptionId: settings.subscriptionId, credential, endpoint: settings.endpoint, ...(settings.caPem ? { caPem: settings.caPem } : {}) });
  const principalTypes = new Map(Object.values(policy.principals).map((p) => [p.objectId, p.type]));
  const assignments = new ArmAssignmentPort(client, {
    subscriptionId: settings.subscriptionId,
    mode: policy.azureRbac?.mode ?? 'assignment',
    // Setting principalType spares ARM its directory lookup, which may not see a new principal yet.
    principalTypeOf: (principalId) => principalTypes.get(principalId.toLowerCase()),
    description: 'Time-bound grant of hsm-access-governor',
    justification: 'Approved access request (hsm-access-governor)',
  });
  return { settings, assignments, inventory: new ArmInventory(client, settings.subscriptionId) };
}
