import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BlobServiceClient, type ContainerClient, type StoragePipelineOptions } from '@azure/storage-blob';

/**
 * Writes the HSM's AuditEvent records as its diagnostic setting does: JSON lines appended through the
 * hour to `insights-logs-auditevent/resourceId=.../PT1H.json` in a storage account (Azurite here).
 * Each append is a staged block and a Put Block List of every block so far, which is what raises a
 * `Microsoft.Storage.BlobCreated` event in Azure; `onAppended` stands for that event locally.
 */
export interface AuditLogWriterOptions {
  connectionString: string;
  /** The storage account's CA, when it serves HTTPS from a private one (the local stack's Azurite). */
  caPem?: string;
  /** The HSM's ARM id, upper case in the blob name as Azure writes it. */
  resourceId: string;
  onAppended?: (blob: { name: string; url: string; contentLength: number; eTag: string }) => void | Promise<void>;
}

/**
 * Emulator traffic never goes through a proxy named in the environment (HTTP_PROXY): a test that
 * points the app at a proxy must not see the emulators' own calls. An agent given to the pipeline is
 * set on each request before the SDK's proxy policy runs, and that policy leaves such requests alone.
 */
const DIRECT_AGENT = new HttpAgent({ keepAlive: true });

const directHttpsAgents = new Map<string, HttpsAgent>();

export function directContainerClient(connectionString: string, container = AUDIT_LOG_CONTAINER, caPem?: string): ContainerClient {
  // `agent` is a core pipeline option the storage pipeline passes through, though its type does not list it.
  const https = /DefaultEndpointsProtocol=https|BlobEndpoint=https:/i.test(connectionString);
  let agent: HttpAgent = DIRECT_AGENT;
  if (https) {
    const httpsAgent = directHttpsAgents.get(caPem ?? '') ?? new HttpsAgent({ keepAlive: true, ...(caPem ? { ca: caPem } : {}) });
    directHttpsAgents.set(caPem ?? '', httpsAgent);
    agent = httpsAgent;
  }
  const options = { agent } as StoragePipelineOptions;
  return BlobServiceClient.fromConnectionString(connectionString, options).getContainerClient(container);
}

export class AuditLogWriter {
  private readonly container: ContainerClient;
  private queue: Promise<void> = Promise.resolve();
  private ready: Promise<unknown> | undefined;

  constructor(private readonly options: AuditLogWriterOptions) {
    this.container = directContainerClient(options.connectionString, AUDIT_LOG_CONTAINER, options.caPem);
  }

  /** Records waiting for the append in progress to finish: they go into the blob together, as one block. */
  private pending: Array<{ records: readonly Record<string, unknown>[]; time: Date; done: (error?: unknown) => void }> = [];

  /**
   * Appends records in order; a failed append is reported and the next one still tries. Records that
   * arrive while an append is in progress are committed together as the next block, as Azure Monitor
   * batches its writes: a busy HSM does not give the hour's blob a block per call (a block blob holds
   * at most 50,000 committed blocks), nor the log account a BlobCreated per call.
   */
  append(records: readonly Record<string, unknown>[], time = new Date()): Promise<void> {
    const appended = new Promise<void>((resolve, reject) => {
      this.pending.push({ records, time, done: (error) => (error === undefined ? resolve() : reject(error)) });
    });
    this.queue = this.queue.then(() => this.appendPending()).catch(() => undefined);
    return appended;
  }

  /** Resolves once every append asked for so far has landed. */
  async flushed(): Promise<void> {
    await this.queue;
  }

  private async appendPending(): Promise<void> {
    const batch = this.pending.splice(0);
    const byBlob = new Map<string, typeof batch>();
    for (const entry of batch) {
      const name = auditBlobName(this.options.resourceId, entry.time);
      byBlob.set(name, [...(byBlob.get(name) ?? []), entry]);
    }
    for (const [name, entries] of byBlob) {
      try {
        await this.appendNow(entries.flatMap((e) => e.records), name);
        for (const entry of entries) entry.done();
      } catch (error) {
        for (const entry of entries) entry.done(error ?? new Error('append failed'));
      }
    }
  }

  private async appendNow(records: readonly Record<string, unknown>[], name: string): Promise<void> {
    if (records.length === 0) return;
    this.ready ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const blob = this.container.getBlockBlobClient(name);
    const body = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');
    const blockId = Buffer.from(randomUUID()).toString('base64');
    let committed: string[] = [];
    try {
      committed = ((await blob.getBlockList('committed')).committedBlocks ?? []).map((b) => b.name);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    await blob.stageBlock(blockId, body, body.length);
    const result = await blob.commitBlockList([...committed, blockId], { blobHTTPHeaders: { blobContentType: 'application/json' } });
    const properties = await blob.getProperties();
    await this.options.onAppended?.({ name, url: blob.url, contentLength: Number(properties.contentLength ?? 0), eTag: result.etag ?? '' });
  }
}

const KEY_OPERATIONS: Record<string, string> = { sign: 'KeySign', verify: 'KeyVerify', encrypt: 'KeyEncrypt', decrypt: 'KeyDecrypt', wrapkey: 'KeyWrap', unwrapkey: 'KeyUnwrap' };

/**
 * The operation name of a data-plane call. Key operations carry the names Microsoft documents;
 * role-management calls are named from their resource and verb, which the ingestion reads from the
 * request URI rather than trusting the name alone.
 */
export function operationNameOf(method: string, path: string): string {
  const rbac = /\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(\/[^/]+)?\/?$/i.exec(path);
  if (rbac) {
    const noun = rbac[1].toLowerCase() === 'roleassignments' ? 'RoleAssignment' : 'RoleDefinition';
    if (!rbac[2]) return `${noun}List`;
    return `${noun}${method === 'PUT' ? 'Create' : method === 'DELETE' ? 'Delete' : 'Get'}`;
  }
  const operation = /^\/keys\/[^/]+(?:\/[^/]*)?\/(sign|verify|encrypt|decrypt|wrapkey|unwrapkey)$/i.exec(path);
  if (operation) return KEY_OPERATIONS[operation[1].toLowerCase()];
  if (/^\/keys\/[^/]+\/create$/i.test(path)) return 'KeyCreate';
  if (/^\/keys\/?$/i.test(path)) return 'KeyList';
  if (/^\/keys\/[^/]+/i.test(path)) return 'KeyGet';
  return 'Unknown';
}

export interface AnsweredCall {
  method: string;
  /** The request's URL as the caller sent it (path and query). */
  url: string;
  status: number;
  principalId?: string;
  tenantId: string;
  callerIp?: string;
  durationMs: number;
  userAgent?: string;
}

/** One AuditEvent record in the fields and shapes of Microsoft's sample (identity as a JSON string). */
export function auditRecordFor(call: AnsweredCall, hsm: { resourceId: string; host: string; name: string }, time = new Date()): Record<string, unknown> {
  const path = decodeURIComponent(new URL(call.url, 'https://hsm.invalid').pathname);
  return {
    TenantId: call.tenantId,
    time: time.toISOString(),
    resourceId: hsm.resourceId.toUpperCase(),
    operationName: operationNameOf(call.method, path),
    operationVersion: new URL(call.url, 'https://hsm.invalid').searchParams.get('api-version') ?? '',
    category: 'AuditEvent',
    resultType: call.status < 400 ? 'Success' : 'Failure',
    properties: { PoolType: 'M-HSM', sku_Family: 'B', sku_Name: 'Standard_B1' },
    durationMs: call.durationMs,
    callerIpAddress: call.callerIp ?? '127.0.0.1',
    ...(call.principalId ? { identity: JSON.stringify({ claim: { http_schemas_microsoft_com_identity: { claims: { objectidentifier: call.principalId } } } }) } : {}),
    clientInfo: call.userAgent ?? '',
    correlationId: randomUUID(),
    subnetId: '(unknown)',
    httpStatusCode: call.status,
    PoolName: hsm.name,
    requestUri: `https://${hsm.host}${call.url}`,
    resourceProvider: 'MICROSOFT.KEYVAULT',
    resource: hsm.name,
    resourceType: 'managedHSMs',
  };
}

// Where Azure Monitor writes a resource's AuditEvent logs (one blob an hour). Spelled here again, not
// imported from the app: the emulator stands for Azure, and the app's reader is what it checks.
const AUDIT_LOG_CONTAINER = 'insights-logs-auditevent';

function auditBlobName(resourceId: string, time: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const [y, mo, d, h] = [time.getUTCFullYear(), two(time.getUTCMonth() + 1), two(time.getUTCDate()), two(time.getUTCHours())];
  return `resourceId=${resourceId.toUpperCase()}/y=${y}/m=${mo}/d=${d}/h=${h}/m=00/PT1H.json`;
}
