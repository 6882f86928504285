import { auditPageOf, type AccessRequest, type ChainedAuditRecord, type OutboundEvent, type PartitionedAudit } from '../../shared/domain';
import type { AuditEntry, AuditPage, AuditPageQuery, CreateOutcome, LedgerPort, RequestClaims, RequestPage, RequestQuery, StoredRequest } from '../../shared/services/ports';

/**
 * The ledger in memory, with the real one's contract: ETags, the index rows a new request claims,
 * and queries by status, requester, principal and expiry. It counts reads, so that a test can say
 * how often a use case goes to storage. Audit records are kept unchained (seq only).
 */
export class InMemoryLedger implements LedgerPort {
  readonly requests = new Map<string, StoredRequest>();
  readonly auditRecords: AuditEntry[] = [];
  readonly events: OutboundEvent[] = [];
  reads = 0;
  private readonly submissions = new Map<string, string>();
  private readonly openAccess = new Map<string, string>();
  private readonly marks = new Set<string>();
  private version = 0;

  async create(request: AccessRequest, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = [], claims: RequestClaims = {}): Promise<CreateOutcome> {
    const earlier = claims.submissionKey ? this.submissions.get(claims.submissionKey) : undefined;
    if (earlier) return { outcome: 'replayed', requestId: earlier };
    const holder = claims.openAccessKey ? this.openAccess.get(claims.openAccessKey) : undefined;
    const open = holder ? this.requests.get(holder)?.request : undefined;
    if (open && ['Pending', 'Approved', 'Active'].includes(open.status)) return { outcome: 'duplicate', open };
    if (claims.submissionKey) this.submissions.set(claims.submissionKey, request.id);
    if (claims.openAccessKey) this.openAccess.set(claims.openAccessKey, request.id);
    this.store(request, audit, events);
    return { outcome: 'created' };
  }

  async requestIdForSubmission(submissionKey: string): Promise<string | undefined> {
    return this.submissions.get(submissionKey);
  }

  async get(id: string): Promise<StoredRequest | undefined> {
    this.reads++;
    return this.requests.get(id);
  }

  async update(request: AccessRequest, etag: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<'updated' | 'conflict'> {
    if (this.requests.get(request.id)?.etag !== etag) return 'conflict';
    this.store(request, audit, events);
    return 'updated';
  }

  async list(query: RequestQuery): Promise<RequestPage> {
    const items = [...this.requests.values()].filter(({ request }) =>
      (!query.statuses || query.statuses.includes(request.status)) &&
      (!query.requestedBy || request.requestedBy.toLowerCase() === query.requestedBy) &&
      (!query.principalId || request.principalId.toLowerCase() === query.principalId) &&
      (!query.expiresBefore || (request.expiresAt !== undefined && request.expiresAt <= query.expiresBefore)));
    return { items };
  }

  async appendAudit(audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<void> {
    this.auditRecords.push(...audit);
    this.events.push(...events);
  }

  async appendAuditOnce(key: string, audit: readonly AuditEntry[], events: readonly OutboundEvent[] = []): Promise<'appended' | 'exists'> {
    if (this.marks.has(key)) return 'exists';
    this.marks.add(key);
    await this.appendAudit(audit, events);
    return 'appended';
  }

  async audit(): Promise<ChainedAuditRecord[]> {
    return this.auditRecords.map((record, index) => ({ ...record, seq: index + 1, prevHash: '', hash: '' }));
  }

  async auditPage(query: AuditPageQuery): Promise<AuditPage> {
    return auditPageOf(await this.audit(), query.filter, query.limit, query.continuation);
  }

  async auditHead(): Promise<ChainedAuditRecord | undefined> {
    return (await this.audit()).at(-1);
  }

  async auditTrail(): Promise<PartitionedAudit> {
    const records = await this.audit();
    return { chains: new Map([['memory', { records, head: records.at(-1) }]]), anchors: { records: [], head: undefined } };
  }

  private store(request: AccessRequest, audit: readonly AuditEntry[], events: readonly OutboundEvent[]): void {
    this.requests.set(request.id, { request, etag: `W/"${++this.version}"` });
    this.auditRecords.push(...audit);
    this.events.push(...events);
  }
}
