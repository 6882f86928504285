/** What reconciliation and the auditors' reports need from an HSM and from storage. */
import type { ApplyRefusal, DriftItem, DriftKind, ObservedAssignment, ObservedRoleDefinition, RequestPlane } from '../domain';

export interface KeyInfo {
  readonly name: string;
  readonly enabled?: boolean;
  /** ISO 8601: when the current version was made, i.e. last rotated. */
  readonly createdOn?: string;
  readonly updatedOn?: string;
  readonly expiresOn?: string;
}

export interface RoleDefinitionInfo extends ObservedRoleDefinition {
  readonly dataActions: readonly string[];
  readonly notDataActions: readonly string[];
}

/** One HSM, read and changed as the service's identity, paced under its throttling. */
export interface HsmInventoryPort {
  /** One page of keys; follow `continuation` until it is undefined. */
  listKeysPage(continuation?: string): Promise<{ keys: KeyInfo[]; continuation?: string }>;
  /** At `/`: assignments at `/` and `/keys` (the HSM lists no key-level ones there). At `/keys/{name}`: exactly those at that key. */
  listAssignments(scope: string): Promise<ObservedAssignment[]>;
  listRoleDefinitions(): Promise<RoleDefinitionInfo[]>;
  getAssignment(scope: string, name: string): Promise<ObservedAssignment | undefined>;
  createAssignment(assignment: ObservedAssignment): Promise<{ hsmRequestId?: string; outcome: 'created' | 'covered' }>;
  removeAssignment(scope: string, name: string): Promise<{ hsmRequestId?: string }>;
  /** HTTP requests sent so far, retries included, and how many of them the HSM throttled. */
  counts(): { sent: number; throttled: number };
}

export type RunMode = 'plan' | 'apply';
export type RunStatus = 'running' | 'completed' | 'failed';
/**
 * `keys` lists the keys page by page and, with each page, its keys' own assignments; `planes`
 * reconciles the other planes (Azure RBAC) after the HSM's own apply.
 */
export type RunPhase = 'definitions' | 'root' | 'keys' | 'classify' | 'apply' | 'planes' | 'done';

export interface RunAction {
  readonly itemId: string;
  readonly kind: DriftItem['kind'];
  readonly action: 'created' | 'removed' | 'skipped' | 'failed';
  readonly scope: string;
  readonly assignmentName: string;
  readonly principalId: string;
  readonly roleId: string;
  readonly detail?: string;
  readonly hsmRequestId?: string;
  /** The management plane's x-ms-request-id of the change. */
  readonly armRequestId?: string;
  /** Set for the management plane's actions; absent for the HSM's. */
  readonly plane?: RequestPlane;
  readonly at: string;
}

/** What a run found and did on another plane; stored with the run. */
export interface PlaneResult {
  readonly plane: RequestPlane;
  /** Where it looked (the governed ARM scopes). */
  readonly scopes: readonly string[];
  readonly itemCount: number;
  readonly counts: Readonly<Record<DriftKind, number>>;
  readonly refused?: { readonly code: string; readonly detail: string };
  /** Its part of the run is over: inspected in a plan; every action taken (or refused) in an apply. */
  readonly done: boolean;
}

/** How a plane's repair is recorded: an audit record of the run, committed with the item's Repaired event when it made a change. */
export interface RepairRecord {
  /** `repaired`: the change was made at `at` (its request id in the record, its Repaired event with it when a topic is configured). */
  audit(action: string, reason: string, details: Record<string, unknown>, repaired?: { item: DriftItem; at: string; requestId?: string }): Promise<void>;
}

/**
 * Another plane a run reconciles after the HSM's own apply (the management plane): it inspects
 * once per run, and repairs one item at a time so that the run checkpoints after each repair.
 */
export interface PlaneReconciler {
  readonly plane: RequestPlane;
  /** Lists the plane and classifies what it holds; changes nothing. Every item carries `plane`. */
  inspect(): Promise<{ scopes: readonly string[]; items: DriftItem[] }>;
  /** The guard rails: the items an enforcing apply acts on, or why it acts on none. */
  planApply(items: readonly DriftItem[]): { actions: readonly DriftItem[]; refused?: ApplyRefusal };
  /** Re-checks the item as the plane is now and repairs it if it still needs it; audits every change. */
  repair(item: DriftItem, record: RepairRecord): Promise<RunAction>;
}

/** A reconciliation run: its checkpoint while it runs, its report once it is done. */
export interface ReconcileRun {
  readonly id: string;
  readonly hsm: string;
  readonly mode: RunMode;
  readonly requestedBy: string;
  readonly status: RunStatus;
  readonly phase: RunPhase;
  readonly startedAt: string;
  readonly finishedAt?: string;
  /** Sum of the executions' own time, not the wall time between them. */
  readonly durationMs: number;
  readonly executions: number;
  readonly hsmCalls: number;
  readonly hsmThrottled: number;
  /** Where the inventory stopped: the next keys page's link. */
  readonly keysContinuation?: string;
  readonly keyCount: number;
  readonly scopesDone: number;
  readonly roleDefinitions: readonly RoleDefinitionInfo[];
  /** Items by kind, over every plane. */
  readonly counts?: Readonly<Record<DriftItem['kind'], number>>;
  readonly itemCount?: number;
  readonly actions: readonly RunAction[];
  readonly refused?: { readonly code: string; readonly detail: string };
  readonly held?: ReadonlyArray<{ readonly itemId: string; readonly reason: string }>;
  /** The other planes' part of the run (Azure RBAC): their items are among the run's, their actions in `actions`. */
  readonly planes?: readonly PlaneResult[];
  /** The last failure; with status `failed`, why the run was given up. */
  readonly error?: string;
  /** Executions in a row that failed (an HSM or storage error); reset by progress. */
  readonly failedAttempts?: number;
  /** When the run's end was recorded: `latest` moved, lock released, audit record written, listeners told. */
  readonly closedAt?: string;
  /** The execution working on the run, until when (epoch ms): a duplicate continuation leaves it alone. */
  readonly owner?: string;
  readonly ownerUntil?: number;
}

export interface StoredRun {
  readonly run: ReconcileRun;
  readonly etag: string;
}

/** Runs, their inventories and items, in Table Storage. Every run update presents the ETag it read. */
export interface ReconcileStorePort {
  /** 'busy' with the running run's id when another run of this HSM holds the lock. */
  createRun(run: ReconcileRun, lockForMs: number): Promise<{ created: true } | { created: false; runningRunId: string }>;
  getRun(id: string): Promise<StoredRun | undefined>;
  /** 'conflict' when another execution changed the run since it was read. */
  updateRun(run: ReconcileRun, etag: string): Promise<{ etag: string } | 'conflict'>;
  /** Renews or releases the HSM's run lock held by `runId`. */
  holdLock(hsm: string, runId: string, forMs: number): Promise<void>;
  releaseLock(hsm: string, runId: string): Promise<void>;
  saveKeys(runId: string, keys: readonly KeyInfo[]): Promise<void>;
  loadKeys(runId: string): Promise<KeyInfo[]>;
  saveInventory(runId: string, byScope: ReadonlyArray<{ scope: string; assignments: readonly ObservedAssignment[] }>): Promise<void>;
  loadInventory(runId: string): Promise<ObservedAssignment[]>;
  /** The HSM's items, or another plane's (`plane`), kept apart so that neither overwrites the other. */
  saveItems(runId: string, items: readonly DriftItem[], plane?: RequestPlane): Promise<void>;
  /** Every plane's items, the HSM's first. */
  loadItems(runId: string): Promise<DriftItem[]>;
  /** Points `latest` at the run, unless it already points at a run started later. */
  setLatest(hsm: string, run: { id: string; startedAt: string }): Promise<void>;
  latest(hsm: string): Promise<string | undefined>;
}
