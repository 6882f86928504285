import { maySeeRequest, type AccessRequest, type Caller, type GrantUsage, type Policy } from '../../domain';
import type { AssignmentPort, Clock, LedgerPort, RevocationScheduler, ServiceLog } from '../ports';
import { WakeRegistry } from './wakeups';
import { RequestWriter } from './writer';

export interface AccessRequestDependencies {
  policy: Policy;
  ledger: LedgerPort;
  /** The assignment port of the HSM named in the policy. */
  hsm(hsmName: string): AssignmentPort;
  /** Azure RBAC on the policy's ARM scopes (management-plane requests); absent when the app has no ARM settings. */
  azureRbac?: AssignmentPort;
  scheduler: RevocationScheduler;
  clock: Clock;
  log: ServiceLog;
  newId(): string;
  /** Called when a grant ends in Failed, after the audit record is stored (alerting goes here). */
  onFailed?(request: AccessRequest): Promise<void>;
  /** Waits between retries of a failed removal (tests pass a faster one). */
  sleep?(ms: number): Promise<void>;
  /** Called after every saved change (`before` undefined for a new request), e.g. to notify; its failures are logged, never thrown. */
  onTransition?(before: AccessRequest | undefined, after: AccessRequest): Promise<void>;
  /** The process's wake-up registry (one per process; without it, one per service). */
  wakeups?: WakeRegistry;
  /** The CloudEvents `source` of lifecycle events; without it (no topic configured) none are written to the outbox. */
  eventSource?: string;
  /**
   * Store each change's notifications with it as notice rows (the ledger must keep them), sent after
   * the commit by the notice drainer; without it, `onTransition` is the only way they go out.
   */
  notices?: boolean;
  /** What the grantee did under a grant, as the HSM's audit log shows it so far: put into the grant's Expired or Revoked record. */
  usageOf?(request: AccessRequest): Promise<GrantUsage>;
}

/**
 * When the follow-up of a step wakes: a grant after its approval, a removal after its revocation.
 * It is scheduled before the step's commit, so that it outlives the process that commits.
 */
const FOLLOW_UP_MS = 2_000;

/** What every use case of the request workflow shares: its dependencies and the one write path. */
export class RequestContext {
  readonly writer: RequestWriter;
  readonly sleep: (ms: number) => Promise<void>;
  readonly wakeups: WakeRegistry;

  constructor(readonly deps: AccessRequestDependencies) {
    this.writer = new RequestWriter(deps);
    this.wakeups = deps.wakeups ?? new WakeRegistry();
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get policy(): Policy {
    return this.deps.policy;
  }

  canSee(caller: Caller, request: AccessRequest): boolean {
    return maySeeRequest(this.deps.policy, caller, request);
  }

  /** A wake-up soon, sent before a step's commit: whichever process dies, a live one finishes the step. */
  followUp(id: string, hop = 0): Promise<void> {
    return this.deps.scheduler.schedule(id, new Date(this.deps.clock.now().getTime() + FOLLOW_UP_MS), 'follow-up', hop);
  }
}
