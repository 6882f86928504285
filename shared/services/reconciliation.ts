import {
  classifyAssignment,
  computeDrift,
  DRIFT_KINDS,
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
  type Policy,
} from '../domain';
import type { AuditEntry, Clock, LedgerPort, ServiceLog } from './ports';
import type { HsmInventoryPort, KeyInfo, ReconcileRun, ReconcileStorePort, RunAction, RunMode } from './reconciliationPorts';

/** Key scopes listed at once; the pacer, not this, keeps the HSM's rate. */
const SCOPE_CONCURRENCY = 8;
/** Key scopes between checkpoints. */
const SCOPES_PER_CHECKPOINT = 200;

export interface RunContinuation {
  /** Makes sure the run is stepped again after `delayMs`, even if this process dies now. */
  continueLater(runId: string, delayMs: number): Promise<void>;
}

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
  /** Told about every completed run (notifications, events); its failures never fail the run. */
  onCompleted?(run: ReconcileRun, items: readonly DriftItem[]): Promise<void>;
}

export type StartOutcome = { ok: true; run: ReconcileRun } | { ok: false; code: 'reconcile-in-progress'; runningRunId: string };

function sameHsm(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]);
    }
  });
  await Promise.all(workers);
  return results;
}

/**
 * Nightly and on-demand drift reconciliation of one HSM. A run is a sequence of checkpointed
 * steps stored in Table Storage: an execution that runs out of time stops at a checkpoint and the
 * next one resumes there, so a run over 5,000 keys never starts over and never applies twice.
 */
export class ReconciliationService {
  constructor(private readonly deps: ReconciliationDeps) {}

  /** Starts a run; refused while another run of the same HSM is in progress. */
  async start(mode: RunMode, requestedBy: string, hsm = this.deps.policy.defaultHsm ?? this.deps.policy.hsms[0]?.name ?? ''): Promise<StartOutcome> {
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
    const created = await this.deps.store.createRun(run, LOCK_MS);
    if (!created.created) return { ok: false, code: 'reconcile-in-progress', runningRunId: created.runningRunId };
    return { ok: true, run };
  }

  /**
   * Works on a run until it is done or `budgetMs` has passed, checkpointing as it goes. Returns the
   * run as stored; `running` means another step is needed (the caller schedules it).
   */
  async step(runId: string, budgetMs: number): Promise<ReconcileRun | undefined> {
    const started = Date.now();
    const deadline = started + budgetMs;
    const stored = await this.deps.store.getRun(runId);
    if (!stored) return undefined;
    if (stored.run.status !== 'running') return stored.run;
    let { run, etag } = stored;
    const inventory = this.deps.inventory(run.hsm);
    const before = inventory.counts();
    let keys: KeyInfo[] | undefined;
    let items: DriftItem[] | undefined;
    // Read once per execution: the apply phase acts on one item per checkpoint.
    let plan: ApplyPlan | undefined;

    const baseline = { durationMs: run.durationMs, hsmCalls: run.hsmCalls, hsmThrottled: run.hsmThrottled };
    const checkpoint = async (next: ReconcileRun): Promise<boolean> => {
      const counts = inventory.counts();
      const measured: ReconcileRun = {
        ...next,
        durationMs: baseline.durationMs + (Date.now() - started),
        hsmCalls: baseline.hsmCalls + counts.sent - before.sent,
        hsmThrottled: baseline.hsmThrottled + counts.throttled - before.throttled,
      };
      const saved = await this.deps.store.updateRun(measured, etag);
      if (saved === 'conflict') {
        this.deps.log.warn(`Reconcile run ${run.id}: another execution is working on it; this one stops`);
        return false;
      }
      etag = saved.etag;
      run = measured;
      await this.deps.store.holdLock(run.hsm, run.id, LOCK_MS);
      return true;
    };

    // Claim the run for this execution: a duplicate continuation loses here and does nothing.
    if (run.owner && (run.ownerUntil ?? 0) > Date.now()) return run;
    const me = this.deps.newRunId();
    if (!(await checkpoint({ ...run, executions: run.executions + 1, owner: me, ownerUntil: deadline + OWNER_GRACE_MS }))) return undefined;
    try {
      // At least one unit of work per execution, however small the budget: every execution makes progress.
      while (run.status === 'running') {
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
            const page = await inventory.listKeysPage(run.keysContinuation);
            await this.deps.store.saveKeys(run.id, page.keys);
            const { keysContinuation: _, ...rest } = run;
            next = page.continuation
              ? { ...rest, keysContinuation: page.continuation, keyCount: run.keyCount + page.keys.length }
              : { ...rest, keyCount: run.keyCount + page.keys.length, phase: 'scopes' };
            break;
          }
          case 'scopes': {
            keys ??= await this.deps.store.loadKeys(run.id);
            const batch = keys.slice(run.scopesDone, run.scopesDone + SCOPES_PER_CHECKPOINT);
            const listed = await mapLimit(batch, SCOPE_CONCURRENCY, async (key) => ({ scope: `/keys/${key.name}`, assignments: await inventory.listAssignments(`/keys/${key.name}`) }));
            await this.deps.store.saveInventory(run.id, listed);
            const scopesDone = run.scopesDone + batch.length;
            next = { ...run, scopesDone, keyCount: keys.length, phase: scopesDone >= keys.length ? 'classify' : 'scopes' };
            break;
          }
          case 'classify': {
            const observed = await this.deps.store.loadInventory(run.id);
            items = computeDrift(observed, await this.context(run));
            await this.deps.store.saveItems(run.id, items);
            const summary = summarizeDrift(items);
            next = { ...run, counts: summary.byKind, itemCount: summary.total, phase: run.mode === 'apply' ? 'apply' : 'done' };
            break;
          }
          case 'apply': {
            items ??= await this.deps.store.loadItems(run.id);
            plan ??= planApply(items, await this.deps.store.loadInventory(run.id), this.deps.policy);
            if (plan.refused) {
              next = { ...run, refused: plan.refused, phase: 'done' };
              await this.audit(run, 'reconcile.apply-refused', plan.refused.detail);
              break;
            }
            // Actions are recorded in the run one by one: a resumed apply takes the first item not yet acted on.
            const acted = new Set(run.actions.map((a) => a.itemId));
            const pending = plan.actions.find((item) => !acted.has(item.id));
            next = pending
              ? { ...run, actions: [...run.actions, await this.act(run, pending)] }
              : { ...run, held: plan.held.map((h) => ({ itemId: h.item.id, reason: h.reason })), phase: 'done' };
            break;
          }
          default:
            next = { ...run, status: 'completed', finishedAt: this.deps.clock.now().toISOString() };
        }
        if (!(await checkpoint(next))) return undefined;
        if (Date.now() >= deadline) break;
      }
    } catch (error) {
      // Progress up to the last checkpoint is kept; the next execution tries again from there.
      this.deps.log.error(`Reconcile run ${run.id} stopped in phase ${run.phase}: ${(error as Error).message}`);
      throw error;
    }
    const { owner: _owner, ownerUntil: _until, ...released } = run;
    if (!(await checkpoint(released))) return undefined;
    if (run.status === 'completed') await this.finish(run, items ?? (await this.deps.store.loadItems(run.id)));
    return run;
  }

  /** Schedules the run's next step now (a run that ran out of time in this execution). */
  continueLater(runId: string): Promise<void> {
    return this.deps.continuation.continueLater(runId, 0);
  }

  private async finish(run: ReconcileRun, items: readonly DriftItem[]): Promise<void> {
    await this.deps.store.setLatest(run.hsm, run.id);
    await this.deps.store.releaseLock(run.hsm, run.id);
    const counts = DRIFT_KINDS.filter((k) => (run.counts?.[k] ?? 0) > 0).map((k) => `${k} ${run.counts?.[k]}`).join(', ') || 'no drift';
    await this.audit(run, 'reconcile.completed', `${run.mode} of ${run.hsm}: ${counts}; ${run.actions.length} action(s); ${run.hsmCalls} HSM calls`, { counts: run.counts, actions: run.actions.length });
    this.deps.log.info(`Reconcile run ${run.id} (${run.mode}) completed: ${counts}`);
    try {
      await this.deps.onCompleted?.(run, items);
    } catch (error) {
      this.deps.log.error(`Reconcile run ${run.id}: telling others about the result failed: ${(error as Error).message}`);
    }
  }

  private async requestsFor(hsm: string, principalId?: string): Promise<AccessRequest[]> {
    const all: AccessRequest[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.deps.ledger.list({ ...(principalId ? { principalId: principalId.toLowerCase() } : {}), ...(continuation ? { continuation } : {}), pageSize: 1000 });
      all.push(...page.items.map((i) => i.request).filter((r) => sameHsm(r.hsm, hsm)));
      continuation = page.continuation;
    } while (continuation);
    return all;
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
        await this.audit(run, 'reconcile.created', item.reason, { kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId, assignmentName: name }, created.hsmRequestId);
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
      await this.audit(run, 'reconcile.removed', now.reason, { kind: now.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId, assignmentName: item.assignmentName }, removed.hsmRequestId);
      return { ...base, assignmentName: item.assignmentName, action: 'removed', ...(removed.hsmRequestId ? { hsmRequestId: removed.hsmRequestId } : {}), at: at() };
    } catch (error) {
      const detail = (error as Error).message;
      this.deps.log.error(`Reconcile run ${run.id}: ${item.action} of ${item.kind} ${item.assignmentName || item.createName} failed: ${detail}`);
      await this.audit(run, 'reconcile.failed', detail, { kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId });
      return { ...base, assignmentName: item.assignmentName || item.createName || '', action: 'failed', detail, at: at() };
    }
  }

  private async audit(run: ReconcileRun, action: string, reason: string, details?: Record<string, unknown>, hsmRequestId?: string): Promise<void> {
    const entry: AuditEntry = {
      at: this.deps.clock.now().toISOString(),
      actor: run.requestedBy,
      action,
      requestId: run.id,
      reason,
      ...(hsmRequestId ? { hsmRequestId } : {}),
      ...(details ? { details: JSON.parse(JSON.stringify(details)) as Record<string, unknown> } : {}),
    };
    await this.deps.ledger.appendAudit([entry]);
  }

  async report(runId: string): Promise<{ run: ReconcileRun; items: DriftItem[] } | undefined> {
    const stored = await this.deps.store.getRun(runId);
    if (!stored) return undefined;
    return { run: stored.run, items: stored.run.phase === 'done' || stored.run.phase === 'apply' ? await this.deps.store.loadItems(runId) : [] };
  }

  async latestReport(hsm = this.deps.policy.defaultHsm ?? this.deps.policy.hsms[0]?.name ?? ''): Promise<{ run: ReconcileRun; items: DriftItem[] } | undefined> {
    const id = await this.deps.store.latest(hsm);
    return id ? this.report(id) : undefined;
  }

  /** The latest completed run's inventory, for the auditors' reports. */
  async latestInventory(hsm = this.deps.policy.defaultHsm ?? this.deps.policy.hsms[0]?.name ?? ''): Promise<{ run: ReconcileRun; assignments: ObservedAssignment[]; keys: KeyInfo[]; requests: AccessRequest[]; items: DriftItem[] } | undefined> {
    const id = await this.deps.store.latest(hsm);
    const stored = id ? await this.deps.store.getRun(id) : undefined;
    if (!stored) return undefined;
    const [assignments, keys, requests, items] = await Promise.all([
      this.deps.store.loadInventory(stored.run.id),
      this.deps.store.loadKeys(stored.run.id),
      this.requestsFor(stored.run.hsm),
      this.deps.store.loadItems(stored.run.id),
    ]);
    return { run: stored.run, assignments, keys, requests, items };
  }
}

/** How long past its budget an execution keeps its claim on a run (it may be finishing one HSM call). */
const OWNER_GRACE_MS = 60_000;
/** How long a run holds its HSM without a checkpoint before another run may start. */
export const LOCK_MS = 15 * 60_000;
/** The safety-net continuation of a started run, for when the starting process dies. */
export const CONTINUE_AFTER_MS = 60_000;
