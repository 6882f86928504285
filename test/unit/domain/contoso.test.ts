import { evaluateDecision } from '../../../shared/domain/approval';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { applyEvent, createRequest } from '../../../shared/domain/lifecycle';
import { CALLERS, G, NOW, OID, contosoPolicy } from './fixtures';

describe('examples/contoso/policy.yaml', () => {
  const policy = contosoPolicy();

  it('parses, with the Contoso HSM as default', () => {
    expect(policy.hsms).toEqual([{ name: 'contoso-hsm', url: 'https://127.0.0.1:7443', default: true }]);
    expect(policy.defaultHsm).toBe('contoso-hsm');
    expect(Object.keys(policy.principals).sort()).toEqual(
      ['alice', 'app-auditors', 'app-devops', 'app-vm', 'break-glass', 'dana', 'dave', 'hsm-governor', 'log-storage', 'sam', 'sara', 'sean', 'security-team'].sort(),
    );
    expect(policy.principals['security-team']!.objectId).toBe(G.securityTeam);
  });

  it('encodes the standing, protected and forbidden assignments', () => {
    expect(policy.standing.map((s) => [s.principal, s.role.name, s.scope])).toEqual([
      ['security-team', 'Managed HSM Administrator', '/'],
      ['app-auditors', 'Managed HSM Crypto Auditor', '/'],
      ['app-vm', 'Managed HSM Crypto User', '/keys/app-signing-key'],
      ['log-storage', 'Managed HSM Crypto Service Encryption User', '/keys/storage-cmk'],
    ]);
    expect(policy.protected.map((p) => [p.principalId, p.role?.alias, p.scope])).toEqual([
      [OID.breakGlass, 'Administrator', '/'],
      [OID.hsmGovernor, undefined, undefined],
    ]);
    expect(policy.forbidden).toEqual([expect.objectContaining({ principal: 'app-devops', principalId: G.appDevOps, memberObjectIds: [OID.dave, OID.dana] })]);
  });

  it('dave may ask Crypto User for app-vm on release-signing-key', () => {
    const result = evaluateRequest(policy, CALLERS.dave!, { role: 'Managed HSM Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1M', justification: 'release 1.2' }, NOW);
    expect(result).toMatchObject({ ok: true, principalId: OID.appVm, scope: '/keys/release-signing-key', roleId: '21dbd100-6940-42c2-9190-5d6cb909625b', durationMs: 60_000, approvalsRequired: 1 });
    expect(result.ok && result.rule.id).toBe('release-signing');
  });

  it('dave may not ask for himself (developers are forbidden grantees)', () => {
    const result = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', justification: 'x' }, NOW);
    expect(result).toMatchObject({ ok: false, status: 403, code: 'forbidden-principal' });
  });

  it('dave may not ask for app-vm on another key, or for longer than 8 hours', () => {
    expect(evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/app-signing-key', principalId: OID.appVm, justification: 'x' }, NOW)).toMatchObject({ code: 'scope-not-allowed' });
    expect(evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT9H', justification: 'x' }, NOW)).toMatchObject({ code: 'duration-too-long' });
    expect(evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.logStorage, justification: 'x' }, NOW)).toMatchObject({ code: 'principal-not-allowed' });
    expect(evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto Officer', scope: '/', principalId: OID.appVm, justification: 'x' }, NOW)).toMatchObject({ code: 'role-not-allowed' });
  });

  it('nobody may grant the developers group itself', () => {
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', principalId: G.appDevOps, justification: 'x' }, NOW)).toMatchObject({ code: 'forbidden-principal' });
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', principalId: OID.dana, justification: 'x' }, NOW)).toMatchObject({ code: 'forbidden-principal' });
  });

  it('security team: Crypto User on any key for themselves, 1 approver, up to 4 hours', () => {
    const ok = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/app-signing-key', justification: 'rotate' }, NOW);
    expect(ok).toMatchObject({ ok: true, principalId: OID.sam, durationMs: 3_600_000, approvalsRequired: 1 });
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', duration: 'PT5H', justification: 'x' }, NOW)).toMatchObject({ code: 'duration-too-long' });
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys', justification: 'x' }, NOW)).toMatchObject({ code: 'scope-not-allowed' });
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', principalId: OID.sara, justification: 'x' }, NOW)).toMatchObject({ code: 'principal-not-allowed' });
  });

  it('the Crypto Officer rule is privileged: two approvers and a ticket', () => {
    const rule = policy.eligibility.find((r) => r.id === 'security-privileged')!;
    expect(rule.privileged).toBe(true);
    expect(rule.approval.count).toBe(2);
    const input = { role: 'Crypto Officer', scope: '/', duration: 'PT2H', justification: 'recover deleted key' };
    expect(evaluateRequest(policy, CALLERS.sam!, input, NOW)).toMatchObject({ code: 'ticket-required' });
    expect(evaluateRequest(policy, CALLERS.sam!, { ...input, ticket: 'JIRA-1' }, NOW)).toMatchObject({ code: 'ticket-invalid' });
    expect(evaluateRequest(policy, CALLERS.sam!, { ...input, ticket: 'CHG-42' }, NOW)).toMatchObject({ ok: true, approvalsRequired: 2, ticket: 'CHG-42' });
    expect(evaluateRequest(policy, CALLERS.sam!, { ...input, ticket: 'INC-7', duration: 'PT3H' }, NOW)).toMatchObject({ code: 'duration-too-long' });
    expect(evaluateRequest(policy, CALLERS.sam!, { ...input, role: 'Backup User', ticket: 'INC-7' }, NOW)).toMatchObject({ ok: true, approvalsRequired: 2 });
  });

  it('auditors may read one key without approval', () => {
    const result = evaluateRequest(policy, CALLERS.alice!, { role: 'Crypto Auditor', scope: '/keys/app-signing-key', duration: 'PT8H', justification: 'quarterly review' }, NOW);
    expect(result).toMatchObject({ ok: true, approvalsRequired: 0 });
    const request = createRequest(policy, result as EligibleRequest, { id: 'r-alice', requestedBy: OID.alice }, NOW);
    expect(request.status).toBe('Approved');
    expect(evaluateRequest(policy, CALLERS.alice!, { role: 'Crypto User', scope: '/keys/app-signing-key', justification: 'x' }, NOW)).toMatchObject({ code: 'role-not-allowed' });
  });

  it('break-glass and workload identities are not eligible for anything', () => {
    expect(evaluateRequest(policy, CALLERS.breakGlass!, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW)).toMatchObject({ code: 'not-eligible' });
    expect(evaluateRequest(policy, CALLERS.appVm!, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW)).toMatchObject({ code: 'not-eligible' });
  });

  describe('approvals', () => {
    const samAsks = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW) as EligibleRequest;
    const samRequest = createRequest(policy, samAsks, { id: 'req-sam', requestedBy: OID.sam }, NOW);

    it('sam cannot approve his own request; sara can', () => {
      expect(evaluateDecision(policy, samRequest, CALLERS.sam!, 'approve')).toMatchObject({ ok: false, code: 'self-approval', status: 403 });
      expect(evaluateDecision(policy, samRequest, CALLERS.sara!, 'approve')).toMatchObject({ ok: true, outcome: 'approved' });
    });

    it('dave cannot approve; sam approves dave\'s release request', () => {
      const daveAsks = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1M', justification: 'release' }, NOW) as EligibleRequest;
      const request = createRequest(policy, daveAsks, { id: 'req-dave', requestedBy: OID.dave }, NOW);
      expect(evaluateDecision(policy, request, CALLERS.dave!, 'approve')).toMatchObject({ code: 'self-approval' });
      expect(evaluateDecision(policy, request, CALLERS.dana!, 'approve')).toMatchObject({ code: 'not-an-approver' });
      expect(evaluateDecision(policy, request, CALLERS.appVm!, 'approve')).toMatchObject({ code: 'self-approval' });
      expect(evaluateDecision(policy, request, CALLERS.sam!, 'approve')).toMatchObject({ ok: true, outcome: 'approved' });
    });

    it('the grantee cannot approve a grant to themselves, even when someone else asked', () => {
      // A security team member as grantee, via a policy rule that lets sara ask for sam: simulate on the record.
      const forSam = { ...samRequest, id: 'req-for-sam', requestedBy: OID.sara, principalId: OID.sam };
      expect(evaluateDecision(policy, forSam, CALLERS.sam!, 'approve')).toMatchObject({ code: 'self-approval' });
      expect(evaluateDecision(policy, forSam, CALLERS.sara!, 'approve')).toMatchObject({ code: 'self-approval' });
      expect(evaluateDecision(policy, forSam, CALLERS.sean!, 'approve')).toMatchObject({ ok: true });
    });

    it('the Crypto Officer request needs two distinct approvers', () => {
      const asks = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto Officer', scope: '/', justification: 'x', ticket: 'INC-1' }, NOW) as EligibleRequest;
      let request = createRequest(policy, asks, { id: 'req-officer', requestedBy: OID.sam }, NOW);
      expect(evaluateDecision(policy, request, CALLERS.sara!, 'approve')).toMatchObject({ ok: true, outcome: 'pending' });
      const first = applyEvent(request, { type: 'decide', by: OID.sara, decision: 'approve' }, NOW);
      if (!first.ok) throw new Error(first.detail);
      request = first.request;
      expect(request.status).toBe('Pending');
      expect(evaluateDecision(policy, request, CALLERS.sara!, 'approve')).toMatchObject({ code: 'already-decided' });
      expect(evaluateDecision(policy, request, CALLERS.sean!, 'approve')).toMatchObject({ ok: true, outcome: 'approved' });
      const second = applyEvent(request, { type: 'decide', by: OID.sean, decision: 'approve' }, NOW);
      expect(second.ok && second.request.status).toBe('Approved');
    });
  });
});
