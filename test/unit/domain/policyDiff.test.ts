import { applyEvent, createRequest, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { diffPolicy, policyDiffIsEmpty } from '../../../shared/domain/policy/diff';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { CALLERS, NOW, OID, contosoPolicy, contosoPolicyText } from './fixtures';

const current = contosoPolicy();
/** One transition that must be allowed. */
function step(request: AccessRequest, event: RequestEvent): AccessRequest {
  const result = applyEvent(request, event, NOW);
  if (!result.ok) throw new Error(result.detail);
  return result.request;
}

const edited = (edit: (text: string) => string) => parsePolicy(edit(contosoPolicyText()), 'new.yaml');

function releaseRequest(id: string, status: 'Pending' | 'Active'): AccessRequest {
  const evaluation = evaluateRequest(current, CALLERS.dave, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'Release 1.4.0' }, NOW) as EligibleRequest;
  expect(evaluation.ok).toBe(true);
  const pending = createRequest(current, evaluation, { id, requestedBy: OID.dave }, NOW);
  if (status === 'Pending') return pending;
  const approved = step(pending, { type: 'decide', by: OID.sam, decision: 'approve' });
  return step(approved, { type: 'granted', assignmentName: 'grant-1' });
}

describe('policy diff', () => {
  it('finds nothing when the policy does not change', () => {
    const diff = diffPolicy(current, current, [releaseRequest('r1', 'Pending'), releaseRequest('r2', 'Active')], NOW);
    expect(policyDiffIsEmpty(diff)).toBe(true);
  });

  it('names the open requests it would refuse and the running grants it would no longer justify, with the refusal', () => {
    const shorter = edited((t) => t.replace(/defaultDuration: PT1H\n {4}maxDuration: PT8H/, 'defaultDuration: PT30M\n    maxDuration: PT30M'));
    const diff = diffPolicy(current, shorter, [releaseRequest('r1', 'Pending'), releaseRequest('r2', 'Active')], NOW);
    expect(diff.refusedRequests).toEqual([expect.objectContaining({ requestId: 'r1', status: 'Pending', code: 'duration-too-long' })]);
    expect(diff.unjustifiedGrants).toEqual([expect.objectContaining({ requestId: 'r2', status: 'Active', code: 'duration-too-long' })]);
    expect(diff.standing).toEqual([]);
  });

  it('re-asks as the requester the new policy knows: removed from the requesting group, dave is no longer eligible', () => {
    const withoutDave = edited((t) => t.replace('members: [dave, dana]', 'members: [dana]'));
    const diff = diffPolicy(current, withoutDave, [releaseRequest('r1', 'Pending')], NOW);
    expect(diff.refusedRequests.map((r) => [r.requestId, r.code])).toEqual([['r1', 'not-eligible']]);
  });

  it('leaves ended requests and grants past their expiry alone', () => {
    const active = releaseRequest('r2', 'Active');
    const later = new Date(Date.parse(active.expiresAt as string) + 1000);
    const revoked = step(releaseRequest('r3', 'Active'), { type: 'revoke', by: OID.sam, reason: 'done' });
    const noRule = edited((t) => t.replace(/ {2}- id: release-signing[\s\S]*?count: 1\n/, ''));
    expect(diffPolicy(current, noRule, [revoked], NOW).unjustifiedGrants).toEqual([]);
    expect(diffPolicy(current, noRule, [active], later).unjustifiedGrants).toEqual([]);
    expect(diffPolicy(current, noRule, [active], NOW).unjustifiedGrants.map((g) => g.requestId)).toEqual(['r2']);
  });

  it('reports standing assignments it no longer declares as drift and new ones as missing', () => {
    const next = edited((t) =>
      t.replace(/ {2}- principal: log-storage\n {4}role: Crypto Service Encryption User\n {4}scope: \/keys\/storage-cmk\n/, '')
        .replace('standing:\n', 'standing:\n  - principal: app-vm\n    role: Crypto User\n    scope: /keys/release-signing-key\n'));
    const kinds = diffPolicy(current, next, [], NOW).standing.map((s) => [s.kind, s.principal, s.scope]);
    expect(kinds).toEqual([
      ['unexpected', 'log-storage', '/keys/storage-cmk'],
      ['missing', 'app-vm', '/keys/release-signing-key'],
    ]);
  });
});
