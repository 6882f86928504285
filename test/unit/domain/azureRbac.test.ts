import { armRepairObstacle, computeArmDrift, isArmDriftItem, planArmApply, type ObservedArmAssignment } from '../../../shared/domain/armDrift';
import { assignmentNameFor } from '../../../shared/domain/assignmentName';
import { AZURE_RBAC_PLANE, normalizeArmScope, resolveAzureRole } from '../../../shared/domain/azureRbac';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { applyEvent, createRequest, type AccessRequest } from '../../../shared/domain/lifecycle';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { PolicyError, type Policy } from '../../../shared/domain/policy/types';
import { CALLERS, G, MINIMAL_POLICY, NOW, OID, contosoPolicy, contosoPolicyText } from './fixtures';

const SUB = '/subscriptions/00000000-0000-0000-0000-00000000c0de';
const HSM = `${SUB}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
const CONTRIBUTOR = '18500a29-7fe2-46b2-a342-b16a415e101d';
const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';

function issuesOf(text: string): string[] {
  try {
    parsePolicy(text, 'test.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return error.issues.map((i) => `${i.path} ${i.message}`);
    throw error;
  }
  throw new Error('the policy parsed');
}

const withAzure = (section: string): string => `${MINIMAL_POLICY}azureRbac:\n${section}`;

describe('ARM scopes and Azure roles', () => {
  it('normalizes subscription, resource group and resource scopes', () => {
    expect(normalizeArmScope(SUB.toUpperCase().replace('SUBSCRIPTIONS', 'subscriptions'))).toEqual({ ok: true, scope: SUB });
    expect(normalizeArmScope(`${SUB}/resourcegroups/rg1`)).toEqual({ ok: true, scope: `${SUB}/resourceGroups/rg1` });
    expect(normalizeArmScope(HSM)).toEqual({ ok: true, scope: HSM });
  });

  it.each([
    ['/subscriptions/not-a-guid', 'subscription-id'],
    [`${SUB}/`, 'trailing slash'],
    [`${SUB}//resourceGroups/rg`, 'empty segment'],
    [`${SUB}/resourceGroups`, 'resourceGroups'],
    [`${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs`, 'providers'],
    [`${SUB}/resourceGroups/rg/../other`, 'characters'],
  ])('refuses %s', (scope, why) => {
    const result = normalizeArmScope(scope);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain(why);
  });

  it('resolves Azure roles by name (any case) or GUID, and marks those that can assign roles', () => {
    expect(resolveAzureRole('managed hsm contributor')).toMatchObject({ id: CONTRIBUTOR, canWriteRoleAssignments: false });
    expect(resolveAzureRole(`/providers/Microsoft.Authorization/roleDefinitions/${OWNER}`)).toMatchObject({ name: 'Owner', canWriteRoleAssignments: true });
    expect(resolveAzureRole('11111111-2222-3333-4444-555555555555')).toMatchObject({ id: '11111111-2222-3333-4444-555555555555', builtIn: false });
    expect(resolveAzureRole('Managed HSM Crypto User')).toBeUndefined();
  });
});

describe('policy: azureRbac', () => {
  it('Contoso governs the HSM resource, with the security team standing and a DevOps rule', () => {
    const policy = contosoPolicy();
    expect(policy.azureRbac).toMatchObject({ mode: 'assignment', scopes: [HSM], protected: [] });
    expect(policy.azureRbac?.standing.map((s) => [s.principal, s.principalType, s.role.id, s.scope])).toEqual([['security-team', 'Group', CONTRIBUTOR, HSM]]);
    const rule = policy.eligibility.find((r) => r.id === 'devops-hsm-contributor');
    expect(rule).toMatchObject({ plane: AZURE_RBAC_PLANE, scopes: [HSM], maxDurationMs: 4 * 3600_000, approval: { count: 1, approverObjectIds: [G.securityTeam] } });
    expect(policy.eligibility.filter((r) => r.plane === undefined)).toHaveLength(4);
  });

  it('is optional, and pim is a mode', () => {
    expect(parsePolicy(MINIMAL_POLICY, 't.yaml').azureRbac).toBeUndefined();
    expect(parsePolicy(withAzure(`  mode: pim\n  scopes: [${SUB}]\n`), 't.yaml').azureRbac).toMatchObject({ mode: 'pim', scopes: [SUB], standing: [] });
  });

  it('reports every management-plane mistake with its path', () => {
    const issues = issuesOf(withAzure([
      `  scopes: [${SUB}/resourceGroups/rg1, /subscriptions/nope]`,
      '  standing:',
      `    - { principal: sam, role: Managed HSM Crypto User, scope: ${SUB}/resourceGroups/rg1 }`,
      `    - { principal: ghost, role: Reader, scope: ${SUB}/resourceGroups/rg2 }`,
      '  eligibility:',
      `    - { id: a1, requesters: [sec], for: self, roles: [Owner], scopes: [${SUB}/resourceGroups/rg1], maxDuration: PT1H, approval: { approvers: [sec], count: 1 }, hsm: h1 }`,
      '',
    ].join('\n')));
    expect(issues).toEqual(expect.arrayContaining([
      expect.stringMatching(/^azureRbac\.scopes\[1\] .*subscription-id/),
      expect.stringMatching(/^azureRbac\.standing\[0\]\.role unknown Azure role 'Managed HSM Crypto User'/),
      expect.stringMatching(/^azureRbac\.standing\[1\]\.principal unknown principal 'ghost'/),
      expect.stringMatching(/^azureRbac\.standing\[1\]\.scope .*outside the governed scopes/),
      expect.stringMatching(/^azureRbac\.eligibility\[0\]\.hsm a management-plane rule names no HSM/),
      // Owner can assign roles: privileged, so it needs defaults.privilegedMinApprovers.
      expect.stringMatching(/^azureRbac\.eligibility\[0\]\.approval grants privileged role Owner/),
    ]));
  });

  it('a forbidden target of a management-plane rule is reported at that rule\'s own path, as management-plane', () => {
    const issues = issuesOf(`${MINIMAL_POLICY}forbidden:\n  - { principal: app }\n` + withAzure([
      `  scopes: [${SUB}/resourceGroups/rg1]`,
      '  eligibility:',
      `    - { id: a1, requesters: [alice], for: [sam, app], roles: [Reader], scopes: [${SUB}/resourceGroups/rg1], maxDuration: PT1H, approval: { approvers: [sec], count: 1 } }`,
      '',
    ].join('\n')).slice(MINIMAL_POLICY.length));
    expect(issues).toEqual([expect.stringMatching(/^azureRbac\.eligibility\[0\]\.for\[1\] 'app' is forbidden from holding any management-plane role/)]);
  });

  it('the schema refuses a scope that is not an ARM scope', () => {
    expect(issuesOf(withAzure('  scopes: [/keys]\n'))).toEqual([expect.stringMatching(/^azureRbac\.scopes\[0\] must match/)]);
  });
});

describe('evaluateRequest on the management plane', () => {
  const policy = contosoPolicy();
  const ask = { role: 'Managed HSM Contributor', scope: HSM.toLowerCase(), duration: 'PT30M', justification: 'network rule change', ticket: 'CHG-42' };

  it('dave may ask for Managed HSM Contributor on the HSM resource (the data-plane ban is not about Azure roles)', () => {
    const result = evaluateRequest(policy, CALLERS.dave!, ask, NOW);
    expect(result).toMatchObject({ ok: true, plane: AZURE_RBAC_PLANE, roleId: CONTRIBUTOR, scope: HSM, principalId: OID.dave, durationMs: 1800_000, approvalsRequired: 1 });
    const request = createRequest(policy, result as EligibleRequest, { id: 'r1', requestedBy: OID.dave }, NOW);
    expect(request).toMatchObject({ plane: AZURE_RBAC_PLANE, hsm: AZURE_RBAC_PLANE, scope: HSM, status: 'Pending' });
  });

  it.each([
    ['sam, who is not a requester of an Azure rule', CALLERS.sam!, ask, 403, 'not-eligible'],
    ['a role no rule names', CALLERS.dave!, { ...ask, role: 'Owner' }, 403, 'role-not-allowed'],
    ['another ARM scope', CALLERS.dave!, { ...ask, scope: SUB }, 403, 'scope-not-allowed'],
    ['a malformed ARM scope', CALLERS.dave!, { ...ask, scope: `${SUB}/resourceGroups` }, 400, 'malformed-scope'],
    ['a data-plane role on an ARM scope', CALLERS.dave!, { ...ask, role: 'Crypto User' }, 422, 'unknown-role'],
    ['an HSM name', CALLERS.dave!, { ...ask, hsm: 'contoso-hsm' }, 422, 'unknown-hsm'],
    ['too long', CALLERS.dave!, { ...ask, duration: 'PT5H' }, 422, 'duration-too-long'],
    ['no ticket', CALLERS.dave!, { ...ask, ticket: undefined }, 422, 'ticket-required'],
  ])('refuses %s', (_why, caller, input, status, code) => {
    expect(evaluateRequest(policy, caller, input, NOW)).toMatchObject({ ok: false, status, code });
  });

  it('an Azure role on a data-plane scope is no rule of either plane', () => {
    expect(evaluateRequest(policy, CALLERS.sam!, { role: 'Managed HSM Contributor', scope: '/keys/k1', justification: 'x' }, NOW)).toMatchObject({ ok: false, code: 'unknown-role' });
  });

  it('a policy without azureRbac refuses ARM scopes', () => {
    expect(evaluateRequest(parsePolicy(MINIMAL_POLICY, 't.yaml'), CALLERS.sam!, ask, NOW)).toMatchObject({ ok: false, status: 422, code: 'scope-not-allowed' });
  });
});

describe('computeArmDrift', () => {
  const policy = contosoPolicy();
  const standing: ObservedArmAssignment = { name: '19f641ca-b33f-50e1-aee1-2f7bd1a12ef0', scope: HSM, roleId: CONTRIBUTOR, principalId: G.securityTeam };
  const governor: ObservedArmAssignment = { name: 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4', scope: HSM, roleId: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168', principalId: OID.hsmGovernor };

  function grant(id: string, status: 'Active' | 'Expired', expiresAt: string): AccessRequest {
    const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Managed HSM Contributor', scope: HSM, duration: 'PT1H', justification: 'x', ticket: 'CHG-1' }, NOW) as EligibleRequest;
    const approved = applyEvent(createRequest(policy, evaluation, { id, requestedBy: OID.dave }, NOW), { type: 'decide', by: OID.sam, decision: 'approve' }, NOW);
    const name = assignmentNameFor(id, AZURE_RBAC_PLANE, HSM, OID.dave, CONTRIBUTOR);
    const active = approved.ok ? applyEvent(approved.request, { type: 'granted', assignmentName: name, at: NOW }, NOW) : approved;
    if (!active.ok) throw new Error(active.detail);
    return { ...active.request, status, expiresAt };
  }
  const grantedName = (id: string): string => assignmentNameFor(id, AZURE_RBAC_PLANE, HSM, OID.dave, CONTRIBUTOR);
  const context = (requests: AccessRequest[] = [], now = NOW) => ({ policy, requests, serviceObjectId: OID.hsmGovernor, now });

  it('the seeded state is clean: the standing assignment is wanted, the service\'s own is never drift', () => {
    expect(computeArmDrift([standing, governor], context())).toEqual([]);
  });

  it('an assignment made directly in Azure is unexpected; a missing standing one is missing, with a deterministic name', () => {
    const direct: ObservedArmAssignment = { name: 'aaaaaaaa-0000-0000-0000-000000000001', scope: HSM.toLowerCase(), roleId: OWNER, principalId: OID.dana };
    const items = computeArmDrift([direct, governor], context());
    expect(items.map((i) => [i.kind, i.action, i.principal, i.role, i.plane])).toEqual([
      ['unexpected', 'remove', 'dana', 'Owner', AZURE_RBAC_PLANE],
      ['missing', 'create', 'security-team', 'Managed HSM Contributor', AZURE_RBAC_PLANE],
    ]);
    expect(items[1].createName).toMatch(/^[0-9a-f-]{36}$/);
    expect(computeArmDrift([direct, governor], context())[1].createName).toBe(items[1].createName);
  });

  it('a running grant justifies its assignment, under its own name or under PIM\'s', () => {
    const running = grant('g1', 'Active', '2030-01-01T11:00:00.000Z');
    const own: ObservedArmAssignment = { name: grantedName('g1'), scope: HSM, roleId: CONTRIBUTOR, principalId: OID.dave };
    const pims: ObservedArmAssignment = { ...own, name: 'bbbbbbbb-0000-0000-0000-000000000002' };
    expect(computeArmDrift([standing, own], context([running]))).toEqual([]);
    expect(computeArmDrift([standing, pims], context([running]))).toEqual([]);
  });

  it('an ended grant still assigned is expired-grant; a request\'s name on other access is orphan', () => {
    const ended = grant('g2', 'Expired', '2030-01-01T09:30:00.000Z');
    const left: ObservedArmAssignment = { name: grantedName('g2'), scope: HSM, roleId: CONTRIBUTOR, principalId: OID.dave };
    const stolen: ObservedArmAssignment = { ...left, principalId: OID.dana };
    expect(computeArmDrift([standing, left], context([ended])).map((i) => [i.kind, i.requestId, i.reason])).toEqual([
      ['expired-grant', 'g2', 'the grant of request g2 ended (Expired), but its Azure role assignment is still there'],
    ]);
    expect(computeArmDrift([standing, stolen], context([ended])).map((i) => [i.kind, i.requestId])).toEqual([['orphan', 'g2']]);
  });

  it('assignments inherited from above the governed scopes are not this service\'s to judge', () => {
    const inherited: ObservedArmAssignment = { name: 'cccccccc-0000-0000-0000-000000000003', scope: SUB, roleId: OWNER, principalId: OID.dana };
    expect(computeArmDrift([standing, inherited], context())).toEqual([]);
  });

  it('apply keeps the guard rails: report mode changes nothing, too many removals refuse all', () => {
    const direct = (n: number): ObservedArmAssignment => ({ name: `dddddddd-0000-0000-0000-00000000000${n}`, scope: HSM, roleId: OWNER, principalId: OID.dana });
    const items = computeArmDrift([standing, direct(1), direct(2)], context());
    expect(planArmApply(items, policy).refused?.code).toBe('report-mode');
    const enforce: Policy = { ...policy, reconcile: { ...policy.reconcile, mode: 'enforce', maxRemovalsPerRun: 1 } };
    expect(planArmApply(items, enforce)).toEqual({
      actions: [], refused: { code: 'too-many-removals', detail: '2 Azure role assignment removals exceed maxRemovalsPerRun (1): nothing was changed' },
    });
    const roomy: Policy = { ...enforce, reconcile: { ...enforce.reconcile, maxRemovalsPerRun: 5 } };
    expect(planArmApply(items, roomy).actions.map((i) => i.kind)).toEqual(['unexpected', 'unexpected']);
  });

  it('re-checks an item just before its repair, against the scope and the grants as they are now', () => {
    const direct: ObservedArmAssignment = { name: 'eeeeeeee-0000-0000-0000-000000000001', scope: HSM, roleId: CONTRIBUTOR, principalId: OID.dave };
    const [unexpected, missing] = computeArmDrift([direct, governor], context());
    expect([unexpected!.kind, missing!.kind]).toEqual(['unexpected', 'missing']);
    expect(armRepairObstacle(unexpected!, [direct, governor], context())).toBeUndefined();
    expect(armRepairObstacle({ ...unexpected!, scope: HSM.toLowerCase() }, [direct], context())).toBeUndefined();
    expect(armRepairObstacle(unexpected!, [governor], context())).toBe('already gone when re-checked');
    // A grant that started since the plan gives exactly this access (PIM names its assignments itself).
    expect(armRepairObstacle(unexpected!, [direct], context([grant('g3', 'Active', '2030-01-01T11:00:00.000Z')]))).toMatch(/^justified when re-checked/);
    expect(armRepairObstacle({ ...unexpected!, assignmentName: governor.name, principalId: OID.hsmGovernor }, [governor], context())).toBe('protected');
    expect(armRepairObstacle(missing!, [direct, governor], context())).toBeUndefined();
    expect(armRepairObstacle(missing!, [{ ...standing, name: 'made-meanwhile' }], context())).toBe('already present when re-checked');
    expect([unexpected, missing, { ...unexpected!, plane: undefined }].map((i) => isArmDriftItem(i!))).toEqual([true, true, false]);
  });

  it('the Contoso policy text names the governed HSM resource once per use', () => {
    expect(contosoPolicyText().split(HSM).length - 1).toBe(3);
  });
});
