import { createHash } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import {
  ANCHOR_CHAIN, anchorRecord, auditPageOf, chainAuditRecord, headsToAnchor, isTerminal, withExtensionTotals,
  type AccessRequest, type AnchoredHead, type ChainedAuditRecord, type NotificationIntent, type OutboundEvent, type PartitionedAudit, type StoredChain,
} from '../../domain';
import type { AuditEntry, AuditPage, AuditPageQuery, CreateOutcome, LedgerPort, RequestClaims, RequestPage, RequestQuery, StoredRequest } from '../../services/ports';
import { LEDGER_PARTITION } from './ledger';
import { ensureTable, isContended, rowKeyOf, statusOf } from './setup';

/**
 * The ledger spread over PARTITIONS partitions (docs/adr/0017-partitioned-ledger-with-anchored-chains.md).
 * A request lives in its grantee's partition with its index rows, its audit records and its outbox
 * rows, so that a change is still one entity-group transaction; each partition chains its own audit
 * records onto its own head, and `anchor()` records every partition's head in the anchor chain.
 * Changes to different grantees never contend.
 */
export const PARTITIONS = 16;
const PARTITION_PREFIX = 'ledger-';
const PARTITION_END = 'ledger.';
export const ANCHOR_PARTITION = ANCHOR_CHAIN;
const REQUEST_PREFIX = 'request|';
const AUDIT_PREFIX = 'audit|';
const AUDIT_HEAD = 'audit-head';
const ONCE_PREFIX = 'once|';
export const OUTBOX_PREFIX = 'outbox|';
/** `notice|{seq}|{index}`: a notification the change of that seq owes, with the request as the change left it. */
export const NOTICE_PREFIX = 'notice|';
export const NOTICE_END = 'notice}';
const SUBMISSION_PREFIX = 'submission|';
const OPEN_ACCESS_PREFIX = 'open|';
/** `locate|{request id}` in the id's own partition → the partition holding the request. */
const LOCATOR_PREFIX = 'locate|';
/** `submitted|{sha256}` in the key's own partition → the partition holding the submission row. */
const SUBMITTED_PREFIX = 'submitted|';
const MAX_ATTEMPTS = 40;
/** A submission locator whose submission never committed (its writer died) may be taken over after this. */
const ORPHAN_AFTER_MS = 60_000;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** The partition of a key from its sha256 (hex): a submission row's key already holds that hash. */
export const partitionOfHash = (hex: string): string => `${PARTITION_PREFIX}${String(parseInt(hex.slice(0, 8), 16) % PARTITIONS).padStart(2, '0')}`;
export const partitionOf = (key: string): string => partitionOfHash(sha256(key));
/** The grantee's partition: a request, the claim on its access and every request of that grantee live there. */
export const grantPartitionOf = (principalId: string): string => partitionOf(`principal\n${principalId.toLowerCase()}`);
/** Where `appendAudit` chains records about `requestId` (a run, a refused submission): they change no request. */
export const auditPartitionOf = (requestId: string): string => partitionOf(`subject\n${requestId}`);
export const ALL_PARTITIONS: readonly string[] = Array.from({ length: PARTITIONS }, (_, i) => `${PARTITION_PREFIX}${String(i).padStart(2, '0')}`);

const seqKey = (prefix: string, seq: number): string => `${prefix}${String(seq).padStart(12, '0')}`;
const auditRowKey = (seq: number): string => seqKey(AUDIT_PREFIX, seq);
const outboxRowKey = (seq: number, index: number): string => `${seqKey(OUTBOX_PREFIX, seq)}|${String(index).padStart(4, '0')}`;
const noticeRowKey = (seq: number, index: number): string => `${seqKey(NOTICE_PREFIX, seq)}|${String(index).padStart(4, '0')}`;

/** What a change owes besides its audit records: events to publish, notifications to send about `request`. */
interface Owed {
  readonly events: readonly OutboundEvent[];
  readonly notices?: { readonly intents: readonly NotificationIntent[]; readonly request: AccessRequest };
}

export function requestEntity(partitionKey: string, request: AccessRequest): Record<string, unknown> & { partitionKey: string; rowKey: string } {
  return {
    partitionKey, rowKey: `${REQUEST_PREFIX}${request.id}`, status: request.status, requestedBy: request.requestedBy, principalId: request.principalId,
    hsm: request.hsm, createdAt: request.createdAt, expiresAt: request.expiresAt ?? '', pendingUntil: request.pendingUntil, data: JSON.stringify(request),
  };
}

const fromEntity = (entity: TableEntityResult<Record<string, unknown>>): StoredRequest =>
  ({ request: withExtensionTotals(JSON.parse(entity.data as string) as AccessRequest), etag: entity.etag });

const pause = (attempt: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * attempt) + Math.random() * 10 * attempt));

interface Head { record?: ChainedAuditRecord; etag?: string }

export interface PartitionedLedgerHooks {
  /**
   * A transaction that wrote outbox rows committed in `partitionKey`: the outbox drainer publishes
   * that partition (and only it). Called after the commit, never awaited; it must not throw.
   */
  onOutboxRows?(partitionKey: string): void;
  /** Likewise for notice rows: the notice drainer sends that partition's. */
  onNoticeRows?(partitionKey: string): void;
}

export class PartitionedLedger implements LedgerPort {
  /** Request id → partition: a request never moves, so what was once read stays true. */
  private readonly located = new Map<string, string>();

  constructor(private readonly table: TableClient, private readonly hooks: PartitionedLedgerHooks = {}) {}

  private ensureTable(): Promise<void> {
    return ensureTable(this.table);
  }

  private async read<T extends object>(partitionKey: string, rowKey: string): Promise<TableEntityResult<T> | undefined> {
    try {
      return await this.table.getEntity<T>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async head(partitionKey: string): Promise<Head> {
    const entity = await this.read<{ data: string }>(partitionKey, AUDIT_HEAD);
    return entity ? { record: JSON.parse(entity.data) as ChainedAuditRecord, etag: entity.etag } : {};
  }

  /** Audit rows chained onto the partition's head, the head's move (If-Match) and the outbox rows, all in `partitionKey`. */
  private auditActions(partitionKey: string, head: Head, entries: readonly AuditEntry[], { events, notices }: Owed): TransactionAction[] {
    if (entries.length === 0) {
      if (events.length > 0 || notices?.intents.length) throw new Error('Events and notices need an audit record in the same transaction to be ordered');
      return [];
    }
    const actions: TransactionAction[] = [];
    let previous = head.record;
    for (const entry of entries) {
      const record = chainAuditRecord(previous, entry);
      actions.push(['create', { partitionKey, rowKey: auditRowKey(record.seq), at: record.at, requestId: record.requestId, data: JSON.stringify(record) }]);
      previous = record;
    }
    const seq = previous!.seq;
    const newHead = { partitionKey, rowKey: AUDIT_HEAD, seq, hash: previous!.hash, data: JSON.stringify(previous) };
    actions.push(head.etag ? ['update', newHead, 'Replace', { etag: head.etag }] : ['create', newHead]);
    events.forEach((event, index) => actions.push(['create', { partitionKey, rowKey: outboxRowKey(seq, index), eventId: event.id, type: event.type, data: JSON.stringify(event) }]));
    notices?.intents.forEach((intent, index) => actions.push(['create', { partitionKey, rowKey: noticeRowKey(seq, index), requestId: intent.requestId, intent: JSON.stringify(intent), request: JSON.stringify(notices.request) }]));
    return actions;
  }

  /** One transaction in `partitionKey`: false when another writer got there first (409/412). */
  private async submitChained(partitionKey: string, actions: readonly TransactionAction[], audit: readonly AuditEntry[], owed: Owed): Promise<boolean> {
    const head = await this.head(partitionKey);
    const all = [...actions, ...this.auditActions(partitionKey, head, audit, owed)];
    if (all.length > 100) throw new Error(`A change of ${all.length} rows does not fit one entity-group transaction (100 at most)`);
    try {
      await this.table.submitTransaction(all);
    } catch (error) {
      if (!isContended(error)) throw error;
      return false;
    }
    if (owed.events.length > 0) this.hooks.onOutboxRows?.(partitionKey);
    if (owed.notices?.intents.length) this.hooks.onNoticeRows?.(partitionKey);
    return true;
  }

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
    const partitionKey = auditPartitionOf(audit[0]!.requestId);
    await this.untilSettled('append to the audit trail', async () => ((await this.submitChained(partitionKey, [], audit, { events })) ? true : undefined));
  }

  async appendAuditOnce(key: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<'appended' | 'exists'> {
    if (audit.length === 0) throw new Error('An audit append once needs an audit record');
    const partitionKey = partitionOf(`once\n${key}`);
    const mark = { partitionKey, rowKey: `${ONCE_PREFIX}${rowKeyOf(key)}`, at: audit[0]!.at };
    return this.untilSettled(`append ${key} to the audit trail`, async () => {
      if (await this.read(partitionKey, mark.rowKey)) return 'exists';
      return (await this.submitChained(partitionKey, [['create', mark]], audit, { events })) ? 'appended' : undefined;
    });
  }

  /** Writes `row` unless it exists; the row that is there afterwards. Used for locators, written before the change they point to. */
  private async createOrRead(row: { partitionKey: string; rowKey: string; target: string; at: string }): Promise<{ target: string; at: string; etag: string }> {
    try {
      const written = await this.table.createEntity(row);
      return { target: row.target, at: row.at, etag: written.etag ?? '' };
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
    }
    const found = await this.read<{ target: string; at: string }>(row.partitionKey, row.rowKey);
    return found ? { target: found.target, at: found.at, etag: found.etag } : this.createOrRead(row);
  }

  async create(request: AccessRequest, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = [], claims: RequestClaims = {}, notices: readonly NotificationIntent[] = []): Promise<CreateOutcome> {
    await this.ensureTable();
    const partitionKey = grantPartitionOf(request.principalId);
    const entity = requestEntity(partitionKey, request);
    const now = new Date().toISOString();
    // Locators first: one that points at a request that never committed (its writer died) finds nothing there.
    await this.createOrRead({ partitionKey: partitionOf(request.id), rowKey: `${LOCATOR_PREFIX}${request.id}`, target: partitionKey, at: now });
    this.located.set(request.id, partitionKey);
    let tried = false;
    return this.untilSettled(`store request ${request.id}`, async () => {
      // Ids are random: the row can exist only once a try of this very call committed (its answer lost),
      // and then the first try's create conflicts; so only a retry reads it.
      if (tried && (await this.read(partitionKey, entity.rowKey))) return { outcome: 'created' };
      tried = true;
      const actions: TransactionAction[] = [['create', entity]];
      if (claims.submissionKey) {
        const hash = sha256(claims.submissionKey);
        const named = await this.submissionRow(hash, partitionKey, now);
        if (named === 'elsewhere') return undefined;
        if (named) return { outcome: 'replayed', requestId: named.requestId };
        actions.push(['create', { partitionKey, rowKey: `${SUBMISSION_PREFIX}${hash}`, requestId: request.id }]);
      }
      if (claims.openAccessKey) {
        const row = `${OPEN_ACCESS_PREFIX}${sha256(claims.openAccessKey)}`;
        const held = await this.read<{ requestId: string }>(partitionKey, row);
        const holder = held ? await this.read<Record<string, unknown>>(partitionKey, `${REQUEST_PREFIX}${held.requestId}`) : undefined;
        if (holder && !isTerminal(fromEntity(holder).request.status)) {
          const named = claims.submissionKey ? await this.read<{ requestId: string }>(partitionKey, `${SUBMISSION_PREFIX}${sha256(claims.submissionKey)}`) : undefined;
          return named ? { outcome: 'replayed', requestId: named.requestId } : { outcome: 'duplicate', open: fromEntity(holder).request };
        }
        const claim = { partitionKey, rowKey: row, requestId: request.id };
        actions.push(held ? ['update', claim, 'Replace', { etag: held.etag }] : ['create', claim]);
      }
      return (await this.submitChained(partitionKey, actions, audit, { events, notices: { intents: notices, request } })) ? { outcome: 'created' } : undefined;
    });
  }

  /**
   * The submission row a key names, after pointing the key's locator at `partitionKey`: 'elsewhere'
   * while the locator points at another partition whose submission may still commit.
   */
  private async submissionRow(hash: string, partitionKey: string, now: string): Promise<{ requestId: string } | undefined | 'elsewhere'> {
    const locator = { partitionKey: partitionOfHash(hash), rowKey: `${SUBMITTED_PREFIX}${hash}`, target: partitionKey, at: now };
    const found = await this.createOrRead(locator);
    const named = await this.read<{ requestId: string }>(found.target, `${SUBMISSION_PREFIX}${hash}`);
    if (named || found.target === partitionKey) return named;
    if (Date.parse(found.at) > Date.parse(now) - ORPHAN_AFTER_MS) return 'elsewhere';
    // Its writer died before committing: take the key over (If-Match, so of two takers one wins).
    await this.table.updateEntity(locator, 'Replace', { etag: found.etag }).catch((error: unknown) => {
      if (!isContended(error)) throw error;
    });
    return 'elsewhere';
  }

  async requestIdForSubmission(submissionKey: string): Promise<string | undefined> {
    await this.ensureTable();
    const hash = sha256(submissionKey);
    const locator = await this.read<{ target: string }>(partitionOfHash(hash), `${SUBMITTED_PREFIX}${hash}`);
    return locator ? (await this.read<{ requestId: string }>(locator.target, `${SUBMISSION_PREFIX}${hash}`))?.requestId : undefined;
  }

  private async partitionHolding(id: string): Promise<string | undefined> {
    const known = this.located.get(id);
    if (known) return known;
    const locator = await this.read<{ target: string }>(partitionOf(id), `${LOCATOR_PREFIX}${id}`);
    if (locator) this.located.set(id, locator.target);
    return locator?.target;
  }

  async get(id: string): Promise<StoredRequest | undefined> {
    await this.ensureTable();
    const partitionKey = await this.partitionHolding(id);
    const entity = partitionKey ? await this.read<Record<string, unknown>>(partitionKey, `${REQUEST_PREFIX}${id}`) : undefined;
    return entity ? fromEntity(entity) : undefined;
  }

  async update(request: AccessRequest, etag: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = [], notices: readonly NotificationIntent[] = []): Promise<'updated' | 'conflict'> {
    await this.ensureTable();
    const partitionKey = (await this.partitionHolding(request.id)) ?? grantPartitionOf(request.principalId);
    const entity = requestEntity(partitionKey, request);
    return this.untilSettled(`update request ${request.id}`, async () => {
      if (await this.submitChained(partitionKey, [['update', entity, 'Replace', { etag }]], audit, { events, notices: { intents: notices, request } })) return 'updated';
      const current = await this.get(request.id);
      return !current || current.etag !== etag ? 'conflict' : undefined;
    });
  }

  /** A grantee's requests are one partition's range; other queries read the request ranges of every partition. */
  async list(query: RequestQuery): Promise<RequestPage> {
    await this.ensureTable();
    const where = query.principalId
      ? odata`PartitionKey eq ${grantPartitionOf(query.principalId)}`
      : odata`PartitionKey ge ${PARTITION_PREFIX} and PartitionKey lt ${PARTITION_END}`;
    const clauses = [where, odata`RowKey ge ${REQUEST_PREFIX} and RowKey lt ${'request}'}`];
    if (query.statuses?.length) clauses.push(`(${query.statuses.map((status) => odata`status eq ${status}`).join(' or ')})`);
    if (query.requestedBy) clauses.push(odata`requestedBy eq ${query.requestedBy}`);
    if (query.principalId) clauses.push(odata`principalId eq ${query.principalId}`);
    if (query.expiresBefore) clauses.push(odata`expiresAt le ${query.expiresBefore} and expiresAt ne ${''}`);
    const pages = this.table
      .listEntities<Record<string, unknown>>({ queryOptions: { filter: clauses.join(' and ') } })
      .byPage({ maxPageSize: query.pageSize ?? 100, ...(query.continuation ? { continuationToken: query.continuation } : {}) });
    const page = await pages.next();
    if (page.done || !page.value) return { items: [] };
    return { items: page.value.map(fromEntity), ...(page.value.continuationToken ? { continuation: page.value.continuationToken } : {}) };
  }

  /**
   * One chain as of its head: the head is read first, then the records, and those committed after
   * that read are left out, so that a live service's writes meanwhile never look like a break.
   */
  private async chainOf(partitionKey: string): Promise<StoredChain> {
    const head = (await this.head(partitionKey)).record;
    const filter = odata`PartitionKey eq ${partitionKey} and RowKey ge ${AUDIT_PREFIX} and RowKey lt ${'audit}'}`;
    const records: ChainedAuditRecord[] = [];
    for await (const entity of this.table.listEntities<{ data: string }>({ queryOptions: { filter } })) {
      const record = JSON.parse(entity.data) as ChainedAuditRecord;
      if (!head || record.seq <= head.seq) records.push(record);
    }
    return { records, head };
  }

  /** Every chain as stored, for a verifier: the partitions', the frozen one-partition chain (if migrated) and the anchors. */
  async auditTrail(): Promise<PartitionedAudit> {
    await this.ensureTable();
    const chains = new Map<string, StoredChain>();
    for (const partitionKey of [LEDGER_PARTITION, ...ALL_PARTITIONS]) {
      const chain = await this.chainOf(partitionKey);
      if (chain.records.length > 0 || chain.head) chains.set(partitionKey, chain);
    }
    return { chains, anchors: await this.chainOf(ANCHOR_PARTITION) };
  }

  /**
   * Audit records in time order (each partition's in its own chain order), `from` inclusive, `to`
   * exclusive: one query per chain with the range in its filter, so only the records asked for
   * come back (no head rows, no whole chains).
   */
  async audit(range: { from?: string; to?: string } = {}): Promise<ChainedAuditRecord[]> {
    await this.ensureTable();
    const clauses = [odata`RowKey ge ${AUDIT_PREFIX} and RowKey lt ${'audit}'}`];
    if (range.from) clauses.push(odata`at ge ${range.from}`);
    if (range.to) clauses.push(odata`at lt ${range.to}`);
    const chains = await Promise.all([LEDGER_PARTITION, ...ALL_PARTITIONS, ANCHOR_PARTITION].map(async (partitionKey) => {
      const records: ChainedAuditRecord[] = [];
      const filter = [odata`PartitionKey eq ${partitionKey}`, ...clauses].join(' and ');
      for await (const entity of this.table.listEntities<{ data: string }>({ queryOptions: { filter, select: ['data'] } })) records.push(JSON.parse(entity.data) as ChainedAuditRecord);
      return records;
    }));
    return chains.flat().sort((a, b) => a.at.localeCompare(b.at));
  }

  /** A page of the records `filter` selects, in time order: the chains are merged in memory, so the page is cut from them. */
  async auditPage(query: AuditPageQuery): Promise<AuditPage> {
    return auditPageOf(await this.audit({ ...(query.filter.from ? { from: query.filter.from } : {}), ...(query.filter.to ? { to: query.filter.to } : {}) }), query.filter, query.limit, query.continuation);
  }

  /** The anchor chain's last record. */
  async auditHead(): Promise<ChainedAuditRecord | undefined> {
    await this.ensureTable();
    return (await this.head(ANCHOR_PARTITION)).record;
  }

  /**
   * Records the head of every chain that moved since the last anchor (the audit-anchor timer): what
   * it records can no longer be cut off its chain unseen. Of two anchoring at once, one wins.
   */
  async anchor(at: string): Promise<ChainedAuditRecord | undefined> {
    return this.untilSettled('anchor the audit chains', async () => {
      const current = new Map<string, AnchoredHead>();
      for (const partitionKey of [LEDGER_PARTITION, ...ALL_PARTITIONS]) {
        const head = await this.read<{ seq: number; hash?: string; data: string }>(partitionKey, AUDIT_HEAD);
        if (head) current.set(partitionKey, { seq: head.seq, hash: head.hash ?? (JSON.parse(head.data) as ChainedAuditRecord).hash });
      }
      const last = await this.head(ANCHOR_PARTITION);
      const moved = headsToAnchor(current, last.record);
      if (Object.keys(moved).length === 0) return { anchored: undefined };
      const record = anchorRecord(last.record, moved, at);
      const row = { partitionKey: ANCHOR_PARTITION, rowKey: auditRowKey(record.seq), at: record.at, requestId: record.requestId, data: JSON.stringify(record) };
      const head = { partitionKey: ANCHOR_PARTITION, rowKey: AUDIT_HEAD, seq: record.seq, hash: record.hash, data: JSON.stringify(record) };
      try {
        await this.table.submitTransaction([['create', row], last.etag ? ['update', head, 'Replace', { etag: last.etag }] : ['create', head]]);
        return { anchored: record };
      } catch (error) {
        if (!isContended(error)) throw error;
        return undefined;
      }
    }).then((result) => result.anchored);
  }
}
