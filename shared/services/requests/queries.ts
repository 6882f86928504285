import { AUDIT_PAGE_MAX, mayDecide, mayReadAuditTrail, maySeeAllRequests, verifyPartitionedAudit, type AccessRequest, type AuditFilter, type Caller, type ChainedAuditRecord, type ChainVerification, type RequestStatus } from '../../domain';
import { listAll, type AuditPage, type AuditPageQuery } from '../ports';
import type { RequestContext } from './context';
import { notFound, problem, success, type Outcome } from './outcome';

export interface ListInput {
  status?: RequestStatus;
  mine?: boolean;
  continuation?: string;
  pageSize?: number;
}

export async function getRequest(ctx: RequestContext, caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
  const stored = await ctx.deps.ledger.get(id);
  // Someone who may not see a request learns nothing about whether it exists.
  if (!stored || !ctx.canSee(caller, stored.request)) return notFound(id);
  return success(stored.request);
}

export async function listRequests(ctx: RequestContext, caller: Caller, input: ListInput): Promise<Outcome<{ items: AccessRequest[]; continuation?: string }>> {
  const mine = input.mine === true || !maySeeAllRequests(ctx.policy, caller);
  const page = await ctx.deps.ledger.list({
    ...(input.status ? { statuses: [input.status] } : {}),
    ...(mine ? { requestedBy: caller.objectId.toLowerCase() } : {}),
    ...(input.continuation ? { continuation: input.continuation } : {}),
    pageSize: input.pageSize ?? 50,
  });
  return success({ items: page.items.map((item) => item.request), ...(page.continuation ? { continuation: page.continuation } : {}) });
}

/** A page of the audit trail, filtered (`GET /api/audit`, the portal's audit page). */
export async function readAuditPage(ctx: RequestContext, caller: Caller, query: AuditPageQuery): Promise<Outcome<AuditPage>> {
  if (!mayReadAuditTrail(ctx.policy, caller)) return problem(403, 'not-an-auditor', 'The audit trail is for HSM administrators and auditors');
  return success(await ctx.deps.ledger.auditPage(query));
}

/** Every record `filter` selects, page by page, up to `max` (`truncated` when there were more). */
export async function readAuditAll(ctx: RequestContext, caller: Caller, filter: AuditFilter, max: number): Promise<Outcome<{ records: ChainedAuditRecord[]; truncated: boolean }>> {
  const records: ChainedAuditRecord[] = [];
  let continuation: string | undefined;
  do {
    const page = await readAuditPage(ctx, caller, { filter, limit: AUDIT_PAGE_MAX, ...(continuation ? { continuation } : {}) });
    if (!page.ok) return page;
    records.push(...page.value.records);
    continuation = page.value.continuation;
    if (records.length >= max) return success({ records: records.slice(0, max), truncated: records.length > max || continuation !== undefined });
  } while (continuation);
  return success({ records, truncated: false });
}

/**
 * What waits for the caller's decision: pending requests and pending extensions of running grants
 * that the caller may decide (an approver of the rule, never the requester or the grantee), oldest first.
 */
export async function awaitingDecision(ctx: RequestContext, caller: Caller): Promise<AccessRequest[]> {
  const open = await listAll(ctx.deps.ledger, { statuses: ['Pending', 'Active'], pageSize: 200 });
  return open.map((item) => item.request).filter((request) => mayDecide(ctx.policy, caller, request)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function readAudit(ctx: RequestContext, caller: Caller, range: { from?: string; to?: string }): Promise<Outcome<ChainedAuditRecord[]>> {
  if (!mayReadAuditTrail(ctx.policy, caller)) return problem(403, 'not-an-auditor', 'The audit trail is for HSM administrators and auditors');
  return success(await ctx.deps.ledger.audit(range));
}

/**
 * Checks every chain from genesis to its head row (a deleted tail shows) and every head the anchor
 * chain recorded (docs/adr/0017-partitioned-ledger-with-anchored-chains.md).
 */
export async function verifyAudit(ctx: RequestContext): Promise<ChainVerification> {
  const trail = await ctx.deps.ledger.auditTrail();
  const result = verifyPartitionedAudit(trail);
  if (!result.ok) return { ok: false, brokenAtSeq: result.brokenAtSeq, reason: `${result.chain}: ${result.reason}` };
  const last = trail.anchors.head ?? [...trail.chains.values()].at(-1)?.head;
  return { ok: true, count: result.records, lastHash: last?.hash ?? '' };
}
