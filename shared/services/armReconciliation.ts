/** Reconciliation of the management plane: Azure role assignments on the policy's governed ARM scopes. */
import {
  armRepairObstacle, AZURE_RBAC_PLANE, computeArmDrift, isArmDriftItem, planArmApply, type AccessRequest, type ArmDriftContext, type DriftItem, type ObservedArmAssignment, type Policy, type RequestPlane,
  type ApplyRefusal,
} from '../domain';
import { listAll, type Clock, type LedgerPort, type ServiceLog } from './ports';
import type { PlaneReconciler, RepairRecord, RunAction } from './reconciliationPorts';

export interface ArmInventoryPort {
  /** The assignments at `scope` and above it (`atScope()`). */
  listAt(scope: string): Promise<ObservedArmAssignment[]>;
  create(assignment: ObservedArmAssignment): Promise<{ requestId?: string }>;
  remove(scope: string, name: string): Promise<{ requestId?: string }>;
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
 * The management plane as a part of a reconcile run (ReconciliationService drives it in its
 * `planes` phase): the governed ARM scopes are listed and classified, and an enforcing apply repairs
 * one item at a time, each re-checked just before, within the data plane's guard rails.
 */
export class ArmReconciliationService implements PlaneReconciler {
  readonly plane: RequestPlane = AZURE_RBAC_PLANE;

  constructor(private readonly deps: ArmReconciliationDependencies) {}

  async inspect(): Promise<{ scopes: readonly string[]; items: DriftItem[] }> {
    const scopes = this.deps.policy.azureRbac?.scopes ?? [];
    const observed = (await Promise.all(scopes.map((scope) => this.deps.inventory.listAt(scope)))).flat();
    return { scopes, items: computeArmDrift(observed, await this.context()) };
  }

  planApply(items: readonly DriftItem[]): { actions: readonly DriftItem[]; refused?: ApplyRefusal } {
    return planArmApply(items.filter(isArmDriftItem), this.deps.policy);
  }

  async repair(item: DriftItem, record: RepairRecord): Promise<RunAction> {
    const name = item.action === 'create' ? item.createName ?? '' : item.assignmentName;
    const base = { itemId: item.id, kind: item.kind, scope: item.scope, assignmentName: name, principalId: item.principalId, roleId: item.roleId, plane: this.plane };
    const details = { plane: AZURE_RBAC_PLANE, kind: item.kind, scope: item.scope, principalId: item.principalId, roleId: item.roleId, assignmentName: name };
    try {
      const obstacle = armRepairObstacle(item, await this.deps.inventory.listAt(item.scope), await this.context(item.principalId));
      if (obstacle) return { ...base, action: 'skipped', detail: obstacle, at: this.now() };
      let requestId: string | undefined;
      if (item.action === 'create') {
        const standing = this.deps.policy.azureRbac?.standing.find((s) => s.principalId === item.principalId && s.role.id === item.roleId);
        ({ requestId } = await this.deps.inventory.create({ name, scope: item.scope, roleId: item.roleId, principalId: item.principalId, ...(standing ? { principalType: standing.principalType } : {}) }));
      } else {
        ({ requestId } = await this.deps.inventory.remove(item.scope, name));
      }
      const at = this.now();
      const action = item.action === 'create' ? 'created' : 'removed';
      // The audit trail's request-id field holds the x-ms-request-id of either plane.
      await record.audit(`reconcile.${action}`, item.reason, details, { item, at, ...(requestId ? { requestId } : {}) });
      return { ...base, action, ...(requestId ? { armRequestId: requestId } : {}), at };
    } catch (error) {
      const detail = (error as Error).message;
      this.deps.log.error(`Azure RBAC repair of ${item.kind} ${name} at ${item.scope} failed: ${detail}`);
      await record.audit('reconcile.failed', detail, details);
      return { ...base, action: 'failed', detail, at: this.now() };
    }
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  private async context(principalId?: string): Promise<ArmDriftContext> {
    return {
      policy: this.deps.policy, requests: await this.requests(principalId), now: this.deps.clock.now(),
      ...(this.deps.serviceObjectId ? { serviceObjectId: this.deps.serviceObjectId } : {}),
    };
  }

  /** Every request on record (the management plane's are picked out by the classification), or one principal's. */
  private async requests(principalId?: string): Promise<AccessRequest[]> {
    return (await listAll(this.deps.ledger, { ...(principalId ? { principalId: principalId.toLowerCase() } : {}), pageSize: 1000 })).map((stored) => stored.request);
  }
}
