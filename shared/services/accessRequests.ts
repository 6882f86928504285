import type { AccessRequest, AuditFilter, Caller, ChainedAuditRecord, ChainVerification, Decision, Policy } from '../domain';
import type { AuditPage, AuditPageQuery, WakeReason } from './ports';
import { cancel, extend, revoke } from './requests/changes';
import { RequestContext, type AccessRequestDependencies } from './requests/context';
import { decide } from './requests/decide';
import { provision } from './requests/grants';
import type { Outcome } from './requests/outcome';
import { awaitingDecision, getRequest, listRequests, readAudit, readAuditAll, readAuditPage, verifyAudit, type ListInput } from './requests/queries';
import { submit, type SubmitInput, type Submitted } from './requests/submit';
import { expireIfDue, sweep, wake } from './requests/sweep';

export type { AccessRequestDependencies } from './requests/context';
export { problem, type Outcome, type Problem } from './requests/outcome';
export type { ListInput } from './requests/queries';
export type { SubmitInput, Submitted } from './requests/submit';

/**
 * The access request workflow: who may ask and decide (the policy), what happens (the lifecycle),
 * and the grant and its removal on the HSM or Azure RBAC. A front over one module per use case in
 * `requests/`; every change goes through the request writer (`requests/writer.ts`).
 */
export class AccessRequestService {
  private readonly ctx: RequestContext;

  constructor(deps: AccessRequestDependencies) {
    this.ctx = new RequestContext(deps);
  }

  get policy(): Policy {
    return this.ctx.policy;
  }

  submit(caller: Caller, input: SubmitInput): Promise<Outcome<Submitted>> {
    return submit(this.ctx, caller, input);
  }

  get(caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
    return getRequest(this.ctx, caller, id);
  }

  list(caller: Caller, input: ListInput): Promise<Outcome<{ items: AccessRequest[]; continuation?: string }>> {
    return listRequests(this.ctx, caller, input);
  }

  /** Pending requests and extensions the caller may decide. */
  awaitingDecision(caller: Caller): Promise<AccessRequest[]> {
    return awaitingDecision(this.ctx, caller);
  }

  decide(caller: Caller, id: string, decision: Decision, comment?: string): Promise<Outcome<AccessRequest>> {
    return decide(this.ctx, caller, id, decision, comment);
  }

  cancel(caller: Caller, id: string): Promise<Outcome<AccessRequest>> {
    return cancel(this.ctx, caller, id);
  }

  extend(caller: Caller, id: string, duration: unknown, justification?: string): Promise<Outcome<AccessRequest>> {
    return extend(this.ctx, caller, id, duration, justification);
  }

  revoke(caller: Caller, id: string, reason?: string): Promise<Outcome<AccessRequest>> {
    return revoke(this.ctx, caller, id, reason);
  }

  wake(id: string, reason: WakeReason = 'expiry', meantFor?: Date, hop = 0): Promise<AccessRequest | undefined> {
    return wake(this.ctx, id, reason, meantFor, hop);
  }

  expireIfDue(id: string, reschedule = true): Promise<AccessRequest | undefined> {
    return expireIfDue(this.ctx, id, reschedule);
  }

  provision(id: string): Promise<AccessRequest> {
    return provision(this.ctx, id);
  }

  sweep(): Promise<{ due: number; stalled: number; timedOut: number }> {
    return sweep(this.ctx);
  }

  audit(caller: Caller, range: { from?: string; to?: string }): Promise<Outcome<ChainedAuditRecord[]>> {
    return readAudit(this.ctx, caller, range);
  }

  auditPage(caller: Caller, query: AuditPageQuery): Promise<Outcome<AuditPage>> {
    return readAuditPage(this.ctx, caller, query);
  }

  auditAll(caller: Caller, filter: AuditFilter, max: number): Promise<Outcome<{ records: ChainedAuditRecord[]; truncated: boolean }>> {
    return readAuditAll(this.ctx, caller, filter, max);
  }

  verifyAudit(): Promise<ChainVerification> {
    return verifyAudit(this.ctx);
  }
}
