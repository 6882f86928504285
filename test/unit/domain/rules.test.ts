import {
  closestRole,
  BUILT_IN_ROLES,
  createRequest,
  applyEvent,
  evaluateDecision,
  evaluateExtension,
  evaluateRequest,
  normalizeScope,
  openAccessKeyOf,
  parsePolicy,
  PolicyError,
  sameSubmission,
  withExtensionTotals,
  type AccessRequest,
  type EligibleRequest,
  type RequestEvent,
} from '../../../shared/domain';
import { CALLERS, G, NOW, OID, contosoPolicy, contosoPolicyText } from './fixtures';

const policy = contosoPolicy();
const HOUR = 3600_000;
const ARM_SCOPE = '/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM';
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'release' };

function apply(request: AccessRequest, ...events: RequestEvent[]): AccessRequest {
  return events.reduce((r, e) => {
    const result = applyEvent(r, e, new Date(NOW.getTime() + 1000));
    if (!result.ok) throw new Error(result.detail);
    return result.request;
  }, request);
}

function activeRelease(): AccessRequest {
  const asked = evaluateRequest(policy, CALLERS.dave!, RELEASE, NOW) as EligibleRequest;
  const pending = createRequest(policy, asked, { id: 'r1', requestedBy: OID.dave }, NOW);
  return apply(pending, { type: 'decide', by: OID.sam, decision: 'approve' }, { type: 'granted', assignmentName: 'a1', at: NOW });
}

describe('groups never ask and are never granted', () => {
  const asGroup = { objectId: G.securityTeam, groups: [] };
  it.each([
    ['a group caller, data plane', asGroup, { role: 'Crypto Officer', scope: '/', ticket: 'INC-1', justification: 'x' }],
    ['a group caller, management plane', { objectId: G.appDevOps, groups: [] }, { role: 'Managed HSM Contributor', scope: ARM_SCOPE, ticket: 'CHG-1', justification: 'x' }],
    ['a group as grantee', CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', principalId: G.securityTeam, justification: 'x' }],
  ])('%s: 403 group-principal', (_name, caller, input) => {
    expect(evaluateRequest(policy, caller, input, NOW)).toMatchObject({ ok: false, status: 403, code: 'group-principal' });
  });

  it('an approver who is a member (by token) of the grantee or the requester is self-approving', () => {
    const legacy = { ...activeRelease(), status: 'Pending' as const, principalId: G.securityTeam, decisions: [] };
    expect(evaluateDecision(policy, legacy, CALLERS.sara!, 'approve')).toMatchObject({ ok: false, code: 'self-approval' });
    const byGroup = { ...legacy, principalId: OID.appVm, requestedBy: G.securityTeam };
    expect(evaluateDecision(policy, byGroup, CALLERS.sara!, 'approve')).toMatchObject({ ok: false, code: 'self-approval' });
    // Someone who is not a member is still refused for a group request stored before groups were refused.
    const forDevops = { ...legacy, principalId: G.appDevOps, requestedBy: OID.dave };
    expect(evaluateDecision(policy, forDevops, CALLERS.sara!, 'approve')).toMatchObject({ ok: false, code: 'group-principal' });
    expect(evaluateDecision(policy, forDevops, CALLERS.sara!, 'deny')).toMatchObject({ ok: true, outcome: 'denied' });
  });

  it('the policy refuses a group in for:, naming the rule and the members', () => {
    const text = contosoPolicyText().replace('for: [app-vm]', 'for: [app-devops]');
    const error = (() => { try { parsePolicy(text, 'p.yaml'); } catch (e) { return e as PolicyError; } throw new Error('accepted'); })();
    expect(error.issues).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'release-signing', message: expect.stringMatching(/'app-devops' is a group.*dave, dana/) })]));
  });
});

describe('extensions: the whole grant within the rule maximum', () => {
  it('PT1H + PT7H fits PT8H; a further minute does not, on the total from grant to expiry', () => {
    const active = activeRelease();
    expect(evaluateExtension(policy, active, CALLERS.dave!, 7 * HOUR)).toMatchObject({ ok: true });
    expect(evaluateExtension(policy, active, CALLERS.dave!, 7 * HOUR + 1)).toMatchObject({ ok: false, status: 422, code: 'duration-too-long' });
    const extended = apply(active, { type: 'requestExtension', by: OID.dave, durationMs: 7 * HOUR, justification: 'slip' }, { type: 'decideExtension', by: OID.sam, decision: 'approve' });
    expect(extended).toMatchObject({ totalDurationMs: 8 * HOUR, totalDuration: 'PT8H', duration: 'PT1H' });
    expect(extended.extensions).toEqual([expect.objectContaining({ by: OID.dave, duration: 'PT7H', justification: 'slip', decision: 'Approved', decisions: [expect.objectContaining({ by: OID.sam, decision: 'approve' })] })]);
    const refused = evaluateExtension(policy, extended, CALLERS.dave!, 60_000);
    expect(refused).toMatchObject({ ok: false, code: 'duration-too-long' });
    expect(!refused.ok && refused.detail).toMatch(/no more time/);
  });

  it('an extension approval re-checks the cap against the rule as it is at decision time', () => {
    const pendingExtension = apply(activeRelease(), { type: 'requestExtension', by: OID.dave, durationMs: 6 * HOUR });
    expect(evaluateDecision(policy, pendingExtension, CALLERS.sam!, 'approve')).toMatchObject({ ok: true, outcome: 'approved' });
    const tightened = parsePolicy(contosoPolicyText().replace(/(id: release-signing[\s\S]*?maxDuration: )PT8H/, '$1PT4H'), 'p.yaml');
    expect(evaluateDecision(tightened, pendingExtension, CALLERS.sam!, 'approve')).toMatchObject({ ok: false, status: 422, code: 'duration-too-long' });
    expect(evaluateDecision(tightened, pendingExtension, CALLERS.sam!, 'deny')).toMatchObject({ ok: true, outcome: 'denied' });
  });

  it('denied extensions are listed and add nothing; records stored before totals are filled in', () => {
    const denied = apply(activeRelease(), { type: 'requestExtension', by: OID.dave, durationMs: HOUR }, { type: 'decideExtension', by: OID.sam, decision: 'deny' });
    expect(denied).toMatchObject({ totalDurationMs: HOUR, extensions: [expect.objectContaining({ decision: 'Denied' })] });
    const { extensions: _e, totalDurationMs: _t, totalDuration: _d, ...old } = { ...denied, expiresAt: new Date(NOW.getTime() + 3 * HOUR).toISOString() };
    expect(withExtensionTotals(old as AccessRequest)).toMatchObject({ totalDurationMs: 3 * HOUR, totalDuration: 'PT3H', extensions: [expect.objectContaining({ decision: 'Denied' })] });
  });
});

describe('same submission, same access', () => {
  const request = createRequest(policy, evaluateRequest(policy, CALLERS.dave!, { ...RELEASE, duration: undefined }, NOW) as EligibleRequest, { id: 'r2', requestedBy: OID.dave }, NOW);
  it('is the same after normalization', () => {
    expect(sameSubmission(policy, request, CALLERS.dave!, { role: 'Managed HSM Crypto User', scope: '/keys/Release-Signing-Key', principalId: OID.appVm.toUpperCase(), duration: 'PT1H', justification: ' release ' })).toBe(true);
    expect(sameSubmission(policy, request, CALLERS.dave!, { ...RELEASE, duration: 'PT60M' })).toBe(true);
  });
  it.each([['duration', { duration: 'PT2H' }], ['ticket', { ticket: 'CHG-1' }], ['hsm', { hsm: 'other' }], ['justification', { justification: 'other' }], ['role', { role: 'Crypto Officer' }]])('differs by %s', (_f, change) => {
    expect(sameSubmission(policy, request, CALLERS.dave!, { ...RELEASE, ...change })).toBe(false);
  });
  it('the open-access key ignores requester, duration and spelling, and tells planes apart', () => {
    expect(openAccessKeyOf(request)).toBe(openAccessKeyOf({ ...request, scope: '/keys/RELEASE-signing-key' }));
    expect(openAccessKeyOf(request)).not.toBe(openAccessKeyOf({ ...request, plane: 'azure-rbac' }));
    expect(openAccessKeyOf(request)).not.toBe(openAccessKeyOf({ ...request, principalId: OID.sam }));
  });
});

describe('errors that teach', () => {
  it('an unknown role gets the likeliest role and the roles the caller may ask for', () => {
    const refusal = evaluateRequest(policy, CALLERS.dave!, { ...RELEASE, role: 'Crypto Usr' }, NOW);
    expect(refusal).toMatchObject({ ok: false, code: 'unknown-role', detail: expect.stringMatching(/did you mean 'Crypto User'\?.*Roles your rules let you request: Crypto User/) });
    expect(closestRole('officer', BUILT_IN_ROLES)?.name).toBe('Managed HSM Crypto Officer');
    expect(closestRole('completely different', BUILT_IN_ROLES)).toBeUndefined();
  });
  it('a scope without its slash suggests the key scope', () => {
    expect(normalizeScope('release-signing-key')).toMatchObject({ ok: false, detail: expect.stringContaining("did you mean '/keys/release-signing-key'") });
    expect(normalizeScope('keys/k1')).toMatchObject({ ok: false, detail: expect.stringContaining("did you mean '/keys/k1'") });
  });
  it('without principalId: the refusal and the notes say it defaulted to the caller, and whom the rules allow', () => {
    const refusal = evaluateRequest(policy, CALLERS.dave!, { ...RELEASE, principalId: undefined }, NOW);
    expect(refusal).toMatchObject({ ok: false, code: 'forbidden-principal', detail: expect.stringMatching(/no principalId was given, so the request was for you.*Set principalId to one of: app-vm \(2c564836/) });
    const accepted = evaluateRequest(policy, CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW) as EligibleRequest;
    expect(accepted.notes).toEqual([expect.stringMatching(/No principalId was given: the grant is for you \(5424e0a9.*yourself/)]);
    expect((evaluateRequest(policy, CALLERS.dave!, RELEASE, NOW) as EligibleRequest).notes).toEqual([]);
  });
  it('the policy check reports schema and semantic problems in one run, by rule id, with the friendly duration message', () => {
    const text = contosoPolicyText().replace('maxDuration: PT4H\n    approval:\n      approvers: [security-team]\n      count: 1\n\n  - id: security-privileged', 'maxDuration: 4h\n    approval:\n      approvers: [security-team]\n      count: 1\n\n  - id: security-privileged').replace('roles: [Crypto Officer, Backup User]', 'roles: [Crypto Oficer, Backup User]');
    let error: PolicyError | undefined;
    try { parsePolicy(text, 'p.yaml'); } catch (e) { error = e as PolicyError; }
    expect(error?.issues).toEqual(expect.arrayContaining([
      expect.objectContaining({ rule: 'security-crypto-user', message: "'4h' is not an ISO 8601 duration: use e.g. PT1H (days, hours, minutes and seconds: P1D, PT30M, PT1H30M)" }),
      expect.objectContaining({ rule: 'security-privileged', message: "unknown role 'Crypto Oficer': did you mean 'Crypto Officer'?" }),
    ]));
    expect(error?.message).toMatch(/eligibility\[1\]\.roles\[0\] \(rule 'security-privileged'\) unknown role/);
  });
});
