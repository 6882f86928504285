import {
  AZURE_RBAC_PLANE,
  applyEvent,
  assignmentNameFor,
  assignmentStillJustified,
  sameAccess,
  type AccessKey,
  type AccessRequest,
  type Lease,
  type RequestEvent,
} from '../../domain';
import { listAll, type AssignmentPort, type StoredRequest } from '../ports';
import type { RequestContext } from './context';
import { problem, success, type Outcome } from './outcome';

/** An Approved request whose grant has not completed after this long is picked up by the sweep (its instance may have died). */
export const STALLED_PROVISIONING_MS = 2_000;
const REMOVAL_BACKOFF_MS = [250, 1000, 3000];

/**
 * Puts the assignment in place for an Approved request and makes it Active. Safe to repeat: the
 * assignment's name is derived from the request, so a retry finds its own assignment. It reads the
 * request again after creating: a revocation committed meanwhile makes it take the assignment back.
 * `known` is the request as its caller just stored it, which spares reading it first.
 */
export async function provision(ctx: RequestContext, id: string, known?: AccessRequest, announceEarlier: Announce = nothingToAnnounce): Promise<AccessRequest> {
  let announceGrant: Announce = nothingToAnnounce;
  try {
    const { after, announce } = await grant(ctx, id, known);
    announceGrant = announce;
    return after;
  } finally {
    // Messages in the order of events (the approval before the grant), and only once access is settled.
    await announceEarlier();
    await announceGrant();
  }
}

type Announce = () => Promise<void>;
const nothingToAnnounce: Announce = async () => undefined;

async function grant(ctx: RequestContext, id: string, known?: AccessRequest): Promise<{ after: AccessRequest; announce: Announce }> {
  const request = known ?? (await ctx.deps.ledger.get(id))?.request;
  if (!request) throw new Error(`No request ${id}`);
  if (request.status !== 'Approved') return { after: request, announce: nothingToAnnounce };
  const name = assignmentNameFor(request.id, request.hsm, request.scope, request.principalId, request.roleId);
  let created: Awaited<ReturnType<AssignmentPort['create']>>;
  try {
    created = await portFor(ctx, request).create({ name, scope: request.scope, roleId: request.roleId, principalId: request.principalId, durationIso: request.duration });
  } catch (error) {
    return { after: await provisionFailed(ctx, request, error as Error), announce: nothingToAnnounce };
  }
  // After a crash the assignment may have been in place since approval: the clock starts then, never later.
  const approvedAt = [...request.history].reverse().find((entry) => entry.to === 'Approved')?.at;
  const at = created.outcome === 'existed' && approvedAt ? new Date(approvedAt) : ctx.deps.clock.now();
  const granted = (current: AccessRequest): Outcome<RequestEvent[]> => success(current.status === 'Approved' ? [{ type: 'granted', assignmentName: name, at }] : []);
  const result = await ctx.writer.mutateThenAnnounce(id, granted, created.hsmRequestId);
  if (!result.ok) throw new Error(`Request ${id}: ${result.detail}`);
  const { after, announce } = result.value;
  if (after.status === 'Active' && after.expiresAt) {
    // The expiry's message before anyone is told: a slow message must not make a late revocation.
    await ctx.deps.scheduler.schedule(id, new Date(after.expiresAt));
    ctx.deps.log.info(`Request ${id}: ${after.role} on ${after.scope} for ${after.principalId} active until ${after.expiresAt}`, { requestId: id });
    return { after, announce };
  }
  if (after.status !== 'Active') {
    // Revoked or failed while the assignment was being made: take it away again. Should that fail,
    // the revocation's follow-up removes it.
    await removeWithRetries(ctx, after).catch((error: Error) => ctx.deps.log.error(`Request ${id}: the assignment made while it ended is still to be removed: ${error.message}`));
  }
  return { after, announce };
}

/** A transient refusal leaves the request Approved for a retry; any other fails it (and alerts). */
async function provisionFailed(ctx: RequestContext, request: AccessRequest, error: Error): Promise<AccessRequest> {
  const id = request.id;
  const status = (error as { statusCode?: number }).statusCode;
  const transient = status === undefined || status === 408 || status === 429 || status >= 500;
  ctx.deps.log.error(`Request ${id}: the assignment could not be created (${status ?? 'no answer'}): ${error.message}`, { requestId: id });
  if (transient) return request;
  const failed = await ctx.writer.mutate(id, () => success([{ type: 'fail', reason: `the HSM refused the assignment (${status})` } as RequestEvent]));
  if (failed.ok) await ctx.deps.onFailed?.(failed.value.after);
  return failed.ok ? failed.value.after : request;
}

/**
 * Removes the access first, then records the end: a crash in between leaves an Active grant that the
 * next try ends again. `stored` is the request as just read; the end is recorded only if its status
 * is still the same (else whatever changed it has ended it already: only Active grants expire).
 */
export async function endGrant(ctx: RequestContext, stored: StoredRequest, event: RequestEvent): Promise<Outcome<{ request: AccessRequest; changed: boolean }>> {
  const id = stored.request.id;
  const check = applyEvent(stored.request, event, ctx.deps.clock.now());
  if (!check.ok) return problem(409, 'invalid-transition', check.detail);
  let removalError: Error | undefined;
  let hsmRequestId: string | undefined;
  try {
    hsmRequestId = (await removeWithRetries(ctx, stored.request)).hsmRequestId;
  } catch (error) {
    removalError = error as Error;
  }
  const events: RequestEvent[] = removalError ? [event, { type: 'fail', reason: `the assignment could not be removed: ${removalError.message}` }] : [event];
  const result = await ctx.writer.mutate(id, (current) => (current.status === stored.request.status ? success(events) : success([])), hsmRequestId);
  if (!result.ok) return result;
  if (removalError) await removalFailed(ctx, result.value.after, removalError);
  const changed = result.value.before !== result.value.after;
  if (changed && !removalError) ctx.deps.log.info(`Request ${id}: ${result.value.after.status}`, { requestId: id });
  return success({ request: result.value.after, changed });
}

/** Takes the access of a recorded end away; when that keeps failing, records the failure (and alerts). */
export async function removeOrFail(ctx: RequestContext, ended: AccessRequest): Promise<AccessRequest> {
  try {
    const { hsmRequestId } = await removeWithRetries(ctx, ended);
    ctx.deps.log.info(`Request ${ended.id}: ${ended.status}${hsmRequestId ? ` (HSM request ${hsmRequestId})` : ''}`);
    return ended;
  } catch (error) {
    const reason = `the assignment could not be removed: ${(error as Error).message}`;
    const failed = await ctx.writer.mutate(ended.id, (current) => success(current.status === ended.status ? [{ type: 'fail', reason } as RequestEvent] : []));
    const after = failed.ok ? failed.value.after : ended;
    await removalFailed(ctx, after, error as Error);
    return after;
  }
}

async function removalFailed(ctx: RequestContext, request: AccessRequest, error: Error): Promise<void> {
  ctx.deps.log.error(`Request ${request.id}: FAILED to remove the assignment of ${request.principalId} (${request.role} on ${request.scope}): ${error.message}`, { requestId: request.id });
  await ctx.deps.onFailed?.(request);
}

export async function removeWithRetries(ctx: RequestContext, request: AccessRequest): Promise<{ hsmRequestId?: string }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await removeAccess(ctx, request);
    } catch (error) {
      if (attempt >= REMOVAL_BACKOFF_MS.length) throw error;
      await ctx.sleep(REMOVAL_BACKOFF_MS[attempt]);
    }
  }
}

/**
 * Takes away what this grant gave, unless another running grant or a standing assignment still
 * justifies the same access. Removes only assignments this service made (names derived from its
 * requests), never a standing one, and reads back to verify. A grant that started meanwhile and
 * relied on the removed assignment (the HSM said 'covered') gets it back under its own name.
 */
async function removeAccess(ctx: RequestContext, request: AccessRequest): Promise<{ hsmRequestId?: string }> {
  const access: AccessKey & { requestId: string } = { hsm: request.hsm, principalId: request.principalId, roleId: request.roleId, scope: request.scope, requestId: request.id };
  const related = await openRequestsBesides(ctx, request);
  if (justifiedBeyond(ctx, request, related)) return {};
  const port = portFor(ctx, request);
  const sameRole = (await port.listFor(request.scope, request.principalId)).filter((a) => a.roleId.toLowerCase() === request.roleId.toLowerCase());
  let ours = assignmentNamesOf(related, access);
  // An assignment of this access that no open request named: a closed grant's (one that covered this
  // grant, say). Only then is the grantee's whole history read, to know which of them are ours.
  if (sameRole.some((a) => !ours.has(a.name))) ours = assignmentNamesOf(await requestsFor(ctx, request.principalId), access);
  const matching = sameRole.filter((a) => ours.has(a.name));
  if (matching.length === 0) return {};
  let hsmRequestId: string | undefined;
  for (const assignment of matching) hsmRequestId = (await port.remove(request.scope, assignment.name)).hsmRequestId ?? hsmRequestId;
  const left = (await port.listFor(request.scope, request.principalId)).filter((a) => ours.has(a.name));
  if (left.length > 0) throw new Error(`assignment ${left[0].name} is still on the HSM after removal`);
  await restoreForLateGrants(ctx, request);
  return hsmRequestId ? { hsmRequestId } : {};
}

/** Whether another running grant (or one about to start) or a standing assignment still justifies this grant's access. */
function justifiedBeyond(ctx: RequestContext, request: AccessRequest, related: readonly AccessRequest[]): boolean {
  const now = ctx.deps.clock.now();
  const leases: Lease[] = related
    .filter((other) => other.id !== request.id && (other.status === 'Active' || other.status === 'Approved'))
    .map((other) => ({
      hsm: other.hsm, principalId: other.principalId, roleId: other.roleId, scope: other.scope, requestId: other.id,
      // An Approved grant is about to start: it keeps the access alive as a running one would.
      expiresAt: other.expiresAt ?? new Date(now.getTime() + other.durationMs + STALLED_PROVISIONING_MS).toISOString(),
    }));
  const policy = ctx.policy;
  const standing = request.plane === AZURE_RBAC_PLANE
    ? (policy.azureRbac?.standing ?? []).map((s) => ({ hsm: AZURE_RBAC_PLANE, principalId: s.principalId, roleId: s.role.id, scope: s.scope }))
    : policy.standing.map((s) => ({ hsm: s.hsm, principalId: s.principalId, roleId: s.role.id, scope: s.scope }));
  return assignmentStillJustified({ ...request, requestId: request.id }, leases, standing, now) !== undefined;
}

/**
 * Read after a removal: a grant that was approved or started while it ran may have found the
 * removed assignment in place and relied on it. Each such grant gets its own assignment back.
 */
async function restoreForLateGrants(ctx: RequestContext, removed: AccessRequest): Promise<void> {
  const running = await listAll(ctx.deps.ledger, { principalId: removed.principalId.toLowerCase(), statuses: ['Approved', 'Active'], pageSize: 500 });
  const now = ctx.deps.clock.now().getTime();
  for (const { request: other } of running) {
    if (other.id === removed.id || !sameAccess(other, removed) || (other.expiresAt !== undefined && Date.parse(other.expiresAt) <= now)) continue;
    const name = assignmentNameFor(other.id, other.hsm, other.scope, other.principalId, other.roleId);
    await portFor(ctx, other).create({ name, scope: other.scope, roleId: other.roleId, principalId: other.principalId, durationIso: other.duration });
    ctx.deps.log.warn(`Request ${other.id}: its access was removed with request ${removed.id}'s and is back`, { requestId: other.id });
    return;
  }
}

/** The HSM's port, or Azure RBAC's for a management-plane request; without ARM settings such a grant fails closed. */
function portFor(ctx: RequestContext, request: AccessRequest): AssignmentPort {
  if (request.plane !== AZURE_RBAC_PLANE) return ctx.deps.hsm(request.hsm);
  if (!ctx.deps.azureRbac) throw new Error('management-plane request, but the app has no Azure RBAC settings (ARM_SUBSCRIPTION_ID)');
  return ctx.deps.azureRbac;
}

/** The names of the assignments `requests` made for `access`. */
function assignmentNamesOf(requests: readonly AccessRequest[], access: AccessKey): Set<string> {
  return new Set(requests.filter((other) => sameAccess(other, access)).map((other) => assignmentNameFor(other.id, other.hsm, other.scope, other.principalId, other.roleId)));
}

async function requestsFor(ctx: RequestContext, principalId: string): Promise<AccessRequest[]> {
  return (await listAll(ctx.deps.ledger, { principalId: principalId.toLowerCase(), pageSize: 500 })).map((stored) => stored.request);
}

/**
 * The grantee's open requests (Approved, Active: the only ones that can justify the access or hold an
 * assignment that is still theirs) and `request` itself: a closed grant's history is never read.
 */
async function openRequestsBesides(ctx: RequestContext, request: AccessRequest): Promise<AccessRequest[]> {
  const open = (await listAll(ctx.deps.ledger, { principalId: request.principalId.toLowerCase(), statuses: ['Approved', 'Active'], pageSize: 500 })).map((stored) => stored.request);
  return [request, ...open.filter((other) => other.id !== request.id)];
}
