import { createHash } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { chainAuditRecord, isTerminal, matchesAuditFilter, type AuditFilter, withExtensionTotals, type AccessRequest, type ChainedAuditRecord, type NotificationIntent, type OutboundEvent, type PartitionedAudit, type RequestStatus } from '../../domain';
import type { AuditEntry, AuditPage, AuditPageQuery, CreateOutcome, LedgerPort, RequestClaims, RequestPage, RequestQuery, StoredRequest } from '../../services/ports';
import { ensureTable, isContended, rowKeyOf, statusOf } from './setup';

/**
 * Requests and the audit chain live in one partition of one table, so that a state change and its
 * audit records commit in a single entity-group transaction: a request row updated with If-Match,
 * the chain's head updated with If-Match, and the new audit rows inserted. Either all of it is
 * stored or none of it, whatever process dies when. See docs/adr/0005-one-partition-ledger.md.
 * Events to publish ride in the same transaction as outbox rows (docs/adr/0008-transactional-outbox.md).
 */
export const LEDGER_PARTITION = 'ledger';
const REQUEST_PREFIX = 'request|';
const AUDIT_PREFIX = 'audit|';
const AUDIT_HEAD = 'audit-head';
/** `once|{key}`: the mark of an audit append that must happen once per key (a run's completion). */
const ONCE_PREFIX = 'once|';
/** Outbox rows: `outbox|{seq of the transaction's last audit record}|{index}`, so RowKey order is commit order. */
export const OUTBOX_PREFIX = 'outbox|';
export const OUTBOX_END = 'outbox}';
/** `submission|{sha256 of the submission key}` → the request it made (an Idempotency-Key, an event's source and id). */
const SUBMISSION_PREFIX = 'submission|';
/** `open|{sha256 of the access key}` → the request that holds the access; ignored once that request is closed. */
const OPEN_ACCESS_PREFIX = 'open|';
const MAX_ATTEMPTS = 40;

type RequestEntity = {
  partitionKey: string;
  rowKey: string;
  status: RequestStatus;
  requestedBy: string;
  principalId: string;
  hsm: string;
  createdAt: string;
  expiresAt: string;
  pendingUntil: string;
  data: string;
};

interface AuditHeadEntity {
  partitionKey: string;
  rowKey: string;
  seq: number;
  data: string;
}

/** Keys are hashed: they hold text from callers (an Idempotency-Key) and scopes with '/', and row keys are short. */
const indexRowKey = (prefix: string, key: string): string => `${prefix}${createHash('sha256').update(key, 'utf8').digest('hex')}`;

interface IndexEntity {
  partitionKey: string;
  rowKey: string;
  requestId: string;
}

const auditRowKey = (seq: number): string => `${AUDIT_PREFIX}${String(seq).padStart(12, '0')}`;
const outboxRowKey = (seq: number, index: number): string => `${OUTBOX_PREFIX}${String(seq).padStart(12, '0')}|${String(index).padStart(4, '0')}`;

function toEntity(request: AccessRequest): RequestEntity {
  return {
    partitionKey: LEDGER_PARTITION,
    rowKey: `${REQUEST_PREFIX}${request.id}`,
    status: request.status,
    requestedBy: request.requestedBy,
    principalId: request.principalId,
    hsm: request.hsm,
    createdAt: request.createdAt,
    expiresAt: request.expiresAt ?? '',
    pendingUntil: request.pendingUntil,
    data: JSON.stringify(request),
  };
}

function fromEntity(entity: TableEntityResult<Record<string, unknown>>): StoredRequest {
  return { request: withExtensionTotals(JSON.parse(entity.data as string) as AccessRequest), etag: entity.etag };
}

const pause = (attempt: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * attempt) + Math.random() * 10 * attempt));

/** This layout keeps no notice rows (the partitioned one does): a notification it was asked to store would be lost. */
function refuseNotices(notices: readonly NotificationIntent[]): void {
  if (notices.length > 0) throw new Error('The one-partition ledger stores no notices: run `npm run ledger:migrate`');
}

export class TableLedger implements LedgerPort {
  constructor(private readonly table: TableClient) {}

  private ensureTable(): Promise<void> {
    return ensureTable(this.table);
  }

  /** The last record the chain's head points at: a verifier compares it with the last row it read. */
  async auditHead(): Promise<ChainedAuditRecord | undefined> {
    await this.ensureTable();
    return (await this.head()).record;
  }

  private async head(): Promise<{ record?: ChainedAuditRecord; etag?: string }> {
    try {
      const entity = await this.table.getEntity<AuditHeadEntity>(LEDGER_PARTITION, AUDIT_HEAD);
      return { record: JSON.parse(entity.data) as ChainedAuditRecord, etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return {};
      throw error;
    }
  }

  /**
   * The audit rows and the head's move, chained onto the current head, and the outbox rows of
   * `events`. The head's If-Match makes the chain's sequence global and gap-free, so keying the
   * outbox by it orders events exactly as their changes committed.
   */
  private auditActions(head: { record?: ChainedAuditRecord; etag?: string }, entries: readonly AuditEntry[], events: readonly OutboundEvent[] = []): TransactionAction[] {
    if (entries.length === 0) {
      if (events.length > 0) throw new Error('Events need an audit record in the same transaction to be ordered');
      return [];
    }
    const actions: TransactionAction[] = [];
    let previous = head.record;
    for (const entry of entries) {
      const record = chainAuditRecord(previous, entry);
      actions.push(['create', { partitionKey: LEDGER_PARTITION, rowKey: auditRowKey(record.seq), at: record.at, requestId: record.requestId, data: JSON.stringify(record) }]);
      previous = record;
    }
    const seq = previous?.seq ?? 0;
    const newHead = { partitionKey: LEDGER_PARTITION, rowKey: AUDIT_HEAD, seq, data: JSON.stringify(previous) };
    actions.push(head.etag ? ['update', newHead, 'Replace', { etag: head.etag }] : ['create', newHead]);
    events.forEach((event, index) => {
      actions.push(['create', { partitionKey: LEDGER_PARTITION, rowKey: outboxRowKey(seq, index), eventId: event.id, type: event.type, data: JSON.stringify(event) }]);
    });
    return actions;
  }

  /**
   * Submits `actions` with `audit` and `events` chained onto the chain's current head, read afresh:
   * false when another writer got there first (409/412), so the caller decides whether to try again.
   */
  private async submitChained(actions: readonly TransactionAction[], audit: readonly AuditEntry[], events: readonly OutboundEvent[]): Promise<boolean> {
    const head = await this.head();
    try {
      await this.table.submitTransaction([...actions, ...this.auditActions(head, audit, events)]);
      return true;
    } catch (error) {
      if (!isContended(error)) throw error;
      return false;
    }
  }

  /** Runs `attempt` until it settles (returns a result), pausing between tries while the ledger is contended. */
  private async untilSettled<T>(what: string, attempt: () => Promise<T | undefined>): Promise<T> {
    await this.ensureTable();
    for (let n = 1; n <= MAX_ATTEMPTS; n++) {
      const result = await attempt();
      if (result !== undefined) return result;
      await pause(n);
    }
    throw new Error(`Could not ${what}: the ledger stayed contended`);
  }

  async appendAudit(audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<void> {
    if (audit.length === 0) return;
    await this.untilSettled('append to the audit trail', async () => ((await this.submitChained([], audit, events)) ? true : undefined));
  }

  async appendAuditOnce(key: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<'appended' | 'exists'> {
    if (audit.length === 0) throw new Error('An audit append once needs an audit record');
    const mark = { partitionKey: LEDGER_PARTITION, rowKey: `${ONCE_PREFIX}${rowKeyOf(key)}`, at: audit[0]!.at };
    return this.untilSettled(`append ${key} to the audit trail`, async () => {
      // Checked on every attempt: a transaction that lost a race may have lost it to the same append.
      if (await this.exists(mark.rowKey)) return 'exists';
      return (await this.submitChained([['create', mark]], audit, events)) ? 'appended' : undefined;
    });
  }

  private async exists(rowKey: string): Promise<boolean> {
    try {
      await this.table.getEntity(LEDGER_PARTITION, rowKey, { queryOptions: { select: ['PartitionKey'] } });
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  async create(request: AccessRequest, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = [], claims: RequestClaims = {}, notices: readonly NotificationIntent[] = []): Promise<CreateOutcome> {
    refuseNotices(notices);
    const entity = toEntity(request);
    return this.untilSettled(`store request ${request.id}`, async () => {
      // Request ids are random: the row exists only when an earlier try of this very call committed.
      if (await this.exists(entity.rowKey)) return { outcome: 'created' };
      const actions: TransactionAction[] = [['create', entity]];
      if (claims.submissionKey) {
        const row = indexRowKey(SUBMISSION_PREFIX, claims.submissionKey);
        const named = await this.indexRow(row);
        if (named) return { outcome: 'replayed', requestId: named.requestId };
        actions.push(['create', { partitionKey: LEDGER_PARTITION, rowKey: row, requestId: request.id }]);
      }
      if (claims.openAccessKey) {
        const row = indexRowKey(OPEN_ACCESS_PREFIX, claims.openAccessKey);
        const held = await this.indexRow(row);
        const holder = held ? await this.get(held.requestId) : undefined;
        if (holder && !isTerminal(holder.request.status)) {
          // A concurrent try of this same submission (its answer lost, a retry sent) may have committed since
          // the submission row was read: that is a replay, not a duplicate.
          const named = claims.submissionKey ? await this.indexRow(indexRowKey(SUBMISSION_PREFIX, claims.submissionKey)) : undefined;
          return named ? { outcome: 'replayed', requestId: named.requestId } : { outcome: 'duplicate', open: holder.request };
        }
        const claim = { partitionKey: LEDGER_PARTITION, rowKey: row, requestId: request.id };
        // Taking over from a closed request with If-Match: of two instances doing so at once, one wins.
        actions.push(held ? ['update', claim, 'Replace', { etag: held.etag }] : ['create', claim]);
      }
      return (await this.submitChained(actions, audit, events)) ? { outcome: 'created' } : undefined;
    });
  }

  async requestIdForSubmission(submissionKey: string): Promise<string | undefined> {
    await this.ensureTable();
    return (await this.indexRow(indexRowKey(SUBMISSION_PREFIX, submissionKey)))?.requestId;
  }

  private async indexRow(rowKey: string): Promise<{ requestId: string; etag: string } | undefined> {
    try {
      const entity = await this.table.getEntity<IndexEntity>(LEDGER_PARTITION, rowKey);
      return { requestId: entity.requestId, etag: entity.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async get(id: string): Promise<StoredRequest | undefined> {
    await this.ensureTable();
    try {
      return fromEntity(await this.table.getEntity(LEDGER_PARTITION, `${REQUEST_PREFIX}${id}`));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async update(request: AccessRequest, etag: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = [], notices: readonly NotificationIntent[] = []): Promise<'updated' | 'conflict'> {
    refuseNotices(notices);
    const entity = toEntity(request);
    return this.untilSettled(`update request ${request.id}`, async () => {
      if (await this.submitChained([['update', entity, 'Replace', { etag }]], audit, events)) return 'updated';
      // Either the request changed (the caller must re-read and decide again) or only the chain moved on.
      const current = await this.get(request.id);
      return !current || current.etag !== etag ? 'conflict' : undefined;
    });
  }

  async list(query: RequestQuery): Promise<RequestPage> {
    await this.ensureTable();
    const clauses = [odata`PartitionKey eq ${LEDGER_PARTITION} and RowKey ge ${REQUEST_PREFIX} and RowKey lt ${'request}'}`];
    if (query.statuses?.length) clauses.push(`(${query.statuses.map((status) => odata`status eq ${status}`).join(' or ')})`);
    if (query.requestedBy) clauses.push(odata`requestedBy eq ${query.requestedBy}`);
    if (query.principalId) clauses.push(odata`principalId eq ${query.principalId}`);
    if (query.expiresBefore) clauses.push(odata`expiresAt le ${query.expiresBefore} and expiresAt ne ${''}`);
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: clauses.join(' and ') } })
      .byPage({ maxPageSize: query.pageSize ?? 100, ...(query.continuation ? { continuationToken: query.continuation } : {}) });
    const page = await pages.next();
    if (page.done || !page.value) return { items: [] };
    const items = page.value.map(fromEntity);
    return { items, ...(page.value.continuationToken ? { continuation: page.value.continuationToken } : {}) };
  }

  /** The one chain, with its head row; this layout has no anchors. */
  async auditTrail(): Promise<PartitionedAudit> {
    const records = await this.audit();
    const head = await this.auditHead();
    return { chains: new Map([[LEDGER_PARTITION, { records, head }]]), anchors: { records: [], head: undefined } };
  }

  /** The records in `range`, in chain order; the store itself leaves out those outside it. */
  async audit(range: { from?: string; to?: string } = {}): Promise<ChainedAuditRecord[]> {
    await this.ensureTable();
    const records: ChainedAuditRecord[] = [];
    for await (const entity of this.table.listEntities<{ data: string }>({ queryOptions: { filter: auditRowsFilter(range) } })) records.push(JSON.parse(entity.data) as ChainedAuditRecord);
    return records.sort((a, b) => a.seq - b.seq);
  }

  /**
   * A page of the records `filter` selects. The store filters the time range and the request id
   * (columns of each audit row) and starts after the continuation's seq (a RowKey range); who, what
   * and scope live in the record's JSON, so those are matched here, reading on until the page is full.
   */
  async auditPage(query: AuditPageQuery): Promise<AuditPage> {
    await this.ensureTable();
    const records: ChainedAuditRecord[] = [];
    const after = query.continuation === undefined ? undefined : Number(query.continuation);
    const filter = auditRowsFilter(query.filter, after);
    for await (const entity of this.table.listEntities<{ data: string }>({ queryOptions: { filter } })) {
      const record = JSON.parse(entity.data) as ChainedAuditRecord;
      if (!matchesAuditFilter(record, query.filter)) continue;
      // One record beyond the page says whether there is a next one.
      if (records.length === query.limit) return { records, continuation: String(records[records.length - 1]!.seq) };
      records.push(record);
    }
    return { records };
  }
}

/** The audit rows of the ledger's partition in a time range, for one request, after a seq: all of it evaluated by the table service. */
function auditRowsFilter(filter: Pick<AuditFilter, 'from' | 'to' | 'requestId'>, afterSeq?: number): string {
  const clauses = [afterSeq === undefined
    ? odata`PartitionKey eq ${LEDGER_PARTITION} and RowKey ge ${AUDIT_PREFIX} and RowKey lt ${'audit}'}`
    : odata`PartitionKey eq ${LEDGER_PARTITION} and RowKey gt ${auditRowKey(afterSeq)} and RowKey lt ${'audit}'}`];
  if (filter.from) clauses.push(odata`at ge ${filter.from}`);
  if (filter.to) clauses.push(odata`at lt ${filter.to}`);
  if (filter.requestId) clauses.push(odata`requestId eq ${filter.requestId}`);
  return clauses.join(' and ');
}
