import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, parse, resolve } from 'node:path';
import { startAzurite, DEFAULT_AZURITE_PORTS, type Azurite } from './azurite';
import { startFunctionsHost, type FunctionsHost, type HostLogger } from './host';
import { startHsmEmulator } from './hsm-emulator';
import { startArmEmulator, type ArmEmulator } from './arm-emulator';
import { ISSUER, startIdentityProvider, type IdentityProvider } from './idp/server';
import { createTokenVerifier } from './idp/verify';
import { PERSONAS, SERVICE_PERSONA, TENANT_ID } from './personas';
import { freePort, notificationSettings, startNotificationSinks } from './notifications';
import type { MailSink } from './mail-sink';
import type { TeamsSink } from './teams-sink';
import { BLOB_CREATED, blobCreatedEvent, startEventGridEmulator, type EventGridEmulator } from './eventgrid-emulator';
import { startTeamsChannel, type TeamsChannel } from './teams-channel';
import { startGraphEmulator, type GraphEmulator } from './graph-emulator';

export const REPO_ROOT = resolve(__dirname, '..');
export const API_AUDIENCE = 'api://hsm-access-governor';
export const DEFAULT_POLICY_FILE = join(REPO_ROOT, 'examples', 'contoso', 'policy.yaml');
export const SEEDS = {
  contoso: join(REPO_ROOT, 'examples', 'contoso', 'hsm-seed.json'),
  drifted: join(REPO_ROOT, 'examples', 'contoso', 'hsm-seed-drifted.json'),
} as const;
export const DEFAULT_PORTS = { api: 7071, hsm: 7443, arm: 7444, idp: 7070, eventGrid: 7445, teamsChannel: 7446, storageEvents: 7447, azurite: DEFAULT_AZURITE_PORTS } as const;
/** The bot's Microsoft App ID locally (in Azure: the client id of the app's managed identity). */
export const LOCAL_BOT_APP_ID = '6c1b5a3e-2f0d-4c8e-9a7b-0d5e4f3a2b1c';
/** Azure RBAC of the subscription that holds ContosoMHSM (the management plane). */
export const ARM_SEED = join(REPO_ROOT, 'examples', 'contoso', 'arm-seed.json');
export const CONTOSO_SUBSCRIPTION_ID = '00000000-0000-0000-0000-00000000c0de';
/** The app's own Event Grid trigger for access requests raised as events (functions/events.ts). */
export const INBOUND_EVENTS_FUNCTION = 'events-submit';
/** The source examples/contoso/policy.yaml trusts to raise access requests as events. */
export const CONTOSO_ITSM_SOURCE = 'https://itsm.contoso.example/hsm-access';

/** The Contoso HSM's ARM id (examples/contoso/arm-seed.json): its audit blobs are named after it. */
export const CONTOSO_HSM_RESOURCE_ID = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
/** The storage account the HSM's diagnostic setting sends its AuditEvent log to (the seed's contosologstorage; Azurite here). */
export const CONTOSO_LOG_STORAGE_ID = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.Storage/storageAccounts/contosologstorage`;
/** The app's blob trigger on the AuditEvent container (functions/evidence.ts). */
export const AUDIT_INGEST_FUNCTION = 'audit-ingest';
export const AUDIT_LOG_CONTAINER = 'insights-logs-auditevent';
export type HsmEmulator = Awaited<ReturnType<typeof startHsmEmulator>>;

export interface StackOptions {
  /** Everything the stack keeps: keys, the emulator's state and CA, Azurite's files, endpoints.json. */
  dataDir: string;
  /** `default`: the documented ports (api 7071, hsm 7443, idp 7070, Azurite 10000-10002); `random`: free ones. */
  ports?: 'default' | 'random';
  /** The HSM's initial content: `contoso`, `drifted` or a seed file path (default `contoso`). */
  seed?: 'contoso' | 'drifted' | string;
  /** POLICY_FILE for the app (default examples/contoso/policy.yaml). */
  policyFile?: string;
  /** Wipe dataDir first. */
  fresh?: boolean;
  /** Extra app settings for the function app. */
  env?: Record<string, string>;
  /** Keep Azurite in memory (default: only with random ports). */
  inMemoryStorage?: boolean;
  /** Host log lines (default: the console). */
  logger?: HostLogger;
  /** Run timer schedules (default true). */
  timers?: boolean;
  /**
   * Whether the HSM writes its AuditEvent log to Azurite (insights-logs-auditevent), the storage
   * account's system topic raises BlobCreated for each append and the app reads it. `npm start` turns
   * it on; test stacks leave it off unless they ask: a role assignment a test makes directly on the HSM
   * would start a reconciliation run of its own, beside the runs the test starts and counts.
   */
  auditLog?: boolean;
  /** How much faster than the wall clock the ARM emulator runs PIM schedules (default 1). */
  armTimeScale?: number;
}

/**
 * The app's storage as in Azure (infra/main.bicep): an identity-based `AzureWebJobsStorage`
 * connection to Azurite over HTTPS, signed in as the app's managed identity (the identity provider's
 * App Service endpoint), with no key in the settings. STORAGE_CA_FILE makes the app trust Azurite's
 * CA as HSM_CA_FILE does the HSM emulator's. Azurite's key stays for direct reads by tests and tools
 * (`storageConnectionString` in endpoints.json).
 */
export function identityStorageSettings(azurite: Pick<Azurite, 'blobEndpoint' | 'queueEndpoint' | 'tableEndpoint' | 'caFile'>): Record<string, string> {
  return {
    AzureWebJobsStorage__blobServiceUri: azurite.blobEndpoint,
    AzureWebJobsStorage__queueServiceUri: azurite.queueEndpoint,
    AzureWebJobsStorage__tableServiceUri: azurite.tableEndpoint,
    AzureWebJobsStorage__credential: 'managedidentity',
    ...(azurite.caFile ? { STORAGE_CA_FILE: azurite.caFile } : {}),
  };
}

/** The blob trigger's connection to the log account (Azurite here), identity-based as infra/main.bicep sets it. */
export function auditLogStorageSettings(azurite: Pick<Azurite, 'blobEndpoint' | 'queueEndpoint'>): Record<string, string> {
  return {
    AUDIT_LOGS_STORAGE__blobServiceUri: azurite.blobEndpoint,
    AUDIT_LOGS_STORAGE__queueServiceUri: azurite.queueEndpoint,
    AUDIT_LOGS_STORAGE__credential: 'managedidentity',
  };
}

/** What `<dataDir>/endpoints.json` holds. */
export interface StackEndpoints {
  api: string;
  hsm: string;
  hsmCaFile: string;
  storageConnectionString: string;
  /** Azurite's CA: what a client of storageConnectionString trusts. */
  storageCaFile: string;
  idp: string;
  hostKey: string;
  [more: string]: string;
}

export interface Stack {
  readonly dataDir: string;
  readonly endpoints: StackEndpoints;
  readonly idp: IdentityProvider;
  readonly hsm: HsmEmulator;
  /** Azure Resource Manager's Microsoft.Authorization (the management plane), seeded from examples/contoso/arm-seed.json. */
  readonly arm: ArmEmulator;
  readonly azurite: Azurite;
  readonly host: FunctionsHost;
  /** Where the app's email and Teams notifications land (dev/mail-sink, dev/teams-sink). */
  readonly mailSink: MailSink;
  readonly teamsSink: TeamsSink;
  /** The Event Grid topic the app publishes to, subscribed back into the app's own trigger (dev/eventgrid-emulator). */
  readonly eventGrid: EventGridEmulator;
  /** The log storage account's system topic: BlobCreated of the AuditEvent blobs, subscribed into the app's blob trigger. */
  readonly storageEvents: EventGridEmulator;
  /** The Bot Framework channel for Teams (dev/teams-channel): signs activities to /api/messages, takes the bot's replies. */
  readonly teamsChannel: TeamsChannel;
  /** Microsoft Graph's membership calls (dev/graph-emulator), on a free port: the groups of callers in a groups overage. */
  readonly graph: GraphEmulator;
  /** The app settings the function app runs with. */
  readonly appSettings: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export function resolveSeed(seed: StackOptions['seed'] = 'contoso'): string {
  if (seed === 'contoso' || seed === 'drifted') return SEEDS[seed];
  const path = isAbsolute(seed) ? seed : resolve(process.cwd(), seed);
  if (!existsSync(path)) throw new Error(`Seed file ${path} does not exist (use contoso, drifted or a path)`);
  return path;
}

/** `--fresh` deletes a directory; never one that holds more than the stack's own data. */
function wipe(dataDir: string): void {
  const target = resolve(dataDir);
  const forbidden = [parse(target).root, REPO_ROOT, homedir(), dirname(REPO_ROOT)].map((p) => resolve(p));
  if (forbidden.includes(target)) throw new Error(`Refusing to wipe ${target}`);
  rmSync(target, { recursive: true, force: true });
}

export function writeEndpoints(dataDir: string, endpoints: StackEndpoints): void {
  writeFileSync(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The whole local stack on 127.0.0.1: the dev identity provider, the seeded Managed HSM emulator,
 * Azurite and the Functions host running the app with the settings Azure would give it.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const dataDir = resolve(options.dataDir);
  if (options.fresh) wipe(dataDir);
  mkdirSync(dataDir, { recursive: true });
  const random = options.ports === 'random';
  const seed = resolveSeed(options.seed);
  const policyFile = resolve(options.policyFile ?? DEFAULT_POLICY_FILE);
  const inMemoryStorage = options.inMemoryStorage ?? random;

  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    closers.length = 0;
  };
  /** What has started is closed with the stack, or at once when a later part fails to start. */
  const started = async <T extends { close(): Promise<void> }>(starting: Promise<T>): Promise<T> => {
    const part = await starting;
    closers.push(() => part.close());
    return part;
  };
  const port = (name: Exclude<keyof typeof DEFAULT_PORTS, 'azurite'>): number => (random ? 0 : DEFAULT_PORTS[name]);

  try {
    const idp = await started(startIdentityProvider({ port: port('idp'), dataDir }));
    const [hsm, azurite, arm] = await Promise.all([
      started(startHsmEmulator({
        port: port('hsm'),
        dataDir: join(dataDir, 'hsm'),
        seed,
        issuer: ISSUER,
        jwk: idp.publicJwk,
        tenantId: TENANT_ID,
      })),
      started(startAzurite({
        ...(inMemoryStorage ? {} : { location: join(dataDir, 'azurite') }),
        ports: random ? { blob: 0, queue: 0, table: 0 } : DEFAULT_PORTS.azurite,
        oauth: { tlsDirectory: join(dataDir, 'azurite-tls') },
      })),
      started(startArmEmulator({
        port: port('arm'),
        dataDir: join(dataDir, 'arm'),
        seed: ARM_SEED,
        issuer: ISSUER,
        jwk: idp.publicJwk,
        tenantId: TENANT_ID,
        subscriptionId: CONTOSO_SUBSCRIPTION_ID,
        ...(options.armTimeScale ? { timeScale: options.armTimeScale } : {}),
      })),
    ]);
    const sinks = await started(startNotificationSinks({ random }));
    // The app publishes as in Azure, with its managed identity ("EventGrid Data Sender" on the topic);
    // the topic key stays for other publishers (an ITSM), as a topic that allows local auth keeps it.
    const eventGrid = await started(startEventGridEmulator({
      port: port('eventGrid'),
      dataDir: join(dataDir, 'eventgrid'),
      entra: { issuer: ISSUER, jwk: idp.publicJwk, dataSenders: [PERSONAS[SERVICE_PERSONA].oid] },
    }));
    const teamsChannel = await started(startTeamsChannel({ port: port('teamsChannel'), botAppId: LOCAL_BOT_APP_ID, connectorTokens: { issuer: ISSUER, jwk: idp.publicJwk } }));
    const auditLog = options.auditLog ?? process.env.HSMGOV_STACK_AUDIT_LOG === '1';
    const storageEvents = await started(startEventGridEmulator({ port: port('storageEvents'), topicName: 'contosologstorage', systemTopicSource: CONTOSO_LOG_STORAGE_ID }));
    // The app's identity holds the application permissions infra/README.md has an admin grant it.
    const graph = await started(startGraphEmulator({
      dataDir: join(dataDir, 'graph'),
      entra: { issuer: ISSUER, jwk: idp.publicJwk },
      applicationPermissions: { [PERSONAS[SERVICE_PERSONA].oid]: ['GroupMember.Read.All', 'User.Read.All'] },
    }));
    // Review links name the app's public URL, so its port is chosen before the host starts.
    const apiPort = random ? await freePort() : DEFAULT_PORTS.api;

    // The HSM's diagnostic setting sends its AuditEvent log to a storage account (Azurite here), whose
    // system topic raises BlobCreated for every Put Block List, that is for every append.
    if (auditLog) {
      hsm.sendAuditLogTo({
        connectionString: azurite.connectionString,
        ...(azurite.caPem ? { caPem: azurite.caPem } : {}),
        resourceId: CONTOSO_HSM_RESOURCE_ID,
        onAppended: (blob) => storageEvents.raise([blobCreatedEvent({ url: blob.url, container: AUDIT_LOG_CONTAINER, name: blob.name, eTag: blob.eTag, contentLength: blob.contentLength })]),
      });
    }
    const appSettings: Record<string, string> = {
      ...identityStorageSettings(azurite),
      POLICY_FILE: policyFile,
      HSM_URL: hsm.url,
      HSM_CA_FILE: hsm.caFile,
      ARM_SUBSCRIPTION_ID: CONTOSO_SUBSCRIPTION_ID,
      ARM_ENDPOINT: arm.url,
      ARM_CA_FILE: arm.caFile,
      IDENTITY_ENDPOINT: idp.managedIdentityEndpoint,
      IDENTITY_HEADER: idp.identityHeader,
      API_AUDIENCE,
      AZURE_TENANT_ID: TENANT_ID,
      RECONCILE_SCHEDULE: '0 0 2 * * *',
      // The emulator does not throttle unless told to: reconcile at a brisk pace locally.
      HSM_REQUESTS_PER_SECOND: '200',
      ...notificationSettings(sinks, `http://127.0.0.1:${apiPort}`, dataDir),
      EVENTGRID_TOPIC_ENDPOINT: eventGrid.endpoint,
      EVENTGRID_CA_FILE: eventGrid.caFile,
      BOT_APP_ID: LOCAL_BOT_APP_ID,
      BOT_OPENID_METADATA_URL: teamsChannel.openIdMetadataUrl,
      // The log storage account, and the service's own object id, whose role-assignment calls in the log
      // are its own work and not drift (in Azure the bicep sets both).
      ...(auditLog ? { ...auditLogStorageSettings(azurite), SERVICE_OBJECT_ID: PERSONAS[SERVICE_PERSONA].oid } : {}),
      GRAPH_ENDPOINT: graph.url,
      GRAPH_CA_FILE: graph.caFile,
      ...options.env,
    };
    const host = await started(startFunctionsHost({
      port: apiPort,
      env: appSettings,
      dataDir,
      verifier: createTokenVerifier({ issuer: ISSUER, audience: API_AUDIENCE, jwk: idp.publicJwk }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.timers === false ? { timers: false } : {}),
    }));
    teamsChannel.connectBot(`${host.url}/api/messages`);
    await eventGrid.addSubscription({
      name: 'governor-inbound-requests',
      endpoint: `${host.url}/runtime/webhooks/eventgrid?functionName=${INBOUND_EVENTS_FUNCTION}&code=${encodeURIComponent(host.hostKey)}`,
      eventTypes: ['HsmAccess.Request.Submit.v1'],
    });
    if (auditLog) {
      // As infra/audit-log-subscription.bicep does in Azure: the blobs extension's webhook with its system key.
      await storageEvents.addSubscription({
        name: 'governor-audit-logs',
        endpoint: `${host.url}/runtime/webhooks/blobs?functionName=Host.Functions.${AUDIT_INGEST_FUNCTION}&code=${encodeURIComponent(host.blobsExtensionKey)}`,
        eventTypes: [BLOB_CREATED],
        subjectBeginsWith: `/blobServices/default/containers/${AUDIT_LOG_CONTAINER}/`,
        deliverySchema: 'EventGridSchema',
      });
    }

    const endpoints: StackEndpoints = {
      api: host.url,
      hsm: hsm.url,
      hsmCaFile: hsm.caFile,
      arm: arm.url,
      armCaFile: arm.caFile,
      storageConnectionString: azurite.connectionString,
      storageCaFile: azurite.caFile ?? '',
      idp: idp.url,
      hostKey: host.hostKey,
      mailSink: sinks.mailSink.url,
      teamsSink: sinks.teamsSink.url,
      eventGrid: eventGrid.endpoint,
      eventGridKey: eventGrid.accessKey,
      eventGridCaFile: eventGrid.caFile,
      teamsChannel: teamsChannel.url,
      graph: graph.url,
      graphCaFile: graph.caFile,
    };
    writeEndpoints(dataDir, endpoints);

    let closing: Promise<void> | undefined;
    return {
      dataDir,
      endpoints,
      idp,
      hsm,
      arm,
      azurite,
      host,
      mailSink: sinks.mailSink,
      teamsSink: sinks.teamsSink,
      eventGrid,
      storageEvents,
      teamsChannel,
      graph,
      appSettings,
      close: () => {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
