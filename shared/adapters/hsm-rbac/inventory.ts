import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { KeyClient } from '@azure/keyvault-keys';
import type { ObservedAssignment } from '../../domain';
import type { HsmInventoryPort, KeyInfo, RoleDefinitionInfo } from '../../services/reconciliationPorts';
import type { HsmAccessControlClient } from './accessControlClient';
import { isLoopbackHost } from '../config';
import { createHsmAccessControlClient } from './index';
import { isHsmError } from './errors';
import { responseRecorder, withRequestId } from '../responseRecorder';
import { roleDefinitionIdFor, roleGuidOf, type KeyVaultRoleAssignment } from './models';
import { pacingPolicy, RequestPacer } from './pacing';
import { retryPolicy } from './retryPolicy';

/** The HSM lists at most 25 keys a page. */
const KEYS_PAGE_SIZE = 25;

export interface HsmInventorySettings {
  url: string;
  credential: TokenCredential;
  caPem?: string;
  /** The pace all of this HSM's calls keep (requests per second). */
  requestsPerSecond: number;
}

function observed(assignment: KeyVaultRoleAssignment, listedAt: string): ObservedAssignment {
  return {
    name: assignment.name,
    scope: assignment.properties.scope ?? listedAt,
    roleId: roleGuidOf(assignment.properties.roleDefinitionId),
    principalId: assignment.properties.principalId.toLowerCase(),
  };
}

function iso(date: Date | undefined): string | undefined {
  return date ? date.toISOString() : undefined;
}


/** Inventory and repairs of one HSM: the RBAC client and the keys client, sharing one pace. */
export class HsmInventory implements HsmInventoryPort {
  private readonly rbac: HsmAccessControlClient;
  private readonly keys: KeyClient;
  private readonly pacer: RequestPacer;
  /** The SDK's page wrapper drops a keys page's continuation token: the pipeline reads nextLink off the answer instead. */
  private lastKeysNextLink: string | undefined;

  constructor(settings: HsmInventorySettings) {
    this.pacer = new RequestPacer(settings.requestsPerSecond);
    const perAttempt = pacingPolicy(this.pacer);
    this.rbac = createHsmAccessControlClient({ url: settings.url, credential: settings.credential, ...(settings.caPem ? { caPem: settings.caPem } : {}), perAttemptPolicies: [perAttempt] });
    this.keys = new KeyClient(settings.url, settings.credential, {
      // As for the RBAC client: a loopback emulator answers the challenge for managedhsm.azure.net.
      disableChallengeResourceVerification: isLoopbackHost(new URL(settings.url).hostname),
      // The SDK's own retries give up on a 429 without Retry-After, which is what the HSM sends.
      retryOptions: { maxRetries: 0 },
      additionalPolicies: [
        { policy: retryPolicy(), position: 'perRetry' },
        { policy: perAttempt, position: 'perRetry' },
        { policy: this.keysNextLinkPolicy(), position: 'perCall' },
      ],
      ...(settings.caPem ? { tlsOptions: { ca: settings.caPem } } : {}),
    });
  }

  private keysNextLinkPolicy(): PipelinePolicy {
    return {
      name: 'keysNextLink',
      sendRequest: async (request, next) => {
        const response = await next(request);
        if (response.status === 200 && /\/keys\/?$/.test(new URL(request.url).pathname) && response.bodyAsText) {
          try {
            this.lastKeysNextLink = (JSON.parse(response.bodyAsText) as { nextLink?: string | null }).nextLink ?? undefined;
          } catch {
            this.lastKeysNextLink = undefined;
          }
        }
        return response;
      },
    };
  }

  async listKeysPage(continuation?: string): Promise<{ keys: KeyInfo[]; continuation?: string }> {
    this.lastKeysNextLink = undefined;
    const pages = this.keys.listPropertiesOfKeys().byPage({ maxPageSize: KEYS_PAGE_SIZE, ...(continuation ? { continuationToken: continuation } : {}) });
    const page = await pages.next();
    if (page.done) return { keys: [] };
    const keys = page.value.map((p): KeyInfo => ({
      name: p.name,
      ...(p.enabled !== undefined ? { enabled: p.enabled } : {}),
      ...(iso(p.createdOn) ? { createdOn: iso(p.createdOn) } : {}),
      ...(iso(p.updatedOn) ? { updatedOn: iso(p.updatedOn) } : {}),
      ...(iso(p.expiresOn) ? { expiresOn: iso(p.expiresOn) } : {}),
    }));
    const next = (page.value as { continuationToken?: string }).continuationToken ?? this.lastKeysNextLink;
    return next ? { keys, continuation: next } : { keys };
  }

  async listAssignments(scope: string): Promise<ObservedAssignment[]> {
    const found: ObservedAssignment[] = [];
    // At a key scope the HSM would add the HSM-wide assignments again: atScope() keeps the key's own.
    const options = scope === '/' ? {} : { filter: 'atScope()' };
    for await (const assignment of this.rbac.listRoleAssignments(scope, options)) found.push(observed(assignment, scope));
    return found;
  }

  async listRoleDefinitions(): Promise<RoleDefinitionInfo[]> {
    const found: RoleDefinitionInfo[] = [];
    for await (const definition of this.rbac.listRoleDefinitions('/')) {
      found.push({
        id: definition.name.toLowerCase(),
        roleName: definition.roleName,
        custom: definition.roleType === 'CustomRole',
        dataActions: definition.permissions.flatMap((p) => p.dataActions ?? []),
        notDataActions: definition.permissions.flatMap((p) => p.notDataActions ?? []),
      });
    }
    return found;
  }

  async getAssignment(scope: string, name: string): Promise<ObservedAssignment | undefined> {
    try {
      return observed(await this.rbac.getRoleAssignment(scope, name), scope);
    } catch (error) {
      if (isHsmError(error, 'RoleAssignmentNotFound')) return undefined;
      throw error;
    }
  }

  async createAssignment(assignment: ObservedAssignment): Promise<{ hsmRequestId?: string; outcome: 'created' | 'covered' }> {
    const recorder = responseRecorder();
    try {
      await this.rbac.createRoleAssignment(assignment.scope, assignment.name, roleDefinitionIdFor(assignment.roleId), assignment.principalId, { onResponse: recorder.onResponse });
      return withRequestId({ outcome: 'created' as const }, recorder);
    } catch (error) {
      if (isHsmError(error, 'MatchingRoleAssignmentExists')) return withRequestId({ outcome: 'covered' as const }, recorder);
      throw error;
    }
  }

  async removeAssignment(scope: string, name: string): Promise<{ hsmRequestId?: string }> {
    const recorder = responseRecorder();
    await this.rbac.deleteRoleAssignment(scope, name, { onResponse: recorder.onResponse });
    return withRequestId({}, recorder);
  }

  counts(): { sent: number; throttled: number } {
    return { ...this.pacer.counts };
  }
}
