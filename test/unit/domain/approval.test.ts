import { approvalsNeeded, evaluateDecision, isApproved, isApproverFor } from '../../../shared/domain/approval';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { createRequest } from '../../../shared/domain/lifecycle';
import { CALLERS, NOW, OID, applied, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const asks = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto Officer', scope: '/', justification: 'x', ticket: 'CHG-1' }, NOW) as EligibleRequest;
const pending = createRequest(policy, asks, { id: 'req-o', requestedBy: OID.sam }, NOW);

const apply = applied;

describe('evaluateDecision', () => {
  it.each([
    ['requester', CALLERS.sam!, 'approve', 'self-approval', 403],
    ['requester denying', CALLERS.sam!, 'deny', 'self-approval', 403],
    ['non-approver', CALLERS.dave!, 'approve', 'not-an-approver', 403],
    ['auditor', CALLERS.alice!, 'deny', 'not-an-approver', 403],
  ] as const)('%s → %s', (_name, approver, decision, code, status) => {
    expect(evaluateDecision(policy, pending, approver, decision)).toMatchObject({ ok: false, code, status });
  });

  it('accepts an approver, reports the outcome and the event to apply', () => {
    expect(evaluateDecision(policy, pending, CALLERS.sara!, 'approve')).toMatchObject({ ok: true, target: 'request', event: 'decide', outcome: 'pending' });
    expect(evaluateDecision(policy, pending, CALLERS.sara!, 'deny')).toMatchObject({ ok: true, outcome: 'denied' });
  });

  it('already-decided and not-pending', () => {
    const once = apply(pending, { type: 'decide', by: OID.sara, decision: 'approve' });
    expect(evaluateDecision(policy, once, CALLERS.sara!, 'approve')).toMatchObject({ code: 'already-decided', status: 409 });
    const approved = apply(once, { type: 'decide', by: OID.sean, decision: 'approve' });
    expect(evaluateDecision(policy, approved, { objectId: '00000000-0000-4000-8000-000000000001', groups: CALLERS.sam!.groups }, 'approve')).toMatchObject({ code: 'not-pending', status: 409 });
  });

  it('a rule removed from the policy has no approvers', () => {
    expect(evaluateDecision(policy, { ...pending, ruleId: 'gone' }, CALLERS.sara!, 'approve')).toMatchObject({ code: 'not-an-approver' });
  });

  it('decides pending extensions with the same rule, never by the extension requester or grantee', () => {
    const active = apply({ ...pending, approvalsRequired: 1 }, { type: 'decide', by: OID.sara, decision: 'approve' }, { type: 'granted', assignmentName: 'n' }, { type: 'requestExtension', by: OID.sam, durationMs: 60_000 });
    expect(evaluateDecision(policy, active, CALLERS.sean!, 'approve')).toMatchObject({ ok: true, target: 'extension', event: 'decideExtension', outcome: 'approved' });
    expect(evaluateDecision(policy, active, CALLERS.sam!, 'approve')).toMatchObject({ code: 'self-approval' });
    const activeNoExt = apply({ ...pending, approvalsRequired: 1 }, { type: 'decide', by: OID.sara, decision: 'approve' }, { type: 'granted', assignmentName: 'n' });
    expect(evaluateDecision(policy, activeNoExt, CALLERS.sean!, 'approve')).toMatchObject({ code: 'not-pending' });
  });

  it('approvalsNeeded and isApproved', () => {
    expect(approvalsNeeded(policy, pending)).toBe(2);
    expect(isApproved(pending)).toBe(false);
    const once = apply(pending, { type: 'decide', by: OID.sara, decision: 'approve' });
    expect(approvalsNeeded(policy, once)).toBe(1);
    const twice = apply(once, { type: 'decide', by: OID.sean, decision: 'approve' });
    expect(approvalsNeeded(policy, twice)).toBe(0);
    expect(isApproved(twice)).toBe(true);
    expect(isApproved({ ...twice, decisions: [...twice.decisions, { by: 'x', decision: 'deny', at: NOW.toISOString() }] })).toBe(false);
    expect(isApproved({ ...once, decisions: [once.decisions[0]!, once.decisions[0]!] })).toBe(false);
  });

  it('isApproverFor: members by group or directly; never for approval none', () => {
    const rule = policy.eligibility.find((r) => r.id === 'security-crypto-user')!;
    expect(isApproverFor(rule, CALLERS.sean!)).toBe(true);
    expect(isApproverFor(rule, CALLERS.dave!)).toBe(false);
    const none = policy.eligibility.find((r) => r.id === 'auditor-key-review')!;
    expect(isApproverFor(none, CALLERS.sam!)).toBe(false);
  });
});
