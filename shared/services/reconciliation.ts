import {
  AZURE_RBAC_PLANE,
  classifyAssignment,
  computeDrift,
  DRIFT_KINDS,
  driftRepairedEvent,
  reconciliationCompletionEvents,
  isUntouchable,
  planApply,
  REMOVABLE_KINDS,
  sameAccess,
  summarizeDrift,
  type AccessRequest,
  type ApplyPlan,
  type DriftContext,
  type DriftItem,
  type ObservedAssignment,
  type OutboundEvent,
  type Policy,
  defaultHsmName,
} from '../domain';
import { listAll, type AuditEntry, type Clock, type LedgerPort, type ServiceLog } from './ports';
import type { HsmInventoryPort, KeyInfo, PlaneReconciler, PlaneResult, ReconcileRun, ReconcileStorePort, RepairRecord, RunAction, RunMode, StoredRun } from './reconciliationPorts';

/** Keys pages whose scopes are listed at once (25 keys a page): enough that the pacer, which keeps the HSM's rate, always has a request waiting. */
const PAGES_AHEAD = 3;

export interface RunContinuation {
  /** Makes sure the run is stepped again after `delayMs`, even if this process dies now. */
  continueLater(runId: string, delayMs: number): Promise<void>;
}

/** Told about a completed run and its drift items; one listener's failure never affects another or the run. */
export type RunListener = (run: ReconcileRun, items: readonly DriftItem[]) => Promise<void>;

export interface ReconciliationDeps {
  policy: Policy;
  store: ReconcileStorePort;
  ledger: LedgerPort;
  inventory(hsm: string): HsmInventoryPort;
  continuation: RunContinuation;
  clock: Clock;
  log: ServiceLog;
  newRunId(): string;
  /** The service's own object id: its assignments are never drift. */
  serviceObjectId?: string;
  /** Told about every completed run (notifications, events), once the run is closed; their failures never fail the run. */
  onCompleted?: RunListener | readonly RunListener[];
  /** Other planes reconciled in the same run, after the HSM's own apply (the management plane). */
  planes?: readonly PlaneReconciler[];
  /** CloudEvents `source`; without it (no topic configured) the run writes no events. */
  eventSource?: string;
  /** Called after events were committed to the outbox (kicks the drainer). */
  afterCommit?: () => void;
  /** Consecutive failed executions after which a run is given up as `failed` (default 5). */
  maxAttempts?: number;
  /** The wait before the execution after a failed one; doubled each time (default 30 s, at most 15 minutes). */
  retryDelayMs?: number;
}

export type StartOutcome = { ok: true; run: ReconcileRun } | { ok: false; code: 'reconcile-in-progress'; runningRunId: string };

function sameHsm(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Nightly and on-demand drift reconciliation of one HSM. A run is a sequence of checkpointed
 * steps stored in Table Storage: an execution that runs out of time stops at a checkpoint and the
 * next one resumes there, so a run over 5,000 keys never starts over and never applies twice.
 */
export class ReconciliationService {
  constructor(private readonly deps: ReconciliationDeps) {}

  /** The HSM a run is about when none is named: the policy's default. */
  private get defaultHsm(): string {
    return defaultHsmName(this.deps.policy);
  }

  /** Starts a run; refused while another run of the same HSM is in progress. */
  async start(mode: RunMode, requestedBy: string, hsm = this.defaultHsm): Promise<StartOutcome> {
    const run: ReconcileRun = {
      id: this.deps.newRunId(),
      hsm,
      mode,
      requestedBy,
      status: 'running',
      phase: 'definitions',
      startedAt: this.deps.clock.now().toISOString(),
      durationMs: 0,
      executions: 0,
      hsmCalls: 0,
      hsmThrottled: 0,
      keyCount: 0,
      scopesDone: 0,
      roleDefinitions: [],
      actions: [],
    };
    // The continuation goes first: if this process dies once the run exists, the run still goes on.
    // Should the run never be created, the message finds no run and is dropped.
    await this.deps.continuation.continueLater(run.id, CONTINUE_AFTER_MS);
    let created = await this.deps.store.createRun(run, LOCK_MS);
    if (!created.created) {
      // A run that finished but died before it was closed still holds the lock: close it, then try again.
      const holder = await this.deps.store.getRun(created.runningRunId);
      if (!holder || holder.run.status === 'running' || holder.run.closedAt) return { ok: false, code: 'reconcile-in-progress', runningRunId: created.runningRunId };
      await this.closeOnce(holder);
      created = await this.deps.store.createRun(run, LOCK_MS);
      if (!created.created) return { ok: false, code: 'reconcile-in-progress', runningRunId: created.runningRunId };
    }
    return { ok: true, run };
  }

  /**
   * Works on a run until it is done or `budgetMs` has passed, checkpointing as it goes. Returns the
   * run as stored; `running` means another step is needed (the caller schedules it, see
   * `continueLater`). A run that is done but not yet closed (its process died in between) is closed.
   */
  async step(runId: string, budgetMs: number): Promise<ReconcileRun | undefined> {
    const started = Date.now();
    const deadline = started + budgetMs;
    const stored = await this.deps.store.getRun(runId);
    if (!stored) return undefined;
    if (stored.run.status !== 'running') return stored.run.closedAt ? stored.run : this.closeOnce(stored);
    const inventory = this.deps.inventory(stored.run.hsm);
    const session = new RunSession(this.deps.store, stored, inventory, this.deps.log);
    let items: DriftItem[] | undefined;
    let observed: ObservedAssignment[] | undefined;
    // Read once per execution: the apply phase acts on one item per checkpoint.
    let plan: ApplyPlan | undefined;

    // Claim the run for this execution: a duplicate continuation loses here and does nothing.
    if (!(await session.claim(this.deps.newRunId(), deadline + OWNER_GRACE_MS, true))) return session.run.owner ? session.run : undefined;
    try {
      // At least one unit of work per execution, however small the budget: every execution makes progress.
      while (session.run.status === 'running') {
        const run = session.run;
        let next: ReconcileRun;
        switch (run.phase) {
          case 'definitions':
            next = { ...run, roleDefinitions: await inventory.listRoleDefinitions(), phase: 'root' };
            break;
          case 'root':
            await this.deps.store.saveInventory(run.id, [{ scope: '/', assignments: await inventory.listAssignments('/') }]);
            next = { ...run, phase: 'keys' };
            break;
          case 'keys': {
            const listed = await this.listKeysAndScopes(session, inventory, deadline);
            if (!listed) return undefined;
            next = listed;
            break;
          }
          case 'classify': {
            observed = await this.deps.store.loadInventory(run.id);
            items = computeDrift(observed, await this.context(run));
            await this.deps.store.saveItems(run.id, items);
            const summary = summarizeDrift(items);
            next = { ...run, counts: summary.byKind, itemCount: summary.total, phase: run.mode === 'apply' ? 'apply' : this.afterApply() };
            break;
          }
          case 'apply': {
            items ??= await this.deps.store.loadItems(run.id);
            plan ??= planApply(items.filter((item) => !item.plane), observed ?? (await this.deps.store.loadInventory(run.id)), this.deps.policy);
            if (plan.refused) {
              next = { ...run, refused: plan.refused, phase: this.afterApply() };
              await this.audit(run, 'reconcile.apply-refused', plan.refused.detail);
              break;
            }
            const pending = firstNotActedOn(run, plan.actions);
            next = pending
              ? { ...run, actions: [...run.actions, await this.act(run, pending)] }
              : { ...run, held: plan.held.map((h) => ({ itemId: h.item.id, reason: h.reason })), phase: this.afterApply() };
            break;
          }
          case 'planes': {
            const worked = await this.reconcilePlanes(run, items);
            items = worked.items;
            next = worked.run;
            break;
          }
          default:
            next = { ...run, status: 'completed', finishedAt: this.deps.clock.now().toISOString() };
        }
        const { failedAttempts: _attempts, error: _error, ...progressed } = next;
        if (!(await session.save(progressed))) return undefined;
        if (Date.now() >= deadline) break;
      }
    } catch (error) {
      // Progress up to the last checkpoint is kept; the next execution tries again from there, up to maxAttempts.
      return this.recordFailure(session, error);
    }
    if (!(await session.save(withoutOwner(session.run)))) return undefined;
    return session.run.status === 'running' ? session.run : this.close(session, items);
  }

  private afterApply(): 'planes' | 'done' {
    return this.deps.planes?.length ? 'planes' : 'done';
  }

  /**
   * One unit of the other planes' work, checkpointed by the caller: a plane's inspection (its items
   * stored with the run's, its counts added), or one repair, or the end of the phase. A repair that
   * ran but was not checkpointed is re-checked on the redo and found done (skipped), never repeated.
   */
  private async reconcilePlanes(run: ReconcileRun, known: DriftItem[] | undefined): Promise<{ run: ReconcileRun; items: DriftItem[] | undefined }> {
    const results = run.planes ?? [];
    const planes = this.deps.planes ?? [];
    const uninspected = planes.find((p) => !results.some((r) => r.plane === p.plane));
    if (uninspected) {
      const { scopes, items } = await uninspected.inspect();
      await this.deps.store.saveItems(run.id, items, uninspected.plane);
      const summary = summarizeDrift(items);
      const result: PlaneResult = { plane: uninspected.plane, scopes, itemCount: summary.total, counts: summary.byKind, done: run.mode === 'plan' };
      const counts = Object.fromEntries(DRIFT_KINDS.map((k) => [k, (run.counts?.[k] ?? 0) + summary.byKind[k]])) as Record<DriftItem['kind'], number>;
      return { run: { ...run, planes: [...results, result], counts, itemCount: (run.itemCount ?? 0) + summary.total }, items: known && [...known, ...items] };
    }
    const unfinished = results.find((r) => !r.done);
    const plane = unfinished && planes.find((p) => p.plane === unfinished.plane);
    if (!unfinished || !plane) return { run: { ...run, phase: 'done' }, items: known };
    const items = known ?? (await this.deps.store.loadItems(run.id));
    const plan = plane.planApply(items.filter((item) => item.plane === plane.plane));
    const finished = (change: Partial<PlaneResult>): ReconcileRun['planes'] => results.map((r) => (r === unfinished ? { ...r, ...change, done: true } : r));
    if (plan.refused) {
      await this.audit(run, 'reconcile.apply-refused', plan.refused.detail, { plane: plane.plane, code: plan.refused.code });
      return { run: { ...run, planes: finished({ refused: plan.refused }) }, items };
    }
    const pending = firstNotActedOn(run, plan.actions);
    if (!pending) return { run: { ...run, planes: finished({}) }, items };
    const action = await plane.repair(pending, this.repairRecord(run));
    return { run: { ...run, actions: [...run.actions, action] }, items };
  }

  /** A plane's repairs are audited as the run's own: under the run, with the Repaired event when there is a topic. */
  private repairRecord(run: ReconcileRun): RepairRecord {
    return {
      audit: (action, reason, details, repaired) =>
        this.audit(run, action, reason, details, repaired?.requestId, repaired ? this.repairedEvents(run, repaired.item, repaired.at) : []),
    };
  }

  /** The item's Repaired event, or none when no topic is configured. */
  private repairedEvents(run: ReconcileRun, item: DriftItem, at: string): OutboundEvent[] {
    const source = this.deps.eventSource;
    return source ? [driftRepairedEvent({ runId: run.id, hsm: run.hsm, mode: run.mode }, item, at, source)] : [];
  }

  /**
   * Keys pages and each key's own assignments, until the last page or the deadline. The HSM's
   * pacer is kept busy: the next page is asked for as soon as a page arrives (ahead of that page's
   * scopes), its scopes are listed meanwhile, and a page is stored and checkpointed in the
   * background once its scopes are listed, in page order. At most PAGES_AHEAD pages are in progress.
   */
  private async listKeysAndScopes(session: RunSession, inventory: HsmInventoryPort, deadline: number): Promise<ReconcileRun | undefined> {
    const runId = session.run.id;
    let keyCount = session.run.keyCount;
    let stored: Promise<boolean> = Promise.resolve(true);
    const inFlight: Array<Promise<unknown>> = [];
    const track = <T>(promise: Promise<T>): Promise<T> => {
      inFlight.push(promise);
      // Awaited in order below; this only keeps a failure from being reported as unhandled meanwhile.
      promise.catch(() => undefined);
      return promise;
    };
    const listScopes = (keys: readonly KeyInfo[]): Promise<Array<{ scope: string; assignments: ObservedAssignment[] }>> =>
      Promise.all(keys.map(async (key) => ({ scope: `/keys/${key.name}`, assignments: await inventory.listAssignments(`/keys/${key.name}`) })));
    type KeysPage = Awaited<ReturnType<HsmInventoryPort['listKeysPage']>>;
    let nextPage: Promise<KeysPage> | undefined = track(inventory.listKeysPage(session.run.keysContinuation));
    const ahead: Array<Promise<unknown>> = [];
    try {
      while (nextPage) {
        const page: KeysPage = await nextPage;
        nextPage = page.continuation && Date.now() < deadline ? track(inventory.listKeysPage(page.continuation)) : undefined;
        const scopes = track(listScopes(page.keys));
        keyCount += page.keys.length;
        const checkpoint = { keyCount, continuation: page.continuation };
        stored = track(Promise.all([stored, scopes]).then(async ([ok, listed]) => {
          if (!ok) return false;
          await this.deps.store.saveKeys(runId, page.keys);
          await this.deps.store.saveInventory(runId, listed);
          const { keysContinuation: _, ...rest } = session.run;
          const progress = { ...rest, keyCount: checkpoint.keyCount, scopesDone: checkpoint.keyCount };
          return session.save(checkpoint.continuation ? { ...progress, keysContinuation: checkpoint.continuation } : { ...progress, phase: 'classify' });
        }));
        ahead.push(scopes);
        if (ahead.length >= PAGES_AHEAD) await ahead.shift();
      }
      return (await stored) ? session.run : undefined;
    } catch (error) {
      // Nothing of this execution may write after the failure is recorded on the run.
      await Promise.allSettled(inFlight);
      throw error;
    }
  }

  /** Schedules the run's next step: now after progress, later (doubling) after failed executions. */
  continueLater(run: Pick<ReconcileRun, 'id' | 'failedAttempts'>): Promise<void> {
    const failed = run.failedAttempts ?? 0;
    const delay = failed === 0 ? 0 : Math.min(MAX_RETRY_DELAY_MS, (this.deps.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS) * 2 ** (failed - 1));
    return this.deps.continuation.continueLater(run.id, delay);
  }

  private async recordFailure(session: RunSession, error: unknown): Promise<ReconcileRun | undefined> {
    const run = session.run;
    const attempts = (run.failedAttempts ?? 0) + 1;
    const message = errorText(error);
    const givenUp = attempts >= (this.deps.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.deps.log.error(`Reconcile run ${run.id} failed in phase ${run.phase} (attempt ${attempts}${givenUp ? ', giving up' : ''}): ${message}`);
    const failed: ReconcileRun = givenUp
      ? { ...withoutOwner(run), failedAttempts: attempts, error: message, status: 'failed', finishedAt: this.deps.clock.now().toISOString() }
      : { ...withoutOwner(run), failedAttempts: attempts, error: message };
    if (!(await session.save(failed))) return undefined;
    return givenUp ? this.close(session, []) : session.run;
  }

  /** Closes a run that is done but was not closed, unless another execution is closing it right now. */
  private async closeOnce(stored: StoredRun): Promise<ReconcileRun | undefined> {
    const session = new RunSession(this.deps.store, stored, this.deps.inventory(stored.run.hsm), this.deps.log);
    if (!(await session.claim(this.deps.newRunId(), Date.now() + CLOSE_LEASE_MS, false))) return session.run;
    try {
      return await this.close(session, undefined);
    } finally {
      // A close that threw leaves the run unclosed and unclaimed: the next step or start closes it.
      if (!session.run.closedAt && session.run.owner) await session.save(withoutOwner(session.run)).catch(() => false);
    }
  }

  /**
   * The end of a completed or failed run: `latest` moved (forward only), the HSM's lock released,
   * the audit record and the listeners, then `closedAt`. Every part may run again after a crash;
   * the listeners guard themselves (a drift message is claimed once per run).
   */
  private async close(session: RunSession, known: readonly DriftItem[] | undefined): Promise<ReconcileRun | undefined> {
    const run = session.run;
    if (run.status === 'completed') await this.deps.store.setLatest(run.hsm, { id: run.id, startedAt: run.startedAt });
    await this.deps.store.releaseLock(run.hsm, run.id);
    if (run.status === 'failed') {
      await this.auditOnce(`reconcile.run-failed|${run.id}`, run, 'reconcile.run-failed', `${run.mode} of ${run.hsm} failed after ${run.failedAttempts ?? 0} attempt(s) in phase ${run.phase}: ${run.error ?? 'unknown error'}`, { phase: run.phase, attempts: run.failedAttempts ?? 0, error: run.error });
      this.deps.log.error(`Reconcile run ${run.id} (${run.mode}) failed: ${run.error ?? ''}`);
    } else {
      const counts = DRIFT_KINDS.filter((k) => (run.counts?.[k] ?? 0) > 0).map((k) => `${k} ${run.counts?.[k]}`).join(', ') || 'no drift';
      const items = known ?? (await this.deps.store.loadItems(run.id));
      await this.recordCompletion(run, items, `${run.mode} of ${run.hsm}: ${counts}; ${run.actions.length} action(s); ${run.hsmCalls} HSM calls`);
      this.deps.log.info(`Reconcile run ${run.id} (${run.mode}) completed: ${counts}`);
      const listeners: readonly RunListener[] = [this.deps.onCompleted ?? []].flat();
      await Promise.all(listeners.map(async (listener) => {
        try {
          await listener(run, items);
        } catch (error) {
          this.deps.log.error(`Reconcile run ${run.id}: telling others about the result failed: ${(error as Error).message}`);
        }
      }));
    }
    if (!(await session.save({ ...withoutOwner(run), closedAt: this.deps.clock.now().toISOString() }))) return undefined;
    return session.run;
  }

  /**
   * The `reconcile.completed` record with the run's events: Detected per item, then Completed, at
   * most COMPLETION_EVENTS_PER_TRANSACTION a transaction, each transaction with its own audit record
   * and once-mark. A close that is redone after a crash skips the transactions already committed and
   * rebuilds the rest with the same ids; a run closed again writes nothing.
   */
  private async recordCompletion(run: ReconcileRun, items: readonly DriftItem[], reason: string): Promise<void> {
    const details = { counts: run.counts, actions: run.actions.length, ...(run.planes?.length ? { planes: run.planes.map((p) => ({ plane: p.plane, items: p.itemCount, ...(p.refused ? { refused: p.refused.code } : {}) })) } : {}) };
    const source = this.deps.eventSource;
    const chunks: OutboundEvent[][] = source
      ? reconciliationCompletionEvents({ runId: run.id, hsm: run.hsm, mode: run.mode, completedAt: run.finishedAt ?? run.startedAt, counts: completionCounts(run), actions: run.actions.length }, items, source)
      : [[]];
    let published = 0;
    for (const [index, events] of chunks.entries()) {
      const written = index === chunks.length - 1
        ? await this.auditOnce(`reconcile.completed|${run.id}`, run, 'reconcile.completed', reason, details, events)
        : await this.auditOnce(`reconcile.drift-detected|${run.id}|${index}`, run, 'reconcile.drift-detected', `drift items ${published + 1} to ${published + events.length} of ${items.length} published`, { part: index + 1, parts: chunks.length }, events);
      published += events.length;
      if (written === 'appended' && events.length > 0) this.deps.afterCommit?.();
    }
  }

  private async requestsFor(hsm: string, principalId?: string): Promise<AccessRequest[]> {
    const stored = await listAll(this.deps.ledger, { ...(principalId ? { principalId: principalId.toLowerCase() } : {}), pageSize: 1000 });
    return stored.map((s) => s.request).filter((r) => sameHsm(r.hsm, hsm));
  }

  private async context(run: ReconcileRun, principalId?: string): Promise<DriftContext> {
    return {
      policy: this.deps.policy,
      hsm: run.hsm,
      requests: await this.requestsFor(run.hsm, principalId),
      ...(this.deps.serviceObjectId ? { serviceObjectId: this.deps.serviceObjectId } : {}),
      roleDefinitions: run.roleDefinitions,
      now: this.deps.clock.now(),
    };
  }

  /** Re-checks one item against the HSM and the ledger as they are now, then repairs it. */
  private async act(run: ReconcileRun, item: DriftItem): Promise<RunAction> {
    const inventory = this.deps.inventory(run.hsm);
    const base = { itemId: item.id, kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId };
    const at = (): string => this.deps.clock.now().toISOString();
    try {
      if (item.action === 'create') {
        const name = item.createName ?? '';
        const present = (await inventory.listAssignments(item.scope)).some((a) => a.scope === item.scope && sameAccess({ ...a, hsm: run.hsm }, { ...item, hsm: run.hsm }));
        if (present) return { ...base, assignmentName: name, action: 'skipped', detail: 'already present when re-checked', at: at() };
        const created = await inventory.createAssignment({ name, scope: item.scope, roleId: item.roleId, principalId: item.principalId });
        const action: RunAction = { ...base, assignmentName: name, action: 'created', ...(created.hsmRequestId ? { hsmRequestId: created.hsmRequestId } : {}), at: at() };
        await this.audit(run, 'reconcile.created', item.reason, { kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId, assignmentName: name }, created.hsmRequestId, this.repairedEvents(run, item, action.at));
        return action;
      }
      const current = await inventory.getAssignment(item.scope, item.assignmentName);
      if (!current) return { ...base, assignmentName: item.assignmentName, action: 'skipped', detail: 'already gone when re-checked', at: at() };
      const context = await this.context(run, current.principalId);
      if (isUntouchable(current, context)) return { ...base, assignmentName: item.assignmentName, action: 'skipped', detail: 'protected', at: at() };
      const now = classifyAssignment(current, context);
      if (!now || !REMOVABLE_KINDS.includes(now.kind)) {
        return { ...base, assignmentName: item.assignmentName, action: 'skipped', detail: now ? `now ${now.kind}: not removed` : 'justified when re-checked (a grant started since the plan)', at: at() };
      }
      const removed = await inventory.removeAssignment(item.scope, item.assignmentName);
      if (await inventory.getAssignment(item.scope, item.assignmentName)) throw new Error('still on the HSM after removal');
      const removedAt = at();
      await this.audit(run, 'reconcile.removed', now.reason, { kind: now.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId, assignmentName: item.assignmentName }, removed.hsmRequestId, this.repairedEvents(run, item, removedAt));
      return { ...base, assignmentName: item.assignmentName, action: 'removed', ...(removed.hsmRequestId ? { hsmRequestId: removed.hsmRequestId } : {}), at: removedAt };
    } catch (error) {
      const detail = (error as Error).message;
      this.deps.log.error(`Reconcile run ${run.id}: ${item.action} of ${item.kind} ${item.assignmentName || item.createName} failed: ${detail}`);
      await this.audit(run, 'reconcile.failed', detail, { kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId });
      return { ...base, assignmentName: item.assignmentName || item.createName || '', action: 'failed', detail, at: at() };
    }
  }

  private async audit(run: ReconcileRun, action: string, reason: string, details?: Record<string, unknown>, hsmRequestId?: string, events: readonly OutboundEvent[] = []): Promise<void> {
    await this.deps.ledger.appendAudit([this.auditEntry(run, action, reason, details, hsmRequestId)], events);
    if (events.length > 0) this.deps.afterCommit?.();
  }

  private auditOnce(key: string, run: ReconcileRun, action: string, reason: string, details?: Record<string, unknown>, events: readonly OutboundEvent[] = []): Promise<'appended' | 'exists'> {
    return this.deps.ledger.appendAuditOnce(key, [this.auditEntry(run, action, reason, details)], events);
  }

  private auditEntry(run: ReconcileRun, action: string, reason: string, details?: Record<string, unknown>, hsmRequestId?: string): AuditEntry {
    return {
      at: this.deps.clock.now().toISOString(),
      actor: run.requestedBy,
      action,
      requestId: run.id,
      reason,
      ...(hsmRequestId ? { hsmRequestId } : {}),
      ...(details ? { details: JSON.parse(JSON.stringify(details)) as Record<string, unknown> } : {}),
    };
  }

  async report(runId: string): Promise<{ run: ReconcileRun; items: DriftItem[] } | undefined> {
    const stored = await this.deps.store.getRun(runId);
    if (!stored) return undefined;
    return { run: stored.run, items: stored.run.phase === 'done' || stored.run.phase === 'apply' || stored.run.phase === 'planes' ? await this.deps.store.loadItems(runId) : [] };
  }

  async latestReport(hsm = this.defaultHsm): Promise<{ run: ReconcileRun; items: DriftItem[] } | undefined> {
    const id = await this.deps.store.latest(hsm);
    return id ? this.report(id) : undefined;
  }

  /** The latest completed run's inventory, for the auditors' reports. */
  async latestInventory(hsm = this.defaultHsm): Promise<{ run: ReconcileRun; assignments: ObservedAssignment[]; keys: KeyInfo[]; requests: AccessRequest[]; items: DriftItem[] } | undefined> {
    const id = await this.deps.store.latest(hsm);
    const stored = id ? await this.deps.store.getRun(id) : undefined;
    if (!stored) return undefined;
    const [assignments, keys, requests, items] = await Promise.all([
      this.deps.store.loadInventory(stored.run.id),
      this.deps.store.loadKeys(stored.run.id),
      // Running grants as of now, both planes: the reports show grants that started after the run.
      listAll(this.deps.ledger, { statuses: ['Active'], pageSize: 1000 }).then((all) => all.map((s) => s.request).filter((r) => r.plane === AZURE_RBAC_PLANE || sameHsm(r.hsm, stored.run.hsm))),
      this.deps.store.loadItems(stored.run.id),
    ]);
    return { run: stored.run, assignments, keys, requests, items };
  }
}

/**
 * One execution's hold on a run: every save presents the ETag it read (another execution's save makes
 * this one stop), measures the time and HSM calls this execution added, and renews the HSM's lock
 * while the run is running.
 */
class RunSession {
  run: ReconcileRun;
  private etag: string;
  private readonly started = Date.now();
  private readonly before: { sent: number; throttled: number };
  private readonly baseline: { durationMs: number; hsmCalls: number; hsmThrottled: number };

  constructor(private readonly store: ReconcileStorePort, stored: StoredRun, private readonly inventory: HsmInventoryPort, private readonly log: ServiceLog) {
    this.run = stored.run;
    this.etag = stored.etag;
    this.before = inventory.counts();
    this.baseline = { durationMs: stored.run.durationMs, hsmCalls: stored.run.hsmCalls, hsmThrottled: stored.run.hsmThrottled };
  }

  /** False when another execution holds the run (its claim not yet expired) or wins the race for it. */
  async claim(owner: string, until: number, countExecution: boolean): Promise<boolean> {
    if (this.run.owner && (this.run.ownerUntil ?? 0) > Date.now()) return false;
    return this.save({ ...this.run, executions: this.run.executions + (countExecution ? 1 : 0), owner, ownerUntil: until });
  }

  async save(next: ReconcileRun): Promise<boolean> {
    const counts = this.inventory.counts();
    const measured: ReconcileRun = {
      ...next,
      durationMs: this.baseline.durationMs + (Date.now() - this.started),
      hsmCalls: this.baseline.hsmCalls + counts.sent - this.before.sent,
      hsmThrottled: this.baseline.hsmThrottled + counts.throttled - this.before.throttled,
    };
    const saved = await this.store.updateRun(measured, this.etag);
    if (saved === 'conflict') {
      this.log.warn(`Reconcile run ${this.run.id}: another execution is working on it; this one stops`);
      return false;
    }
    this.etag = saved.etag;
    this.run = measured;
    if (measured.status === 'running') await this.store.holdLock(measured.hsm, measured.id, LOCK_MS);
    return true;
  }
}

/** The Completed event's counts: items by kind (every plane), and what an apply did. */
function completionCounts(run: Pick<ReconcileRun, 'counts' | 'actions' | 'held'>): Record<string, number> {
  const counts: Record<string, number> = { ...(run.counts ?? {}) };
  for (const outcome of ['created', 'removed', 'skipped', 'failed'] as const) counts[outcome] = run.actions.filter((a) => a.action === outcome).length;
  counts.held = run.held?.length ?? 0;
  return counts;
}

/** Actions are recorded in the run one by one: a resumed apply takes the first item not yet acted on. */
function firstNotActedOn(run: ReconcileRun, actions: readonly DriftItem[]): DriftItem | undefined {
  const acted = new Set(run.actions.map((a) => a.itemId));
  return actions.find((item) => !acted.has(item.id));
}

function withoutOwner(run: ReconcileRun): ReconcileRun {
  const { owner: _owner, ownerUntil: _until, ...released } = run;
  return released;
}

/** The HSM's error code and message when there is one (`AccessDenied: Not authorized ...`), else the message. */
function errorText(error: unknown): string {
  const details = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  const message = typeof details.message === 'string' ? details.message : String(error);
  const prefix = [typeof details.statusCode === 'number' ? `HTTP ${details.statusCode}` : '', typeof details.code === 'string' ? details.code : ''].filter(Boolean).join(' ');
  return (prefix && !message.startsWith(prefix) ? `${prefix}: ${message}` : message).slice(0, 1000);
}

const DEFAULT_MAX_ATTEMPTS = 5;
const DEFAULT_RETRY_DELAY_MS = 30_000;
const MAX_RETRY_DELAY_MS = 15 * 60_000;
/** How long an execution that closes a finished run keeps its claim on it. */
const CLOSE_LEASE_MS = 60_000;
/** How long past its budget an execution keeps its claim on a run (it may be finishing one HSM call). */
const OWNER_GRACE_MS = 60_000;
/** How long a run holds its HSM without a checkpoint before another run may start. */
const LOCK_MS = 15 * 60_000;
/** The safety-net continuation of a started run, for when the starting process dies. */
const CONTINUE_AFTER_MS = 60_000;
