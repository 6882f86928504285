import type { TokenCredential } from '@azure/core-auth';
import { randomBytes, randomUUID } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import { CONFIG_SETTING_NAMES, loadConfig, type AppConfig } from './adapters/config';
import { createServiceCredential, createStorageCredential } from './adapters/credentials';
import { createHsmAccessControlClient, type HsmAccessControlClient } from './adapters/hsm-rbac';
import { HsmAssignmentPort } from './adapters/hsm-rbac/assignmentPort';
import { loadPolicyFile } from './adapters/policyFile';
import { LEDGER_PARTITION } from './adapters/storage/ledger';
import { ALL_PARTITIONS, PartitionedLedger } from './adapters/storage/partitionedLedger';
import { QueueRevocationScheduler, REVOCATION_QUEUE } from './adapters/storage/revocationQueue';
import { createQueueClient, createTableClient, pingStorage } from './adapters/storage/tables';
import { defaultHsmName, type AccessRequest, type Policy } from './domain';
import { AccessRequestService } from './services/accessRequests';
import { WakeRegistry } from './services/requests/wakeups';
import { ReconciliationService } from './services/reconciliation';
import { HsmInventory } from './adapters/hsm-rbac/inventory';
import { TableReconcileStore } from './adapters/storage/reconcileStore';
import { QueueRunContinuation, RECONCILE_QUEUE } from './adapters/storage/runQueue';
import { readReconcileSettings, type ReconcileSettings } from './adapters/reconcileSettings';
import type { Clock, ServiceLog } from './services/ports';
import { createNotificationSetup } from './adapters/notify';
import type { NotificationService } from './services/notifications';
import { CsrfProtection } from './services/csrf';
import { createAzureRbacAdapters } from './adapters/arm-rbac/setup';
import { ArmReconciliationService } from './services/armReconciliation';
import { hostname } from 'node:os';
import { loadEventGridConfig, type EventGridConfig } from './adapters/config';
import { EventGridPublisher } from './adapters/eventgrid';
import { TableOutbox } from './adapters/storage/outbox';
import { OutboxDrainer, PartitionedOutboxDrainer } from './services/outbox';
import { NoticeDrainer } from './services/notices';
import { TableNotices } from './adapters/storage/notices';
import { EventSubmissionService } from './services/eventsInbound';
import { driftNotifier } from './services/reconciliationNotices';
import { metrics, processLog, telemetryEnabled } from './adapters/telemetry';
import { driftRecorder, workloadGaugeRecorder } from './services/workloadGauges';
import { EligibilityService, KeyListCache } from './services/eligibility';
import { PortalService } from './web/portal';
import { loadAuditLogStorage } from './adapters/config';
import { auditLogContainerOf, StorageAuditBlobReader } from './adapters/storage/auditBlobs';
import { TableEvidenceStore } from './adapters/storage/evidenceStore';
import { AuditIngestionService } from './services/auditIngestion';
import { EvidenceReactionService } from './services/evidenceReactions';
import { EvidenceService } from './services/evidence';
import { listAll } from './services/ports';
import { OversightPages } from './web/admin';
import { createTeamsBot, installationRecorder, readBotSettings, TableTeamsBotStore, TEAMS_BOT_TABLE, type ActivityProcessor, type TeamsBot } from './adapters/teams-bot';
import { DirectoryGroupMembers } from './services/groupMembers';
import { TeamsApprovalService, type DirectoryPort } from './services/teamsApprovals';
import { TeamsCardService } from './services/teamsCards';
import { RequestPageService } from './web/requestPage';
import { GraphDirectory, readGraphSettings } from './adapters/graph';
import { CallerGroups } from './services/callerGroups';
import type { GroupDirectory } from './services/directoryPorts';

export type { HsmAccessControlClient } from './adapters/hsm-rbac';
// What the Functions edge needs of the adapters goes through the composition root: functions/ never
// imports an adapter itself (the layer rules in .dependency-cruiser.cjs).
export { bearerChallenge } from './adapters/bearerChallenge';
export { ConfigurationError } from './adapters/config';
export { identify, principalFromHeaders, WRONG_TENANT_DETAIL, type Identification } from './adapters/easyAuth';
export { REVOCATION_QUEUE, type RevocationMessage } from './adapters/storage/revocationQueue';
export {
  currentInvocation,
  logAttributes,
  metrics,
  processLog,
  runInvocation,
  startTelemetry,
  telemetryEnabled,
  traceIdOf,
  type InvocationKind,
} from './adapters/telemetry';
export { readBotSettings, type ActivityProcessor } from './adapters/teams-bot';
export { RECONCILE_QUEUE, type RunMessage } from './adapters/storage/runQueue';

/** Everything a function needs from the outside world, built once from the app settings. */
export interface AppContext {
  readonly config: AppConfig;
  /** The service's managed identity. */
  readonly credential: TokenCredential;
  /** The governed HSM's RBAC client, acting as the service's identity. */
  hsm(): HsmAccessControlClient;
  tableClient(tableName: string): TableClient;
  pingStorage(abortSignal?: AbortSignal): Promise<void>;
  /** The validated policy (POLICY_FILE). */
  readonly policy: Policy;
  /** The access request workflow, logging through `log`. */
  requests(log?: ServiceLog): AccessRequestService;
  /** Drift reconciliation and the auditors' inventory. */
  reconciliation(log?: ServiceLog): ReconciliationService;
  readonly reconcileSettings: ReconcileSettings;
  /** Teams and email notifications (the workflow calls them on every change; the timer for reminders). */
  notifications(log?: ServiceLog): NotificationService;
  /** The review page behind the notifications' links. */
  /** The one page per request, in the portal and behind the review links. */
  requestPage(log?: ServiceLog): RequestPageService;
  /** Cross-site request checks and CSRF tokens, for the API and the review page alike. */
  readonly csrf: CsrfProtection;
  /** The Event Grid topic events go to; undefined when none is configured (then no event is written). */
  readonly eventGrid?: EventGridConfig;
  /**
   * Publishes the outbox of every ledger partition (one per process, so kicks after commits
   * coalesce; a commit kicks only its own partition's); undefined without a topic.
   */
  outbox(): PartitionedOutboxDrainer | undefined;
  /** Access requests raised as events (the Event Grid trigger). */
  eventSubmissions(log?: ServiceLog): EventSubmissionService;
  /**
   * Sends the notifications committed changes owe, from their notice rows (one per process; a commit
   * kicks its own partition's drain, the notices timer drains them all).
   */
  notices(): NoticeDrainer;
  /** Records the audit chains' heads in the anchor chain (the audit-anchor timer). */
  auditAnchors(): Pick<PartitionedLedger, 'anchor'>;
  /** Records the active-grant and pending-approval gauges (at most once a minute; nothing while telemetry is off). */
  recordWorkload(): Promise<void>;
  /** What the caller may ask for, and why a request would be allowed or refused. */
  eligibility(log?: ServiceLog): EligibilityService;
  /** The portal's pages. */
  portal(log?: ServiceLog): PortalService;
  /** Reads the HSM's AuditEvent blobs (the blob trigger); undefined when AUDIT_LOGS_STORAGE is not set. */
  auditIngestion(log?: ServiceLog): AuditIngestionService | undefined;
  /** Usage per grant and the auditors' usage report, from what the audit log showed. */
  evidence(): EvidenceService;
  /** The portal's pages for administrators and auditors (running grants, audit trail). */
  oversight(log?: ServiceLog): OversightPages;
  /** The Teams bot's activity processor (POST /api/messages); undefined without BOT_APP_ID. */
  teamsBot(): ActivityProcessor | undefined;
  /** The bot's approval cards, sent and updated after each change; undefined without BOT_APP_ID. */
  teamsCards(log?: ServiceLog): TeamsCardService | undefined;
  /** Microsoft Graph as the app's managed identity reads it: users' groups and groups' members. */
  readonly directory: GroupDirectory;
  /** The groups of callers whose token could not list them all (the groups overage), cached per principal. */
  readonly callerGroups: CallerGroups;
}

/** How long a workflow step waits for its Teams card updates; slower ones finish in the background. */
const CARD_WAIT_BUDGET_MS = 2000;

async function within(budgetMs: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.then(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, budgetMs)))]);
  clearTimeout(timer);
}

export const LEDGER_TABLE = 'ledger';
export const RECONCILE_TABLE = 'reconcile';
export const EVIDENCE_TABLE = 'evidence';

/** Outside an invocation (the outbox's background publishing), and where a caller passes no log. */
const consoleLog: ServiceLog = processLog;

/**
 * Builds the context from app settings; throws ConfigurationError when they are not valid. `clock`
 * is the service's time (tests stand at a grant's expiry without waiting for it).
 */
export function createAppContext(env: NodeJS.ProcessEnv = process.env, clock: Clock = { now: () => new Date() }): AppContext {
  const config = loadConfig(env);
  const credential = createServiceCredential(config.managedIdentity);
  const storageCredential = createStorageCredential(config.storage, { identity: config.managedIdentity, credential });
  const tables = new Map<string, TableClient>();
  const policy = loadPolicyFile(config.policyFile);
  const hsmUrlFor = (hsmName: string): string => {
    // HSM_URL is the governed HSM: it stands for the policy's default HSM, whatever URL the policy gives it.
    if (hsmName === policy.defaultHsm) return config.hsmUrl;
    const declared = policy.hsms.find((h) => h.name === hsmName);
    if (!declared) throw new Error(`HSM '${hsmName}' is not in the policy`);
    return declared.url;
  };
  const clients = new Map<string, HsmAccessControlClient>();
  const clientFor = (url: string): HsmAccessControlClient => {
    let client = clients.get(url);
    if (!client) {
      client = createHsmAccessControlClient({ url, credential, ...(config.hsmCaPem ? { caPem: config.hsmCaPem } : {}) });
      clients.set(url, client);
    }
    return client;
  };
  let sharedLedger: PartitionedLedger | undefined;
  // The request path's ledger (docs/ledger.md): a commit that wrote events has its partition's outbox drained.
  const ledger = (): PartitionedLedger => (sharedLedger ??= new PartitionedLedger(context.tableClient(LEDGER_TABLE), {
    onOutboxRows: (partition) => outbox()?.kick(partition),
    onNoticeRows: (partition) => notices().kick(partition),
  }));
  let noticeDrainer: NoticeDrainer | undefined;
  const notices = (): NoticeDrainer => (noticeDrainer ??= new NoticeDrainer({
    stores: new Map(ALL_PARTITIONS.map((partition) => [partition, new TableNotices(context.tableClient(LEDGER_TABLE), partition)])),
    notifications: notify.service(consoleLog),
    log: consoleLog,
  }));
  const recordWorkload = workloadGaugeRecorder(ledger, {
    activeGrants: (count) => metrics().activeGrants(count),
    pendingApprovals: (count) => metrics().pendingApprovals(count),
  });
  let reconcileStore: TableReconcileStore | undefined;
  const scheduler = new QueueRevocationScheduler(createQueueClient(config.storage, REVOCATION_QUEUE, storageCredential), clock);
  // One per process: wake-ups of a request run one after another, and the sweep does not repeat itself.
  const wakeups = new WakeRegistry();
  const reconcileSettings = readReconcileSettings(env);
  const azureRbac = createAzureRbacAdapters(env, policy, credential);
  const inventories = new Map<string, HsmInventory>();
  const inventoryFor = (hsmName: string): HsmInventory => {
    let inventory = inventories.get(hsmName);
    if (!inventory) {
      inventory = new HsmInventory({ url: hsmUrlFor(hsmName), credential, ...(config.hsmCaPem ? { caPem: config.hsmCaPem } : {}), requestsPerSecond: reconcileSettings.hsmRequestsPerSecond });
      inventories.set(hsmName, inventory);
    }
    return inventory;
  };
  const continuation = new QueueRunContinuation(createQueueClient(config.storage, RECONCILE_QUEUE, storageCredential));
  const eventGrid = loadEventGridConfig(env, `/hsm-access-governor/${defaultHsmName(policy)}`);
  let drainer: PartitionedOutboxDrainer | undefined;
  const outbox = (): PartitionedOutboxDrainer | undefined => {
    if (!eventGrid) return undefined;
    if (drainer) return drainer;
    const publisher = new EventGridPublisher({ endpoint: eventGrid.topicEndpoint, ...(eventGrid.topicKey ? { key: eventGrid.topicKey } : {}), ...(eventGrid.caPem ? { caPem: eventGrid.caPem } : {}) }, credential);
    const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    // The ledger's partitions, and the one-partition layout's for what it held before `npm run ledger:migrate`.
    const stores = new Map([LEDGER_PARTITION, ...ALL_PARTITIONS].map((partition) => [partition, new TableOutbox(context.tableClient(LEDGER_TABLE), partition)]));
    drainer = new PartitionedOutboxDrainer(
      new Map([...stores].map(([partition, store]) => [partition, new OutboxDrainer({ store, publisher, clock, log: consoleLog, holder })])),
      async (partition) => (await stores.get(partition)!.oldest(1)).length > 0,
    );
    return drainer;
  };
  const keyLists = new KeyListCache();
  const listKeys = async (hsmName: string): Promise<string[]> => {
    const names: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await inventoryFor(hsmName).listKeysPage(continuation);
      names.push(...page.keys.map((k) => k.name));
      continuation = page.continuation;
    } while (continuation);
    return names;
  };
  const notify = createNotificationSetup({ env, policy, clock, ledger, tableClient: (name) => context.tableClient(name) });
  const auditLogs = loadAuditLogStorage(env);
  let evidenceStore: TableEvidenceStore | undefined;
  const evidenceStoreOf = (): TableEvidenceStore => (evidenceStore ??= new TableEvidenceStore(context.tableClient(EVIDENCE_TABLE)));
  const auditLogReader = auditLogs ? new StorageAuditBlobReader(auditLogContainerOf(auditLogs, credential)) : undefined;
  const botSettings = readBotSettings(env, config.tenantId);
  // Activities carry no group claims: a clicker's groups come from the directory, cached, failing closed.
  const teamsDirectory: DirectoryPort = { memberGroups: (objectId) => context.callerGroups.groupsOfPerson(objectId, consoleLog) };
  let botStore: TableTeamsBotStore | undefined;
  const teamsBotStore = (): TableTeamsBotStore => (botStore ??= new TableTeamsBotStore(context.tableClient(TEAMS_BOT_TABLE)));
  let bot: TeamsBot | undefined;
  const teamsBot = (): TeamsBot | undefined => {
    if (!botSettings) return undefined;
    bot ??= createTeamsBot(
      botSettings,
      credential,
      () => {
        const cards = context.teamsCards();
        return new TeamsApprovalService({ policy, tenantId: botSettings.tenantId, requests: context.requests(), directory: teamsDirectory, clock, ...(cards ? { refreshUserIds: (request) => cards.refreshUserIds(request) } : {}) });
      },
      installationRecorder(teamsBotStore()),
    );
    return bot;
  };
  const directory = new GraphDirectory({ ...readGraphSettings(env), credential });
  const context: AppContext = {
    config,
    credential,
    directory,
    callerGroups: new CallerGroups({ directory, clock }),
    hsm: () => clientFor(config.hsmUrl),
    tableClient: (tableName) => {
      let client = tables.get(tableName);
      if (!client) {
        client = createTableClient(config.storage, tableName, storageCredential);
        tables.set(tableName, client);
      }
      return client;
    },
    pingStorage: (abortSignal) => pingStorage(config.storage, storageCredential, abortSignal),
    policy,
    requests: (log = consoleLog) =>
      new AccessRequestService({
        policy,
        ledger: ledger(),
        hsm: (hsmName) => new HsmAssignmentPort(clientFor(hsmUrlFor(hsmName))),
        ...(azureRbac ? { azureRbac: azureRbac.assignments } : {}),
        scheduler,
        clock,
        log,
        newId: randomUUID,
        wakeups,
        // Notifications leave with the commit as notice rows: the answer never waits for SMTP or Teams.
        notices: true,
        // The Teams bot's cards are updated in place, in order, after each commit (ADR 0029).
        onTransition: async (before, after) => {
          const cards = context.teamsCards(log);
          if (cards) await within(CARD_WAIT_BUDGET_MS, cards.onTransition(before, after));
        },
        ...(eventGrid ? { eventSource: eventGrid.source } : {}),
        ...(auditLogReader ? { usageOf: (request: AccessRequest) => context.evidence().grantUsage(request) } : {}),
      }),
    ...(eventGrid ? { eventGrid } : {}),
    outbox,
    notices,
    auditAnchors: () => ledger(),
    recordWorkload: () => (telemetryEnabled() ? recordWorkload() : Promise.resolve()),
    eventSubmissions: (log = consoleLog) =>
      new EventSubmissionService({
        policy,
        requests: context.requests(log),
        ledger: ledger(),
        clock,
        log,
        ...(eventGrid ? { eventSource: eventGrid.source } : {}),
      }),
    notifications: (log = consoleLog) => notify.service(log),
    oversight: (log = consoleLog) =>
      new OversightPages({
        policy, requests: context.requests(log), clock,
        keyNames: () => keyLists.keys(defaultHsmName(policy), listKeys, clock.now().getTime()),
      }),
    teamsBot: () => teamsBot()?.process,
    teamsCards: (log = consoleLog) => {
      const connector = teamsBot()?.connector;
      if (!connector) return undefined;
      return new TeamsCardService({ policy, ledger: ledger(), store: teamsBotStore(), connector, members: new DirectoryGroupMembers(directory), directory: teamsDirectory, clock, log, marks: notify.marks() });
    },
    portal: (log = consoleLog) =>
      new PortalService({ policy, requests: context.requests(log), eligibility: context.eligibility(log), csrf: context.csrf, clock }),
    eligibility: (log = consoleLog) =>
      new EligibilityService({
        policy,
        listKeys,
        myRequests: async (caller, continuation) => {
          const page = await context.requests(log).list(caller, { mine: true, ...(continuation ? { continuation } : {}) });
          if (!page.ok) throw new Error(page.detail);
          return page.value;
        },
        clock,
        log,
      }, keyLists),
    requestPage: (log = consoleLog) =>
      new RequestPageService({
        requests: context.requests(log),
        policy,
        keys: notify.config.reviewLinkKeys,
        clock,
        log,
        csrf: context.csrf,
      }),
    csrf: new CsrfProtection({
      keys: notify.config.reviewLinkKeys,
      newNonce: () => randomBytes(24).toString('base64url'),
      ...(notify.config.publicBaseUrl ? { publicBaseUrl: notify.config.publicBaseUrl } : {}),
    }),
    auditIngestion: (log = consoleLog) => {
      if (!auditLogReader) return undefined;
      const hsm = defaultHsmName(policy);
      const reactions = new EvidenceReactionService({
        policy,
        hsm,
        ledger: ledger(),
        notifications: notify.service(log),
        reconciliation: context.reconciliation(log),
        reconcileBudgetMs: reconcileSettings.httpBudgetMs,
        clock,
        log,
        ...(eventGrid ? { eventSource: eventGrid.source } : {}),
        afterCommit: () => outbox()?.kick(),
        ...(notify.config.publicBaseUrl ? { publicBaseUrl: notify.config.publicBaseUrl } : {}),
      });
      return new AuditIngestionService({
        reader: auditLogReader,
        store: evidenceStoreOf(),
        reactions,
        log,
        context: {
          grants: async () => (await listAll(ledger(), { pageSize: 1000 })).map((stored) => stored.request),
          standing: policy.standing,
          hsm,
          serviceObjectId: reconcileSettings.serviceObjectId ?? '',
        },
      });
    },
    evidence: () => new EvidenceService({ ledger: ledger(), policy, ...(auditLogReader ? { store: evidenceStoreOf() } : {}) }),
    reconcileSettings,
    reconciliation: (log = consoleLog) => {
      const serviceObjectId = reconcileSettings.serviceObjectId;
      // The management plane is part of every run when the app governs Azure RBAC scopes.
      const managementPlane = azureRbac && policy.azureRbac
        ? new ArmReconciliationService({ policy, ledger: ledger(), inventory: azureRbac.inventory, clock, log, ...(serviceObjectId ? { serviceObjectId } : {}) })
        : undefined;
      return new ReconciliationService({
        policy,
        // One store per process: it creates its table once.
        store: (reconcileStore ??= new TableReconcileStore(context.tableClient(RECONCILE_TABLE))),
        ledger: ledger(),
        inventory: inventoryFor,
        continuation,
        clock,
        log,
        newRunId: () => `${new Date().toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`,
        ...(serviceObjectId ? { serviceObjectId } : {}),
        ...(managementPlane ? { planes: [managementPlane] } : {}),
        ...(eventGrid ? { eventSource: eventGrid.source } : {}),
        maxAttempts: reconcileSettings.maxAttempts,
        retryDelayMs: reconcileSettings.retryDelayMs,
        onCompleted: [
          driftRecorder((count, attributes) => metrics().driftItems(count, attributes)),
          driftNotifier({ policy, notifications: notify.service(log), alerts: notify.driftAlerts(), clock, reportLink: (id) => (notify.config.publicBaseUrl ? `${notify.config.publicBaseUrl}/api/reconcile/reports/${encodeURIComponent(id)}` : undefined) }),
        ],
      });
    },
  };
  return context;
}

let cached: { fingerprint: string; context: AppContext } | undefined;

function settingsFingerprint(env: NodeJS.ProcessEnv): string {
  return JSON.stringify(CONFIG_SETTING_NAMES.map((name) => env[name] ?? null));
}

/**
 * The process's context, built on first use. It is remembered together with the settings it was
 * built from: in Azure those never change, while a local host that restarts in the same process
 * with other settings gets a context that matches them.
 */
/** The context if an invocation built it already (a host shutting down has nothing to wait for otherwise). */
export function builtAppContext(): AppContext | undefined {
  return cached?.context;
}

export function appContext(): AppContext {
  const fingerprint = settingsFingerprint(process.env);
  if (!cached || cached.fingerprint !== fingerprint) cached = { fingerprint, context: createAppContext(process.env) };
  return cached.context;
}
