import { applyEvent, createRequest, type AccessRequest } from '../../../shared/domain/lifecycle';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { assignmentNameFor } from '../../../shared/domain/assignmentName';
import {
  computeDrift,
  planApply,
  standingAssignmentNameFor,
  summarizeDrift,
  type DriftContext,
  type ObservedAssignment,
} from '../../../shared/domain/drift';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import type { Policy } from '../../../shared/domain/policy/types';
import { ADMINISTRATOR_ROLE_ID } from '../../../shared/domain/roles';
import { CALLERS, G, NOW, OID, contosoPolicy, contosoPolicyText } from './fixtures';

const HSM = 'contoso-hsm';
const ROLE = {
  administrator: ADMINISTRATOR_ROLE_ID,
  cryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  cryptoAuditor: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
  cryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
  serviceEncryption: '33413926-3206-4cdd-b39a-83574fe37a17',
  governor: 'b5c1d7e2-3f4a-4b6c-8d9e-0a1b2c3d4e5f',
};

const policy = contosoPolicy();
const enforcing = (overrides: string): Policy => parsePolicy(`${contosoPolicyText().replace(/reconcile:[\s\S]*$/, '')}\nreconcile:\n${overrides}`, 'enforcing.yaml');

/** The Contoso HSM as its policy wants it. */
const CONTOSO: ObservedAssignment[] = [
  { name: 'a1', scope: '/', roleId: ROLE.administrator, principalId: G.securityTeam },
  { name: 'a2', scope: '/', roleId: ROLE.administrator, principalId: OID.breakGlass },
  { name: 'a3', scope: '/', roleId: ROLE.cryptoAuditor, principalId: G.appAuditors },
  { name: 'a4', scope: '/keys/app-signing-key', roleId: ROLE.cryptoUser, principalId: OID.appVm },
  { name: 'a5', scope: '/keys/storage-cmk', roleId: ROLE.serviceEncryption, principalId: OID.logStorage },
  { name: 'a6', scope: '/', roleId: ROLE.governor, principalId: OID.hsmGovernor },
];

/** What the seed's own commands produce: app-vm with Crypto Auditor at / instead of Crypto User on its key, and dave given Crypto User by hand. */
const SEED_DRIFT: ObservedAssignment[] = [
  ...CONTOSO.filter((a) => a.name !== 'a4'),
  { name: 'b1', scope: '/', roleId: ROLE.cryptoAuditor, principalId: OID.appVm },
  { name: 'b2', scope: '/keys/app-signing-key', roleId: ROLE.cryptoUser, principalId: OID.dave },
];

const context = (overrides: Partial<DriftContext> = {}): DriftContext => ({ policy, hsm: HSM, requests: [], serviceObjectId: OID.hsmGovernor, now: NOW, ...overrides });

function releaseGrant(id: string, status: 'Active' | 'Expired' | 'Denied' | 'Approved', expiresInMs = 3_600_000): AccessRequest {
  const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'release' }, NOW) as EligibleRequest;
  const pending = createRequest(policy, evaluation, { id, requestedBy: OID.dave }, NOW);
  const name = assignmentNameFor(id, HSM, pending.scope, pending.principalId, pending.roleId);
  if (status === 'Denied') return { ...pending, status };
  const approved = applyEvent(pending, { type: 'decide', by: OID.sam, decision: 'approve' }, NOW);
  if (!approved.ok) throw new Error(approved.detail);
  if (status === 'Approved') return approved.request;
  const active = applyEvent(approved.request, { type: 'granted', assignmentName: name, at: new Date(NOW.getTime() + expiresInMs - 3_600_000) }, NOW);
  if (!active.ok) throw new Error(active.detail);
  if (status === 'Active') return active.request;
  const expired = applyEvent(active.request, { type: 'expire' }, new Date(NOW.getTime() + expiresInMs + 1000));
  if (!expired.ok) throw new Error(expired.detail);
  return expired.request;
}

function grantAssignment(request: AccessRequest): ObservedAssignment {
  return { name: assignmentNameFor(request.id, HSM, request.scope, request.principalId, request.roleId), scope: request.scope, roleId: request.roleId, principalId: request.principalId };
}

describe('computeDrift', () => {
  it('finds nothing when the HSM holds exactly the policy', () => {
    expect(computeDrift(CONTOSO, context())).toEqual([]);
  });

  it("reports exactly the seed's drift: app-vm's missing Crypto User, its unexpected Crypto Auditor at /, and dave's forbidden assignment", () => {
    const items = computeDrift(SEED_DRIFT, context());
    expect(items.map((i) => [i.kind, i.principal, i.role, i.scope, i.assignmentName, i.action])).toEqual([
      ['unexpected', 'app-vm', 'Managed HSM Crypto Auditor', '/', 'b1', 'remove'],
      ['forbidden-principal', 'dave', 'Managed HSM Crypto User', '/keys/app-signing-key', 'b2', 'remove'],
      ['missing', 'app-vm', 'Managed HSM Crypto User', '/keys/app-signing-key', '', 'create'],
    ]);
    expect(items[1]!.reason).toMatch(/member of 'app-devops'/);
    expect(items[2]!.createName).toBe(standingAssignmentNameFor(HSM, '/keys/app-signing-key', OID.appVm, ROLE.cryptoUser));
    expect(summarizeDrift(items).byKind).toMatchObject({ missing: 1, unexpected: 1, 'forbidden-principal': 1, 'expired-grant': 0, orphan: 0, 'unknown-role': 0 });
  });

  it('gives each finding a stable id, whatever the order of the inventory', () => {
    const ids = computeDrift(SEED_DRIFT, context()).map((i) => i.id).sort();
    expect(computeDrift([...SEED_DRIFT].reverse(), context()).map((i) => i.id).sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
  });

  it('never reports protected assignments or the service’s own, whatever they are', () => {
    const extra: ObservedAssignment[] = [
      { name: 'p1', scope: '/keys/x', roleId: ROLE.cryptoOfficer, principalId: OID.hsmGovernor },
      { name: 'p2', scope: '/keys', roleId: ROLE.cryptoUser, principalId: OID.hsmGovernor },
    ];
    expect(computeDrift([...CONTOSO, ...extra], context())).toEqual([]);
    // break-glass is protected as Administrator at / only.
    const other = computeDrift([...CONTOSO, { name: 'p3', scope: '/', roleId: ROLE.cryptoUser, principalId: OID.breakGlass }], context());
    expect(other.map((i) => i.kind)).toEqual(['unexpected']);
  });

  it('accepts the assignment of a running grant and of an approved one being put in place', () => {
    const active = releaseGrant('r-active', 'Active');
    const approved = releaseGrant('r-approved', 'Approved');
    expect(computeDrift([...CONTOSO, grantAssignment(active)], context({ requests: [active] }))).toEqual([]);
    expect(computeDrift([...CONTOSO, grantAssignment(approved)], context({ requests: [approved] }))).toEqual([]);
  });

  it('accepts an assignment under another name when a running grant gives the same access', () => {
    const active = releaseGrant('r-active', 'Active');
    expect(computeDrift([...CONTOSO, { ...grantAssignment(active), name: 'made-by-hand' }], context({ requests: [active] }))).toEqual([]);
  });

  it('keeps an assignment shared by several grants while any of them runs, whichever request it is named for', () => {
    // The first grant made the assignment; the second and third relied on it (the HSM said 'covered').
    const first = releaseGrant('r-first', 'Expired');
    const second = releaseGrant('r-second', 'Active');
    const third = releaseGrant('r-third', 'Approved');
    const shared = grantAssignment(first);
    expect(computeDrift([...CONTOSO, shared], context({ requests: [first, second, third] }))).toEqual([]);
    expect(computeDrift([...CONTOSO, shared], context({ requests: [first, second] }))).toEqual([]);
    expect(computeDrift([...CONTOSO, shared], context({ requests: [first, third] }))).toEqual([]);
    // A grant that was revoked before it started may have made it too.
    const revokedEarly = { ...releaseGrant('r-early', 'Denied'), status: 'Revoked' as const };
    expect(computeDrift([...CONTOSO, grantAssignment(revokedEarly)], context({ requests: [revokedEarly, second] }))).toEqual([]);
    // Once none runs, it is the first grant's expired assignment.
    const ended = releaseGrant('r-second', 'Expired');
    expect(computeDrift([...CONTOSO, shared], context({ requests: [first, ended] })).map((i) => [i.kind, i.requestId])).toEqual([['expired-grant', 'r-first']]);
  });

  it('still reports an assignment named for a running grant of other access as an orphan, whatever else runs', () => {
    const active = releaseGrant('r-active', 'Active');
    const other = releaseGrant('r-other', 'Active');
    const mismatched: ObservedAssignment = { ...grantAssignment(active), roleId: ROLE.cryptoAuditor };
    expect(computeDrift([...CONTOSO, mismatched], context({ requests: [active, other] })).map((i) => i.kind)).toEqual(['orphan']);
  });

  it('reports expired-grant for an ended grant whose assignment is still there, and for an Active one past expiry', () => {
    const expired = releaseGrant('r-expired', 'Expired');
    const overdue = releaseGrant('r-overdue', 'Active', -60_000);
    const items = computeDrift([...CONTOSO, grantAssignment(expired), grantAssignment(overdue)], context({ requests: [expired, overdue] }));
    expect(items.map((i) => [i.kind, i.requestId, i.action])).toEqual([['expired-grant', 'r-expired', 'remove'], ['expired-grant', 'r-overdue', 'remove']]);
    expect(items.map((i) => i.reason)).toEqual([
      `the grant of request r-expired ended (Expired at ${expired.endedAt}), but its assignment is still there`,
      `the grant of request r-overdue expired at ${overdue.expiresAt}, but its assignment is still there`,
    ]);
  });

  it('reports orphan for a name derived from a request that was never granted, or that does not match its request', () => {
    const denied = releaseGrant('r-denied', 'Denied');
    const active = releaseGrant('r-active', 'Active');
    const mismatched: ObservedAssignment = { ...grantAssignment(active), roleId: ROLE.cryptoAuditor };
    // Each on its own: a running grant of the same access would justify the denied one's assignment (shared access).
    const items = [
      ...computeDrift([...CONTOSO, grantAssignment(denied)], context({ requests: [denied] })),
      ...computeDrift([...CONTOSO, mismatched], context({ requests: [active] })),
    ];
    expect(items.map((i) => [i.kind, i.requestId])).toEqual([['orphan', 'r-denied'], ['orphan', 'r-active']]);
    expect(items.map((i) => i.reason)).toEqual([
      'made for request r-denied, which was never granted (Denied)',
      `named for request r-active, which is for Managed HSM Crypto User on /keys/release-signing-key to ${OID.appVm}, not this assignment`,
    ]);
  });

  it('reports forbidden-principal for the forbidden group itself and for its members, even with a role nobody declared', () => {
    const items = computeDrift([...CONTOSO,
      { name: 'f1', scope: '/', roleId: ROLE.cryptoAuditor, principalId: G.appDevOps },
      { name: 'f2', scope: '/keys/k', roleId: '11111111-2222-3333-4444-555555555555', principalId: OID.dana }], context());
    expect(items.map((i) => [i.kind, i.principal])).toEqual([['forbidden-principal', 'app-devops'], ['forbidden-principal', 'dana']]);
  });

  it('reports unknown-role for assignments of undeclared custom roles and for undeclared definitions nobody uses', () => {
    const custom = '11111111-2222-3333-4444-555555555555';
    const unused = '66666666-7777-8888-9999-000000000000';
    const items = computeDrift([...CONTOSO, { name: 'u1', scope: '/keys/k', roleId: custom, principalId: OID.alice }], context({
      roleDefinitions: [
        { id: custom, roleName: 'Key Peeker', custom: true },
        { id: unused, roleName: 'Leftover', custom: true },
        { id: ROLE.governor, roleName: 'HSM Access Governor', custom: true },
        { id: ROLE.cryptoUser, roleName: 'Managed HSM Crypto User', custom: false },
      ],
    }));
    expect(items.map((i) => [i.kind, i.role, i.assignmentName, i.action])).toEqual([
      ['unknown-role', 'Key Peeker', 'u1', 'none'],
      ['unknown-role', 'Leftover', '', 'none'],
    ]);
  });

  it('reports a missing standing assignment that may not be repaired with no action', () => {
    const noRepair = parsePolicy(contosoPolicyText().replace('    scope: /keys/app-signing-key\n', '    scope: /keys/app-signing-key\n    repair: false\n'), 'no-repair.yaml');
    const items = computeDrift(CONTOSO.filter((a) => a.name !== 'a4'), context({ policy: noRepair }));
    expect(items.map((i) => [i.kind, i.action])).toEqual([['missing', 'none']]);
  });
});

describe('planApply', () => {
  it('refuses everything in report mode', () => {
    const plan = planApply(computeDrift(SEED_DRIFT, context()), SEED_DRIFT, policy);
    expect(plan.refused?.code).toBe('report-mode');
    expect(plan.actions).toEqual([]);
  });

  it('in enforce mode creates first, then removes', () => {
    const strict = enforcing('  mode: enforce\n');
    const plan = planApply(computeDrift(SEED_DRIFT, context({ policy: strict })), SEED_DRIFT, strict);
    expect(plan.refused).toBeUndefined();
    expect(plan.actions.map((i) => i.kind)).toEqual(['missing', 'unexpected', 'forbidden-principal']);
  });

  it('refuses the whole apply when removals exceed maxRemovalsPerRun', () => {
    const strict = enforcing('  mode: enforce\n  maxRemovalsPerRun: 1\n');
    const plan = planApply(computeDrift(SEED_DRIFT, context({ policy: strict })), SEED_DRIFT, strict);
    expect(plan.refused).toMatchObject({ code: 'too-many-removals' });
    expect(plan.refused?.detail).toMatch(/2 removals exceed maxRemovalsPerRun \(1\)/);
    expect(plan.actions).toEqual([]);
  });

  it('never removes the last Administrator assignment at /', () => {
    const strict = parsePolicy(contosoPolicyText()
      .replace(/ {2}- principal: security-team\n {4}role: Administrator\n {4}scope: \/\n/, '')
      .replace(/protected:\n {2}- principal: break-glass\n {4}role: Administrator\n {4}scope: \/\n {4}reason: .*\n/, 'protected:\n')
      .replace(/reconcile:[\s\S]*$/, 'reconcile:\n  mode: enforce\n'), 'no-admins.yaml');
    const items = computeDrift(CONTOSO, context({ policy: strict }));
    expect(items.filter((i) => i.roleId === ADMINISTRATOR_ROLE_ID).map((i) => i.kind)).toEqual(['unexpected', 'unexpected']);
    const plan = planApply(items, CONTOSO, strict);
    expect(plan.actions.filter((i) => i.roleId === ADMINISTRATOR_ROLE_ID)).toHaveLength(1);
    expect(plan.held).toHaveLength(1);
    expect(plan.held[0]!.reason).toMatch(/last Administrator/);
  });
});
