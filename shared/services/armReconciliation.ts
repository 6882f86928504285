/** Reconciliation of the management plane: Azure role assignments on the policy's governed ARM scopes. */
import { computeArmDrift, planArmApply, summarizeDrift, type AccessRequest, type ArmDriftItem, type DriftSummary, type ObservedArmAssignment, type Policy } from '../domain';
import type { AuditEntry, Clock, LedgerPort, ServiceLog } from './ports';
import type { RunMode } from './reconciliationPorts';

export interface ArmInventoryPort {
  /** The assignments at `scope` and above it (`atScope()`). */
  listAt(scope: string): Promise<ObservedArmAssignment[]>;
  create(assignment: ObservedArmAssignment): Promise<{ requestId?: string }>;
  remove(scope: string, name: string): Promise<{ requestId?: string }>;
}

export interface ArmReconcileAction {
  readonly itemId: string;
  readonly kind: ArmDriftItem['kind'];
  readonly action: 'created' | 'removed' | 'failed';
  readonly scope: string;
  readonly assignmentName: string;
  readonly detail?: string;
  readonly armRequestId?: string;
}

/** The management plane's part of a reconcile report. */
export interface ArmReconcileReport {
  readonly mode: RunMode;
  readonly scopes: readonly string[];
  readonly summary: DriftSummary;
  readonly items: readonly ArmDriftItem[];
  readonly actions: readonly ArmReconcileAction[];
  readonly refused?: { readonly code: string; readonly detail: string };
}

export interface ArmReconciliationDependencies {
  policy: Policy;
  ledger: LedgerPort;
  inventory: ArmInventoryPort;
  clock: Clock;
  log: ServiceLog;
  serviceObjectId?: string;
}

/**
 * One pass over the governed ARM scopes (a handful: no checkpoints needed): list, classify, and in
 * an enforcing apply repair within the data plane's guard rails. Every repair is audited.
 */
export class ArmReconciliationService {
  constructor(private readonly deps: ArmReconciliationDependencies) {}

  /** `runId` ties the audit records to the reconcile run they belong to (the data plane's run of the same call). */
  async run(mode: RunMode, requestedBy: string, runId: string): Promise<ArmReconcileReport> {
    const scopes = this.deps.policy.azureRbac?.scopes ?? [];
    const observed = (await Promise.all(scopes.map((scope) => this.deps.inventory.listAt(scope)))).flat();
    const requests = await this.allRequests();
    const items = computeArmDrift(observed, {
      policy: this.deps.policy, requests, now: this.deps.clock.now(),
      ...(this.deps.serviceObjectId ? { serviceObjectId: this.deps.serviceObjectId } : {}),
    });
    const base = { mode, scopes, summary: summarizeDrift(items), items };
    if (mode === 'plan') return { ...base, actions: [] };
    const plan = planArmApply(items, this.deps.policy);
    if (plan.refused) {
      await this.audit(runId, requestedBy, 'reconcile.refused', plan.refused.detail, { plane: 'azure-rbac', code: plan.refused.code });
      return { ...base, actions: [], refused: plan.refused };
    }
    const actions: ArmReconcileAction[] = [];
    for (const item of plan.actions) actions.push(await this.repair(item, requestedBy, runId));
    return { ...base, actions };
  }

  private async repair(item: ArmDriftItem, requestedBy: string, runId: string): Promise<ArmReconcileAction> {
    const details = { plane: item.plane, kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId };
    const name = item.action === 'create' ? item.createName ?? '' : item.assignmentName;
    const base = { itemId: item.id, kind: item.kind, scope: item.scope, assignmentName: name };
    try {
      if (item.action === 'create') {
        const standing = this.deps.policy.azureRbac?.standing.find((s) => s.principalId === item.principalId && s.role.id === item.roleId);
        const { requestId } = await this.deps.inventory.create({ name, scope: item.scope, roleId: item.roleId, principalId: item.principalId, ...(standing ? { principalType: standing.principalType } : {}) });
        await this.audit(runId, requestedBy, 'reconcile.created', item.reason, { ...details, assignmentName: name }, requestId);
        return { ...base, action: 'created', ...(requestId ? { armRequestId: requestId } : {}) };
      }
      const { requestId } = await this.deps.inventory.remove(item.scope, name);
      await this.audit(runId, requestedBy, 'reconcile.removed', item.reason, { ...details, assignmentName: name }, requestId);
      return { ...base, action: 'removed', ...(requestId ? { armRequestId: requestId } : {}) };
    } catch (error) {
      const detail = (error as Error).message;
      this.deps.log.error(`Azure RBAC repair of ${item.kind} ${name} at ${item.scope} failed: ${detail}`);
      return { ...base, action: 'failed', detail };
    }
  }

  private async allRequests(): Promise<AccessRequest[]> {
    const all: AccessRequest[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.deps.ledger.list({ ...(continuation ? { continuation } : {}), pageSize: 1000 });
      all.push(...page.items.map((i) => i.request));
      continuation = page.continuation;
    } while (continuation);
    return all;
  }

  private async audit(runId: string, actor: string, action: string, reason: string, details: Record<string, unknown>, armRequestId?: string): Promise<void> {
    const entry: AuditEntry = { at: this.deps.clock.now().toISOString(), actor, action, requestId: runId, reason, ...(armRequestId ? { hsmRequestId: armRequestId } : {}), details };
    await this.deps.ledger.appendAudit([entry]);
  }
}
