import { randomUUID } from 'node:crypto';
import { getClient, type Client, type ClientOptions } from '@azure-rest/core-client';
import type { TokenCredential } from '@azure/core-auth';
import { bearerTokenAuthenticationPolicyName, type PipelinePolicy, type TlsSettings } from '@azure/core-rest-pipeline';
import { keyVaultAuthenticationPolicy } from '@azure/keyvault-common';
import { errorFromResponse, isHsmError } from './errors';
import {
  roleGuidOf,
  toAssignment,
  toDefinition,
  type KeyVaultPermission,
  type KeyVaultRoleAssignment,
  type KeyVaultRoleDefinition,
  type RawAssignment,
  type RawDefinition,
} from './models';
import { pagedIterator, type PagedAsyncIterableIterator } from './paging';
import { retryPolicy, type RetrySettings } from './retryPolicy';

export const DEFAULT_API_VERSION = '7.6';

export interface OperationOptions {
  abortSignal?: AbortSignal;
  /** Called with each raw HSM response, as the SDK's `onResponse`: how callers read `x-ms-request-id`. */
  onResponse?: (response: { status: number; headers: { get(name: string): string | undefined } }) => void;
}

export interface ListRoleAssignmentsOptions extends OperationOptions {
  /** `atScope()` or `principalId eq '{id}'`, as the HSM's `$filter` takes them. */
  filter?: string;
}

export interface SetRoleDefinitionOptions extends OperationOptions {
  roleDefinitionName?: string;
  roleName?: string;
  description?: string;
  permissions?: KeyVaultPermission[];
  assignableScopes?: string[];
}

export interface HsmAccessControlClientOptions extends ClientOptions {
  apiVersion?: string;
  /** The challenge names `managedhsm.azure.net` while a local emulator listens on 127.0.0.1. */
  disableChallengeResourceVerification?: boolean;
  retry?: RetrySettings;
  tlsOptions?: TlsSettings;
  /** Policies run on every attempt, after the retry policy decides to try (pacing, counting). */
  perAttemptPolicies?: PipelinePolicy[];
}

interface ListBody<T> {
  value?: T[];
  nextLink?: string | null;
}

/** `'/'` → `''`, `'/keys/k1'` → `'/keys/k1'`: the path is `{vault}/{scope}/providers/...`, scope inserted as is. */
function scopePath(roleScope: string): string {
  return `/${roleScope}/providers/Microsoft.Authorization`;
}

/**
 * Managed HSM local RBAC: the methods, argument order and results of `@azure/keyvault-admin`'s
 * `KeyVaultAccessControlClient`, on the same core libraries (see docs/adr/0001).
 */
export class HsmAccessControlClient {
  private readonly client: Client;

  constructor(readonly vaultUrl: string, credential: TokenCredential, options: HsmAccessControlClientOptions = {}) {
    const { disableChallengeResourceVerification, retry, apiVersion, perAttemptPolicies, ...clientOptions } = options;
    this.client = getClient(vaultUrl.replace(/\/+$/, ''), {
      ...clientOptions,
      apiVersion: apiVersion ?? DEFAULT_API_VERSION,
      // Our own retry policy replaces the default one, which gives up on a 429 without Retry-After.
      retryOptions: { maxRetries: 0 },
      additionalPolicies: [
        ...(clientOptions.additionalPolicies ?? []),
        { policy: retryPolicy(retry), position: 'perRetry' },
        ...(perAttemptPolicies ?? []).map((policy) => ({ policy, position: 'perRetry' as const })),
      ],
    });
    this.client.pipeline.removePolicy({ name: bearerTokenAuthenticationPolicyName });
    this.client.pipeline.addPolicy(keyVaultAuthenticationPolicy(credential, { disableChallengeResourceVerification }), { phase: 'Sign' });
  }

  async createRoleAssignment(roleScope: string, name: string, roleDefinitionId: string, principalId: string, options: OperationOptions = {}): Promise<KeyVaultRoleAssignment> {
    const path = `${scopePath(roleScope)}/roleAssignments/${encodeURIComponent(name)}`;
    try {
      const raw = await this.send<RawAssignment>('put', path, options, { properties: { roleDefinitionId, principalId } });
      return toAssignment(raw);
    } catch (error) {
      // A create retried after a lost answer meets its own assignment: success only if it is the same one.
      if (!isHsmError(error, 'RoleAssignmentExists')) throw error;
      const existing = await this.getRoleAssignment(roleScope, name, options);
      const same = roleGuidOf(existing.properties.roleDefinitionId) === roleGuidOf(roleDefinitionId)
        && existing.properties.principalId.toLowerCase() === principalId.toLowerCase()
        && (existing.properties.scope ?? roleScope) === roleScope;
      if (!same) throw error;
      return existing;
    }
  }

  async getRoleAssignment(roleScope: string, name: string, options: OperationOptions = {}): Promise<KeyVaultRoleAssignment> {
    return toAssignment(await this.send<RawAssignment>('get', `${scopePath(roleScope)}/roleAssignments/${encodeURIComponent(name)}`, options));
  }

  /** Like the SDK, an assignment that is already gone counts as deleted. */
  async deleteRoleAssignment(roleScope: string, name: string, options: OperationOptions = {}): Promise<void> {
    try {
      await this.send('delete', `${scopePath(roleScope)}/roleAssignments/${encodeURIComponent(name)}`, options);
    } catch (error) {
      if (!isHsmError(error, 'RoleAssignmentNotFound')) throw error;
    }
  }

  listRoleAssignments(roleScope: string, options: ListRoleAssignmentsOptions = {}): PagedAsyncIterableIterator<KeyVaultRoleAssignment> {
    const first = `${scopePath(roleScope)}/roleAssignments${options.filter ? `?$filter=${encodeURIComponent(options.filter)}` : ''}`;
    return pagedIterator(first, async (link) => {
      const body = await this.send<ListBody<RawAssignment>>('get', link, options);
      return { items: (body.value ?? []).map(toAssignment), nextLink: body.nextLink ?? undefined };
    });
  }

  listRoleDefinitions(roleScope: string, options: OperationOptions = {}): PagedAsyncIterableIterator<KeyVaultRoleDefinition> {
    return pagedIterator(`${scopePath(roleScope)}/roleDefinitions`, async (link) => {
      const body = await this.send<ListBody<RawDefinition>>('get', link, options);
      return { items: (body.value ?? []).map(toDefinition), nextLink: body.nextLink ?? undefined };
    });
  }

  async getRoleDefinition(roleScope: string, name: string, options: OperationOptions = {}): Promise<KeyVaultRoleDefinition> {
    return toDefinition(await this.send<RawDefinition>('get', `${scopePath(roleScope)}/roleDefinitions/${encodeURIComponent(name)}`, options));
  }

  async setRoleDefinition(roleScope: string, options: SetRoleDefinitionOptions = {}): Promise<KeyVaultRoleDefinition> {
    const name = options.roleDefinitionName ?? randomUUID();
    const body = {
      properties: {
        roleName: options.roleName,
        description: options.description,
        type: 'CustomRole',
        permissions: options.permissions ?? [],
        assignableScopes: options.assignableScopes ?? [roleScope],
      },
    };
    return toDefinition(await this.send<RawDefinition>('put', `${scopePath(roleScope)}/roleDefinitions/${encodeURIComponent(name)}`, options, body));
  }

  async deleteRoleDefinition(roleScope: string, name: string, options: OperationOptions = {}): Promise<void> {
    try {
      await this.send('delete', `${scopePath(roleScope)}/roleDefinitions/${encodeURIComponent(name)}`, options);
    } catch (error) {
      if (!isHsmError(error, 'RoleDefinitionNotFound')) throw error;
    }
  }

  private async send<T>(method: 'get' | 'put' | 'delete', path: string, options: OperationOptions, body?: unknown): Promise<T> {
    const resource = this.client.pathUnchecked(path);
    const request = { abortSignal: options.abortSignal, onResponse: options.onResponse, ...(body === undefined ? {} : { body, contentType: 'application/json' }) };
    const response = await resource[method](request);
    const status = Number(response.status);
    if (status >= 200 && status < 300) return response.body as T;
    throw errorFromResponse(status, response.body, response.headers['x-ms-request-id']);
  }
}
