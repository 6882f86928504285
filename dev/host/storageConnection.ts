import { readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient, type StoragePipelineOptions } from '@azure/storage-queue';

/**
 * A binding's storage `connection`, resolved as the Functions host resolves it (learn.microsoft.com,
 * "Azure Queue storage trigger and bindings", Connections; "Connecting to host storage with an
 * identity"):
 *
 * - `AzureWebJobs<name>` is looked up before `<name>`; a name that is neither a setting nor the prefix
 *   of one is an error, as is no connection at all.
 * - A setting of exactly that name is a connection string, and wins over `<name>__*` settings.
 * - Otherwise `<name>__*` settings form an identity-based connection: `__queueServiceUri` (alias
 *   `__serviceUri`), else `https://{__accountName}.queue.core.windows.net`, signed in as the managed
 *   identity with `__credential=managedidentity` (user-assigned with `__clientId` or
 *   `__managedIdentityResourceId`), or through DefaultAzureCredential without it.
 *
 * Locally the host also trusts the CA that STORAGE_CA_FILE names (the stack's Azurite), as the app
 * does; Azure's storage certificates need no such setting.
 */
export type QueueConnection =
  | { kind: 'connectionString'; setting: string; connectionString: string }
  | { kind: 'identity'; setting: string; serviceUri: string; credential: { type: 'managedidentity'; clientId?: string; resourceId?: string } | { type: 'default' } };

const DEFAULT_CONNECTION = 'AzureWebJobsStorage';

function exists(name: string, env: NodeJS.ProcessEnv): boolean {
  const prefix = `${name}__`.toLowerCase();
  return Boolean(env[name]?.trim()) || Object.keys(env).some((key) => key.toLowerCase().startsWith(prefix) && Boolean(env[key]?.trim()));
}

export function resolveQueueConnection(connection: unknown, env: NodeJS.ProcessEnv): QueueConnection {
  return resolveServiceConnection(connection, env, 'queue');
}

/** As resolveQueueConnection, for the blob service (`__blobServiceUri`): the blob trigger's connection. */
export function resolveBlobConnection(connection: unknown, env: NodeJS.ProcessEnv): QueueConnection {
  return resolveServiceConnection(connection, env, 'blob');
}

function resolveServiceConnection(connection: unknown, env: NodeJS.ProcessEnv, service: 'queue' | 'blob'): QueueConnection {
  const name = typeof connection === 'string' && connection.trim() ? connection.trim() : DEFAULT_CONNECTION;
  const setting = [`AzureWebJobs${name}`, name].find((candidate) => exists(candidate, env));
  if (!setting) throw new Error(`Storage account connection string '${name === DEFAULT_CONNECTION ? name : `AzureWebJobs${name}`}' does not exist. Make sure that it is a defined App Setting.`);
  const connectionString = env[setting]?.trim();
  if (connectionString) return { kind: 'connectionString', setting, connectionString };
  const property = (key: string): string | undefined => env[`${setting}__${key}`]?.trim() || undefined;
  const accountName = property('accountName');
  const serviceUri = property(`${service}ServiceUri`) ?? property('serviceUri') ?? (accountName ? `https://${accountName}.${service}.core.windows.net` : undefined);
  if (!serviceUri) throw new Error(`The ${setting}__${service}ServiceUri was not found or is set to a blank value (nor ${setting}__serviceUri or ${setting}__accountName)`);
  if (!/^https:\/\//i.test(serviceUri)) throw new Error(`${setting}__${service}ServiceUri must use the HTTPS scheme`);
  const managed = property('credential')?.toLowerCase() === 'managedidentity';
  const clientId = property('clientId');
  const resourceId = property('managedIdentityResourceId');
  return {
    kind: 'identity',
    setting,
    serviceUri: serviceUri.replace(/\/+$/, ''),
    credential: managed ? { type: 'managedidentity', ...(clientId ? { clientId } : {}), ...(resourceId ? { resourceId } : {}) } : { type: 'default' },
  };
}

function credentialFor(connection: Extract<QueueConnection, { kind: 'identity' }>): TokenCredential {
  const { credential } = connection;
  if (credential.type === 'default') return new DefaultAzureCredential();
  if (credential.clientId && credential.resourceId) throw new Error(`${connection.setting}__clientId and ${connection.setting}__managedIdentityResourceId cannot both be set`);
  if (credential.resourceId) return new ManagedIdentityCredential({ resourceId: credential.resourceId });
  return credential.clientId ? new ManagedIdentityCredential({ clientId: credential.clientId }) : new ManagedIdentityCredential();
}

function pipelineOptions(env: NodeJS.ProcessEnv): StoragePipelineOptions {
  const caFile = env.STORAGE_CA_FILE?.trim();
  // core-rest-pipeline honours `tlsOptions`; the storage option type does not list it.
  return (caFile ? { tlsOptions: { ca: readFileSync(caFile, 'utf8') } } : {}) as StoragePipelineOptions;
}

/** The queue service a connection names, as an SDK client (STORAGE_CA_FILE's CA trusted). */
export function queueServiceFor(connection: QueueConnection, env: NodeJS.ProcessEnv): QueueServiceClient {
  const options = pipelineOptions(env);
  if (connection.kind === 'connectionString') return QueueServiceClient.fromConnectionString(connection.connectionString, options);
  return new QueueServiceClient(connection.serviceUri, credentialFor(connection), options);
}

/** The blob service a connection names, as an SDK client (STORAGE_CA_FILE's CA trusted). */
export function blobServiceFor(connection: QueueConnection, env: NodeJS.ProcessEnv): BlobServiceClient {
  const options = pipelineOptions(env);
  if (connection.kind === 'connectionString') return BlobServiceClient.fromConnectionString(connection.connectionString, options);
  return new BlobServiceClient(connection.serviceUri, credentialFor(connection), options);
}
