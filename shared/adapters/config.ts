import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/**
 * The app settings, read once and checked before anything uses them. A missing or malformed
 * setting stops the app with a message naming the setting — never its value, which may be a secret.
 */

export const DEFAULT_POLICY_FILE = 'examples/contoso/policy.yaml';
export const DEFAULT_API_AUDIENCE = 'api://hsm-access-governor';

export type StorageConfig =
  | { kind: 'connectionString'; connectionString: string; tableEndpoint: string }
  /** Identity-based connection (`AzureWebJobsStorage__accountName` or `__tableServiceUri`): no keys in settings. */
  | { kind: 'identity'; tableEndpoint: string };

export interface ManagedIdentityConfig {
  /** App Service managed identity endpoint; absent means the platform default (IMDS). */
  endpoint?: string;
  /** A user-assigned identity's client id; absent means the system-assigned identity. */
  clientId?: string;
}

export interface AppConfig {
  storage: StorageConfig;
  /** Absolute path of the policy YAML. */
  policyFile: string;
  /** The governed HSM, `https://{name}.managedhsm.azure.net` (no trailing slash). */
  hsmUrl: string;
  /** An extra CA to trust for the HSM (the local emulator's), as PEM. */
  hsmCaPem?: string;
  managedIdentity: ManagedIdentityConfig;
  /** The audience callers' tokens carry. */
  apiAudience: string;
}

export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    super(`The app settings are not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function connectionStringParts(connectionString: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const segment of connectionString.split(';')) {
    const index = segment.indexOf('=');
    if (index <= 0) continue;
    parts.set(segment.slice(0, index).trim().toLowerCase(), segment.slice(index + 1).trim());
  }
  return parts;
}

/** The table endpoint a storage connection string points at, as the Azure SDK would derive it. */
export function tableEndpointFromConnectionString(connectionString: string): string | undefined {
  const parts = connectionStringParts(connectionString);
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return 'http://127.0.0.1:10002/devstoreaccount1';
  const explicit = parts.get('tableendpoint');
  if (explicit) return explicit.replace(/\/+$/, '');
  const account = parts.get('accountname');
  if (!account) return undefined;
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  return `${protocol}://${account}.table.${suffix}`;
}

function readStorage(env: NodeJS.ProcessEnv, problems: string[]): StorageConfig | undefined {
  const connectionString = env.AzureWebJobsStorage?.trim();
  if (connectionString) {
    const parts = connectionStringParts(connectionString);
    const development = parts.get('usedevelopmentstorage')?.toLowerCase() === 'true';
    const hasKey = parts.has('accountkey') || parts.has('sharedaccesssignature');
    const tableEndpoint = tableEndpointFromConnectionString(connectionString);
    const url = tableEndpoint ? parseUrl(tableEndpoint) : undefined;
    if (!development && (!hasKey || !tableEndpoint)) {
      problems.push('AzureWebJobsStorage must be a storage connection string with AccountName and AccountKey (or SharedAccessSignature and TableEndpoint)');
      return undefined;
    }
    if (!url || (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))) {
      problems.push('AzureWebJobsStorage must use https (plain http only for a local emulator on 127.0.0.1)');
      return undefined;
    }
    return { kind: 'connectionString', connectionString, tableEndpoint: tableEndpoint as string };
  }
  const tableServiceUri = env.AzureWebJobsStorage__tableServiceUri?.trim();
  const accountName = env.AzureWebJobsStorage__accountName?.trim();
  if (tableServiceUri || accountName) {
    const endpoint = tableServiceUri || `https://${accountName}.table.core.windows.net`;
    const url = parseUrl(endpoint);
    if (!url || url.protocol !== 'https:') {
      problems.push('AzureWebJobsStorage__tableServiceUri must be an https URL (AzureWebJobsStorage__accountName a storage account name)');
      return undefined;
    }
    return { kind: 'identity', tableEndpoint: endpoint.replace(/\/+$/, '') };
  }
  problems.push('AzureWebJobsStorage is not set (a storage connection string, or AzureWebJobsStorage__accountName for an identity-based connection)');
  return undefined;
}

function readHsmUrl(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const raw = env.HSM_URL?.trim();
  if (!raw) {
    problems.push('HSM_URL is not set (the Managed HSM URL, e.g. https://contoso.managedhsm.azure.net)');
    return undefined;
  }
  const url = parseUrl(raw);
  if (!url || url.protocol !== 'https:' || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    problems.push('HSM_URL must be an https URL with no path, query or credentials');
    return undefined;
  }
  return url.origin;
}

function readCa(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const file = env.HSM_CA_FILE?.trim();
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch {
    problems.push('HSM_CA_FILE names a file that cannot be read');
    return undefined;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push('HSM_CA_FILE must hold a PEM certificate');
    return undefined;
  }
  return pem;
}

function readPolicyFile(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const raw = env.POLICY_FILE?.trim() || DEFAULT_POLICY_FILE;
  const path = isAbsolute(raw) ? raw : resolve(process.cwd(), raw);
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
  } catch {
    problems.push(`POLICY_FILE (${raw}) does not name a readable file`);
    return undefined;
  }
  return path;
}

function readManagedIdentity(env: NodeJS.ProcessEnv, problems: string[]): ManagedIdentityConfig {
  const endpoint = env.IDENTITY_ENDPOINT?.trim();
  const header = env.IDENTITY_HEADER?.trim();
  const clientId = env.AZURE_CLIENT_ID?.trim();
  const config: ManagedIdentityConfig = {};
  if (endpoint || header) {
    const url = endpoint ? parseUrl(endpoint) : undefined;
    if (!endpoint || !header) problems.push('IDENTITY_ENDPOINT and IDENTITY_HEADER must be set together');
    else if (!url || (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))) {
      problems.push('IDENTITY_ENDPOINT must be an https URL (plain http only on 127.0.0.1/localhost, as App Service uses)');
    } else config.endpoint = endpoint;
  }
  if (clientId) {
    if (!GUID.test(clientId)) problems.push('AZURE_CLIENT_ID must be the managed identity\'s client id (a GUID)');
    else config.clientId = clientId;
  }
  return config;
}

function readAudience(env: NodeJS.ProcessEnv, problems: string[]): string {
  const audience = env.API_AUDIENCE?.trim() || DEFAULT_API_AUDIENCE;
  if (!parseUrl(audience) && !GUID.test(audience)) problems.push('API_AUDIENCE must be an application id URI (e.g. api://hsm-access-governor) or a client id');
  return audience;
}

/** Reads and checks every setting, reporting all problems at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const storage = readStorage(env, problems);
  const policyFile = readPolicyFile(env, problems);
  const hsmUrl = readHsmUrl(env, problems);
  const hsmCaPem = readCa(env, problems);
  const managedIdentity = readManagedIdentity(env, problems);
  const apiAudience = readAudience(env, problems);
  if (problems.length > 0 || !storage || !policyFile || !hsmUrl) throw new ConfigurationError(problems);
  return { storage, policyFile, hsmUrl, ...(hsmCaPem ? { hsmCaPem } : {}), managedIdentity, apiAudience };
}

/** The settings that shape the app, to tell whether a cached context still matches them. */
export const CONFIG_SETTING_NAMES = [
  'AzureWebJobsStorage', 'AzureWebJobsStorage__accountName', 'AzureWebJobsStorage__tableServiceUri', 'POLICY_FILE', 'HSM_URL',
  'HSM_CA_FILE', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'AZURE_CLIENT_ID', 'API_AUDIENCE',
] as const;
