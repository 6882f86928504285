import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseIsoDuration } from '../domain/duration';
import { MIN_REVIEW_KEY_LENGTH } from '../domain/reviewToken';
import { isGuid } from '../domain/roles';

/**
 * The app settings, read once and checked before anything uses them. A missing or malformed
 * setting stops the app with a message naming the setting — never its value, which may be a secret.
 */

export const DEFAULT_POLICY_FILE = 'examples/contoso/policy.yaml';
export const DEFAULT_API_AUDIENCE = 'api://hsm-access-governor';

/** The account's service endpoints, without a trailing slash (`https://{account}.table.core.windows.net`, or Azurite's `https://127.0.0.1:10002/devstoreaccount1`). */
export interface StorageEndpoints {
  table: string;
  queue: string;
  /** Absent when the connection names no blob service: then nothing that reads blobs can run. */
  blob?: string;
}

/**
 * Which managed identity an identity-based connection signs in as: `__clientId` or
 * `__managedIdentityResourceId` names a user-assigned one; neither means the system-assigned one.
 */
export interface StorageIdentity {
  clientId?: string;
  resourceId?: string;
}

export type StorageConfig = (
  | { kind: 'connectionString'; connectionString: string }
  /** Identity-based connection (`AzureWebJobsStorage__accountName` or `__*ServiceUri`, `__credential=managedidentity`): no keys in settings. */
  | { kind: 'identity'; identity: StorageIdentity }
) & {
  endpoints: StorageEndpoints;
  /** An extra CA to trust for storage (the local Azurite's), as PEM. */
  caPem?: string;
};

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
  /** The service's own Entra tenant (lower case): a caller of any other tenant is refused. */
  tenantId: string;
}

export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    super(`The app settings are not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** https, or plain http towards a local emulator on this machine. */
function isAllowedUrl(url: URL | undefined): url is URL {
  return url !== undefined && (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)));
}

/** 169.254.0.0/16: where App Service serves its managed identity endpoint (http://169.254.129.x:8081/msi/token). */
function isLinkLocalHost(hostname: string): boolean {
  return /^169\.254\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

const KEY_VAULT_REFERENCE = /^\s*@Microsoft\.KeyVault\(/i;

/**
 * Settings App Service left as `@Microsoft.KeyVault(...)`: it could not resolve the reference (no
 * access, no such secret), and the literal text, which anyone can read in the template, must never
 * stand in for the secret. Named, never shown.
 */
export function unresolvedKeyVaultReferences(env: NodeJS.ProcessEnv, names: Iterable<string> = Object.keys(env)): string[] {
  return [...new Set(names)].filter((name) => KEY_VAULT_REFERENCE.test(env[name] ?? '')).sort().map((name) =>
    `${name} is an unresolved Key Vault reference: give the app's identity Key Vault Secrets User on the vault and check that the secret exists (the portal shows the reference's status under the app's environment variables)`);
}

/** An https URL that is a bare origin: no path, query, fragment or credentials. */
export function isHttpsOrigin(url: URL | undefined): url is URL {
  return url !== undefined && url.protocol === 'https:' && !url.username && !url.password && !url.search && !url.hash && (url.pathname === '/' || url.pathname === '');
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

const STORAGE_SERVICES = ['table', 'queue', 'blob'] as const;
type StorageService = (typeof STORAGE_SERVICES)[number];
/** Azurite's well-known endpoints, which `UseDevelopmentStorage=true` stands for. */
const DEVELOPMENT_STORAGE: Record<StorageService, string> = {
  blob: 'http://127.0.0.1:10000/devstoreaccount1',
  queue: 'http://127.0.0.1:10001/devstoreaccount1',
  table: 'http://127.0.0.1:10002/devstoreaccount1',
};

/** The endpoints a storage connection string points at, as the Azure SDK derives them. */
export function endpointsFromConnectionString(connectionString: string): Partial<Record<StorageService, string>> {
  const parts = connectionStringParts(connectionString);
  if (parts.get('usedevelopmentstorage')?.toLowerCase() === 'true') return { ...DEVELOPMENT_STORAGE };
  const account = parts.get('accountname');
  const protocol = parts.get('defaultendpointsprotocol') ?? 'https';
  const suffix = parts.get('endpointsuffix') ?? 'core.windows.net';
  const endpoints: Partial<Record<StorageService, string>> = {};
  for (const service of STORAGE_SERVICES) {
    const endpoint = parts.get(`${service}endpoint`)?.replace(/\/+$/, '') || (account ? `${protocol}://${account}.${service}.${suffix}` : undefined);
    if (endpoint) endpoints[service] = endpoint;
  }
  return endpoints;
}

function readConnectionStringStorage(connectionString: string, problems: string[]): StorageConfig | undefined {
  const parts = connectionStringParts(connectionString);
  const development = parts.get('usedevelopmentstorage')?.toLowerCase() === 'true';
  const hasKey = parts.has('accountkey') || parts.has('sharedaccesssignature');
  const { table, queue, blob } = endpointsFromConnectionString(connectionString);
  if (!development && (!hasKey || !table || !queue)) {
    problems.push('AzureWebJobsStorage must be a storage connection string with AccountName and AccountKey (or SharedAccessSignature, TableEndpoint and QueueEndpoint)');
    return undefined;
  }
  if (![table, queue, blob].every((endpoint) => endpoint === undefined || isAllowedUrl(parseUrl(endpoint)))) {
    problems.push('AzureWebJobsStorage must use https (plain http only for a local emulator on 127.0.0.1)');
    return undefined;
  }
  return { kind: 'connectionString', connectionString, endpoints: { table: table as string, queue: queue as string, ...(blob ? { blob } : {}) } };
}

/** The properties of an identity-based `AzureWebJobsStorage` connection that the app reads or refuses. */
const STORAGE_PROPERTIES = ['accountName', 'tableServiceUri', 'queueServiceUri', 'blobServiceUri', 'serviceUri', 'credential', 'clientId', 'managedIdentityResourceId', 'clientSecret', 'clientCertificate'] as const;
export const STORAGE_SETTING_NAMES = STORAGE_PROPERTIES.map((property) => `AzureWebJobsStorage__${property}`);

/** `/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}` */
const USER_ASSIGNED_IDENTITY_ID = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/]+$/i;

/**
 * An identity-based connection, read as the Functions host reads one (learn.microsoft.com, "Connecting
 * to host storage with an identity"): `__tableServiceUri`, `__queueServiceUri` and `__blobServiceUri`,
 * each defaulting to `https://{__accountName}.{service}.core.windows.net`, and the common properties
 * `__credential`, `__clientId` and `__managedIdentityResourceId`. The app signs in to storage only as
 * its managed identity, so `__credential=managedidentity` is required: without it the host falls back
 * to DefaultAzureCredential and ignores `__clientId`, and host and app could act as different identities.
 */
function readIdentityStorage(env: NodeJS.ProcessEnv, problems: string[]): StorageConfig | undefined {
  const setting = (property: string): string | undefined => env[`AzureWebJobsStorage__${property}`]?.trim() || undefined;
  const accountName = setting('accountName');
  const credential = setting('credential');
  const clientId = setting('clientId');
  const resourceId = setting('managedIdentityResourceId');
  const serviceUris = Object.fromEntries(STORAGE_SERVICES.map((service) => [service, setting(`${service}ServiceUri`)])) as Record<StorageService, string | undefined>;
  const secrets = ['clientSecret', 'clientCertificate'].filter((property) => setting(property));
  if (!STORAGE_PROPERTIES.some((property) => setting(property))) {
    problems.push('AzureWebJobsStorage is not set (a storage connection string, or AzureWebJobsStorage__accountName and AzureWebJobsStorage__credential=managedidentity for an identity-based connection)');
    return undefined;
  }
  const before = problems.length;
  if (setting('serviceUri')) problems.push('AzureWebJobsStorage__serviceUri names a single service, but the app uses the account\'s tables and queues: set AzureWebJobsStorage__accountName, or AzureWebJobsStorage__tableServiceUri and AzureWebJobsStorage__queueServiceUri');
  if (accountName && !/^[a-z0-9]{3,24}$/.test(accountName)) problems.push('AzureWebJobsStorage__accountName must be a storage account name (3 to 24 lower-case letters and digits)');
  const endpoints: Partial<Record<StorageService, string>> = {};
  for (const service of STORAGE_SERVICES) {
    const name = `AzureWebJobsStorage__${service}ServiceUri`;
    const uri = serviceUris[service] ?? (accountName ? `https://${accountName}.${service}.core.windows.net` : undefined);
    if (!uri) {
      if (service !== 'blob') problems.push(`${name} is not set (nor AzureWebJobsStorage__accountName): the app needs the account's ${service} service`);
      continue;
    }
    const url = parseUrl(uri);
    if (!url || url.protocol !== 'https:' || url.username || url.password || url.search || url.hash) {
      problems.push(`${name} must be an https URL with no query or credentials (an identity-based connection carries no secret)`);
      continue;
    }
    endpoints[service] = uri.replace(/\/+$/, '');
  }
  if (!credential) {
    problems.push('AzureWebJobsStorage__credential is not set: an identity-based connection must say managedidentity, the identity the app signs in to storage with (without it the Functions host uses DefaultAzureCredential and ignores AzureWebJobsStorage__clientId)');
  } else if (credential.toLowerCase() !== 'managedidentity') {
    problems.push('AzureWebJobsStorage__credential must be managedidentity: the app signs in to storage only as its managed identity');
  }
  if (clientId && !isGuid(clientId)) problems.push('AzureWebJobsStorage__clientId must be the user-assigned identity\'s client id (a GUID)');
  if (resourceId && !USER_ASSIGNED_IDENTITY_ID.test(resourceId)) problems.push('AzureWebJobsStorage__managedIdentityResourceId must be the ARM id of a user-assigned identity');
  if (clientId && resourceId) problems.push('AzureWebJobsStorage__clientId and AzureWebJobsStorage__managedIdentityResourceId name the identity twice: set one of them');
  for (const property of secrets) problems.push(`AzureWebJobsStorage__${property} is set: the app signs in to storage as its managed identity, never with a secret`);
  if (problems.length > before) return undefined;
  const identity: StorageIdentity = clientId ? { clientId } : resourceId ? { resourceId } : {};
  return { kind: 'identity', identity, endpoints: { table: endpoints.table as string, queue: endpoints.queue as string, ...(endpoints.blob ? { blob: endpoints.blob } : {}) } };
}

/**
 * The app's storage account, from `AzureWebJobsStorage` as the Functions host resolves a connection:
 * a setting of that exact name is a connection string and wins; otherwise the `AzureWebJobsStorage__*`
 * settings form an identity-based connection. STORAGE_CA_FILE names an extra CA to trust (Azurite's).
 */
export function readStorage(env: NodeJS.ProcessEnv, problems: string[]): StorageConfig | undefined {
  const connectionString = env.AzureWebJobsStorage?.trim();
  const storage = connectionString ? readConnectionStringStorage(connectionString, problems) : readIdentityStorage(env, problems);
  const caPem = readCaFile(env, 'STORAGE_CA_FILE', problems);
  return storage && caPem ? { ...storage, caPem } : storage;
}

function readHsmUrl(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const raw = env.HSM_URL?.trim();
  if (!raw) {
    problems.push('HSM_URL is not set (the Managed HSM URL, e.g. https://contoso.managedhsm.azure.net)');
    return undefined;
  }
  const url = parseUrl(raw);
  if (!isHttpsOrigin(url)) {
    problems.push('HSM_URL must be an https URL with no path, query or credentials');
    return undefined;
  }
  return url.origin;
}

/** An optional extra CA (PEM) named by the setting `name` (`HSM_CA_FILE`, `ARM_CA_FILE`). */
export function readCaFile(env: NodeJS.ProcessEnv, name: string, problems: string[]): string | undefined {
  const file = env[name]?.trim();
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch {
    problems.push(`${name} names a file that cannot be read`);
    return undefined;
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    problems.push(`${name} must hold a PEM certificate`);
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
    const appServiceEndpoint = url?.protocol === 'http:' && isLinkLocalHost(url.hostname);
    if (!endpoint || !header) problems.push('IDENTITY_ENDPOINT and IDENTITY_HEADER must be set together');
    else if (!appServiceEndpoint && !isAllowedUrl(url)) {
      problems.push('IDENTITY_ENDPOINT must be an https URL (plain http only on the link-local address App Service uses, 169.254.x.x, or on 127.0.0.1/localhost)');
    } else config.endpoint = endpoint;
  }
  if (clientId) {
    if (!isGuid(clientId)) problems.push('AZURE_CLIENT_ID must be the managed identity\'s client id (a GUID)');
    else config.clientId = clientId;
  }
  return config;
}

function readAudience(env: NodeJS.ProcessEnv, problems: string[]): string {
  const audience = env.API_AUDIENCE?.trim() || DEFAULT_API_AUDIENCE;
  if (!parseUrl(audience) && !isGuid(audience)) problems.push('API_AUDIENCE must be an application id URI (e.g. api://hsm-access-governor) or a client id');
  return audience;
}

function readTenant(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const tenant = env.AZURE_TENANT_ID?.trim();
  if (!tenant) problems.push("AZURE_TENANT_ID is not set (the service's own Entra tenant id: callers of other tenants are refused)");
  else if (!isGuid(tenant)) problems.push('AZURE_TENANT_ID must be the Entra tenant id (a GUID)');
  else return tenant.toLowerCase();
  return undefined;
}

/** Reads and checks every setting, reporting all problems at once. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = unresolvedKeyVaultReferences(env);
  const storage = readStorage(env, problems);
  const policyFile = readPolicyFile(env, problems);
  const hsmUrl = readHsmUrl(env, problems);
  const hsmCaPem = readCaFile(env, 'HSM_CA_FILE', problems);
  const managedIdentity = readManagedIdentity(env, problems);
  const apiAudience = readAudience(env, problems);
  const tenantId = readTenant(env, problems);
  if (problems.length > 0 || !storage || !policyFile || !hsmUrl || !tenantId) throw new ConfigurationError(problems);
  return { storage, policyFile, hsmUrl, ...(hsmCaPem ? { hsmCaPem } : {}), managedIdentity, apiAudience, tenantId };
}

/** The settings that shape the app, to tell whether a cached context still matches them. */
export const CONFIG_SETTING_NAMES = [
  'AzureWebJobsStorage', ...STORAGE_SETTING_NAMES, 'STORAGE_CA_FILE', 'POLICY_FILE', 'HSM_URL',
  'HSM_CA_FILE', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'AZURE_CLIENT_ID', 'API_AUDIENCE', 'AZURE_TENANT_ID',
  'ARM_SUBSCRIPTION_ID', 'ARM_ENDPOINT', 'ARM_CA_FILE',
  // Notifications and review links (loadNotificationConfig).
  'PUBLIC_BASE_URL', 'REVIEW_LINK_KEYS', 'REVIEW_LINK_TTL', 'SMTP_HOST', 'SMTP_PORT', 'SMTP_SECURE', 'SMTP_USER', 'SMTP_PASSWORD', 'SMTP_FROM',
  'TEAMS_WEBHOOK_URL',
  // Events (loadEventGridConfig).
  'EVENTGRID_TOPIC_ENDPOINT', 'EVENTGRID_TOPIC_KEY', 'EVENTGRID_CA_FILE', 'EVENT_SOURCE',
  // The HSM's audit log (loadAuditLogStorage).
  'AUDIT_LOGS_STORAGE', 'AUDIT_LOGS_STORAGE__blobServiceUri', 'AUDIT_LOGS_STORAGE__accountName',
  // Microsoft Graph (readGraphSettings).
  'GRAPH_ENDPOINT', 'GRAPH_CA_FILE',
  // The Teams bot (readBotSettings).
  'BOT_APP_ID', 'BOT_OPENID_METADATA_URL', 'BOT_TOKEN_ISSUER',
] as const;

// ---- the HSM's audit log ----

/** The blob trigger's `connection`: the storage account the HSM's diagnostic setting writes AuditEvent logs to. */
export const AUDIT_LOGS_CONNECTION = 'AUDIT_LOGS_STORAGE';

export type AuditLogStorage = (
  | { kind: 'connectionString'; connectionString: string }
  /** Identity-based (`AUDIT_LOGS_STORAGE__blobServiceUri` or `__accountName`), as the Functions host reads it too. */
  | { kind: 'identity'; blobEndpoint: string }
) & {
  /** STORAGE_CA_FILE's CA (the local Azurite's), trusted as for the app's own storage. */
  caPem?: string;
  /** Plain http only for a local emulator on loopback. */
  allowInsecureConnection?: boolean;
};

/** Where the HSM's AuditEvent logs are; undefined when no account is configured (evidence is then off). */
export function loadAuditLogStorage(env: NodeJS.ProcessEnv): AuditLogStorage | undefined {
  const problems: string[] = [];
  const caPem = readCaFile(env, 'STORAGE_CA_FILE', problems);
  if (problems.length > 0) throw new ConfigurationError(problems);
  const trust = caPem ? { caPem } : {};
  const connectionString = env[AUDIT_LOGS_CONNECTION]?.trim();
  if (connectionString) {
    const parts = connectionStringParts(connectionString);
    const endpoint = parts.get('blobendpoint') ?? (parts.get('accountname') ? `${parts.get('defaultendpointsprotocol') ?? 'https'}://${parts.get('accountname')}.blob.${parts.get('endpointsuffix') ?? 'core.windows.net'}` : undefined);
    const url = endpoint ? parseUrl(endpoint) : undefined;
    if (!isAllowedUrl(url)) throw new ConfigurationError([`${AUDIT_LOGS_CONNECTION} must be a storage connection string with an https blob endpoint (plain http only for a local emulator)`]);
    return { kind: 'connectionString', connectionString, ...trust, ...(url.protocol === 'http:' ? { allowInsecureConnection: true } : {}) };
  }
  const uri = env[`${AUDIT_LOGS_CONNECTION}__blobServiceUri`]?.trim();
  const account = env[`${AUDIT_LOGS_CONNECTION}__accountName`]?.trim();
  if (!uri && !account) return undefined;
  const blobEndpoint = uri || `https://${account}.blob.core.windows.net`;
  const url = parseUrl(blobEndpoint);
  if (!url || url.protocol !== 'https:') throw new ConfigurationError([`${AUDIT_LOGS_CONNECTION}__blobServiceUri must be an https URL (${AUDIT_LOGS_CONNECTION}__accountName a storage account name)`]);
  return { kind: 'identity', blobEndpoint: blobEndpoint.replace(/\/+$/, ''), ...trust };
}

// ---- notifications and review links ----

export interface SmtpConfig {
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS, required off loopback. */
  secure: boolean;
  loopback: boolean;
  user?: string;
  password?: string;
  from: string;
}

export interface NotificationConfig {
  /** Where the app is reached from a browser, e.g. `https://governor.contoso.com` (no trailing slash). */
  publicBaseUrl?: string;
  /** HMAC keys for review links: the first signs, all verify (rotation with overlap). Empty: no review links. */
  reviewLinkKeys: string[];
  /** How long a review link stays valid. */
  reviewLinkTtlMs: number;
  /** Absent when SMTP_HOST is not set: no email. */
  smtp?: SmtpConfig;
  /** Teams webhook URLs by the app-setting names the policy uses; names whose setting is empty are left out. */
  teamsWebhooks: Record<string, string>;
}

export const DEFAULT_REVIEW_LINK_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * The notification settings. Every one is optional (the feature is off without it), but one that
 * is set and malformed stops the app like any other setting. `webhookSettings` are the app-setting
 * names the policy gives for Teams webhooks.
 */
export function loadNotificationConfig(env: NodeJS.ProcessEnv = process.env, webhookSettings: readonly string[] = []): NotificationConfig {
  const problems: string[] = unresolvedKeyVaultReferences(env, ['PUBLIC_BASE_URL', 'REVIEW_LINK_KEYS', 'SMTP_HOST', 'SMTP_USER', 'SMTP_PASSWORD', 'SMTP_FROM', ...webhookSettings]);
  if (problems.length > 0) throw new ConfigurationError(problems);
  const config: NotificationConfig = { reviewLinkKeys: [], reviewLinkTtlMs: DEFAULT_REVIEW_LINK_TTL_MS, teamsWebhooks: {} };

  const base = env.PUBLIC_BASE_URL?.trim();
  if (base) {
    const url = parseUrl(base);
    if (!isAllowedUrl(url) || url.search || url.hash || url.username || url.password) problems.push('PUBLIC_BASE_URL must be an https URL without query or credentials (plain http only on 127.0.0.1/localhost)');
    else config.publicBaseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  }

  const keys = env.REVIEW_LINK_KEYS?.trim();
  if (keys) {
    const list = keys.split(',').map((k) => k.trim()).filter((k) => k !== '');
    if (list.length === 0 || list.some((k) => k.length < MIN_REVIEW_KEY_LENGTH || /\s/.test(k))) {
      problems.push(`REVIEW_LINK_KEYS must be a comma-separated list of secrets of ${MIN_REVIEW_KEY_LENGTH}+ characters, the current key first`);
    } else config.reviewLinkKeys = list;
  }

  const ttl = env.REVIEW_LINK_TTL?.trim();
  if (ttl) {
    const ms = parseIsoDuration(ttl) ?? 0;
    if (ms < 60_000) problems.push('REVIEW_LINK_TTL must be an ISO 8601 duration of a minute or more, e.g. P7D');
    else config.reviewLinkTtlMs = ms;
  }

  const host = env.SMTP_HOST?.trim();
  if (host) {
    const portText = env.SMTP_PORT?.trim() || '587';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) problems.push('SMTP_PORT must be a port number');
    const secureText = env.SMTP_SECURE?.trim().toLowerCase();
    if (secureText && secureText !== 'true' && secureText !== 'false') problems.push('SMTP_SECURE must be true or false');
    const from = env.SMTP_FROM?.trim();
    if (!from || !/^[^\s@<>]+@[^\s@<>]+$|^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/.test(from)) problems.push('SMTP_FROM must be the sender address (name@domain or "Name <name@domain>") when SMTP_HOST is set');
    const user = env.SMTP_USER?.trim();
    const password = env.SMTP_PASSWORD;
    if (password && !user) problems.push('SMTP_PASSWORD is set without SMTP_USER');
    if (port >= 1 && port <= 65535 && from) {
      config.smtp = {
        host,
        port,
        secure: secureText ? secureText === 'true' : port === 465,
        loopback: isLoopbackHost(host),
        ...(user ? { user } : {}),
        ...(password ? { password } : {}),
        from,
      };
    }
  }

  for (const name of new Set(webhookSettings)) {
    const value = env[name]?.trim();
    if (!value) continue;
    if (!isAllowedUrl(parseUrl(value))) problems.push(`${name} must be an https URL (a Teams Workflows webhook; plain http only on 127.0.0.1/localhost)`);
    else config.teamsWebhooks[name] = value;
  }

  if (problems.length > 0) throw new ConfigurationError(problems);
  return config;
}

// ---- events ----

export interface EventGridConfig {
  /** The topic's endpoint, `https://{topic}.{region}-1.eventgrid.azure.net/api/events`. */
  topicEndpoint: string;
  /** The topic's access key; absent: the managed identity signs in ("EventGrid Data Sender" on the topic). */
  topicKey?: string;
  /** An extra CA to trust for the topic (the local emulator's), as PEM. */
  caPem?: string;
  /** The CloudEvents `source` of every event this instance publishes. */
  source: string;
}

/**
 * The Event Grid settings, or undefined when EVENTGRID_TOPIC_ENDPOINT is not set: then no event is
 * written to the outbox at all (nobody would ever drain it). `defaultSource` stands for EVENT_SOURCE
 * when that is not set.
 */
export function loadEventGridConfig(env: NodeJS.ProcessEnv, defaultSource: string): EventGridConfig | undefined {
  const endpoint = env.EVENTGRID_TOPIC_ENDPOINT?.trim();
  if (!endpoint) return undefined;
  const problems: string[] = [];
  const url = parseUrl(endpoint);
  if (!url || url.protocol !== 'https:' || url.username || url.password) problems.push('EVENTGRID_TOPIC_ENDPOINT must be the topic\'s https endpoint (https://{topic}.{region}-1.eventgrid.azure.net/api/events)');
  const caPem = readCaFile(env, 'EVENTGRID_CA_FILE', problems);
  const source = env.EVENT_SOURCE?.trim() || defaultSource;
  // CloudEvents: `source` is a non-empty URI-reference.
  if (/\s/.test(source) || (!source.startsWith('/') && !parseUrl(source))) problems.push('EVENT_SOURCE must be a URI or an absolute path, e.g. /hsm-access-governor/contoso-hsm');
  if (problems.length > 0) throw new ConfigurationError(problems);
  const topicKey = env.EVENTGRID_TOPIC_KEY?.trim();
  return { topicEndpoint: endpoint, ...(topicKey ? { topicKey } : {}), ...(caPem ? { caPem } : {}), source };
}
