import { evaluateRequest, type Caller, type EligibleRequest } from '../../../shared/domain/eligibility';
import { createRequest, type AccessRequest } from '../../../shared/domain/lifecycle';
import {
  decide, isAdministrator, isAuditor, isOverseer, mayCancel, mayDecide, mayExtend, mayReadAuditTrail, mayReadReports, mayRevoke,
  mayRunReconciliation, maySeeAllRequests, maySeeHealthDetails, maySeeRequest,
} from '../../../shared/domain/permissions';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { NOW } from './fixtures';

/** Every permission for every kind of caller, against one policy that gives each kind exactly one standing. */
const ID = {
  requester: '10000000-0000-4000-8000-000000000001',
  grantee: '10000000-0000-4000-8000-000000000002',
  approver: '10000000-0000-4000-8000-000000000003',
  otherApprover: '10000000-0000-4000-8000-000000000004',
  administrator: '10000000-0000-4000-8000-000000000005',
  auditor: '10000000-0000-4000-8000-000000000006',
  policyAdministrator: '10000000-0000-4000-8000-000000000007',
  stranger: '10000000-0000-4000-8000-000000000008',
  groupMember: '10000000-0000-4000-8000-000000000009',
  keyAdministrator: '10000000-0000-4000-8000-00000000000a',
  admins: '20000000-0000-4000-8000-000000000001',
} as const;

const policy = parsePolicy(`version: 1
hsms:
  - name: h1
    url: https://h1.managedhsm.azure.net
principals:
  requester: { objectId: ${ID.requester}, type: User }
  grantee: { objectId: ${ID.grantee}, type: ServicePrincipal }
  approver: { objectId: ${ID.approver}, type: User }
  other-approver: { objectId: ${ID.otherApprover}, type: User }
  administrator: { objectId: ${ID.administrator}, type: User }
  auditor: { objectId: ${ID.auditor}, type: User }
  policy-administrator: { objectId: ${ID.policyAdministrator}, type: User }
  stranger: { objectId: ${ID.stranger}, type: User }
  group-member: { objectId: ${ID.groupMember}, type: User }
  key-administrator: { objectId: ${ID.keyAdministrator}, type: User }
  admins: { objectId: ${ID.admins}, type: Group, members: [group-member] }
standing:
  - { principal: administrator, role: Administrator, scope: / }
  - { principal: admins, role: Administrator, scope: / }
  - { principal: auditor, role: Crypto Auditor, scope: / }
  - { principal: policy-administrator, role: Policy Administrator, scope: / }
  - { principal: key-administrator, role: Administrator, scope: /keys/k1 }
eligibility:
  - id: app-signing
    requesters: [requester]
    for: [grantee]
    roles: [Crypto User]
    scopes: [/keys/*]
    defaultDuration: PT1H
    maxDuration: PT2H
    approval:
      approvers: [approver]
      count: 1
  - id: other-rule
    requesters: [stranger]
    for: self
    roles: [Crypto User]
    scopes: [/keys/*]
    defaultDuration: PT1H
    maxDuration: PT2H
    approval:
      approvers: [other-approver]
      count: 1
`, 'permissions.test.ts');

const CALLERS: Record<string, Caller> = {
  requester: { objectId: ID.requester, groups: [] },
  grantee: { objectId: ID.grantee, groups: [] },
  'approver of the rule': { objectId: ID.approver, groups: [] },
  'other approver': { objectId: ID.otherApprover, groups: [] },
  administrator: { objectId: ID.administrator, groups: [] },
  auditor: { objectId: ID.auditor, groups: [] },
  'Policy Administrator holder': { objectId: ID.policyAdministrator, groups: [] },
  'administrator of one key only': { objectId: ID.keyAdministrator, groups: [] },
  stranger: { objectId: ID.stranger, groups: [] },
  'administrator through a group': { objectId: ID.groupMember, groups: [ID.admins.toUpperCase()] },
};

const asked = evaluateRequest(policy, CALLERS.requester as Caller, { role: 'Crypto User', scope: '/keys/k1', principalId: ID.grantee, justification: 'release' }, NOW) as EligibleRequest;
if (!asked.ok) throw new Error(`fixture request refused: ${JSON.stringify(asked)}`);
const pending: AccessRequest = createRequest(policy, asked, { id: 'req-1', requestedBy: ID.requester }, NOW);

type Check = (caller: Caller) => boolean;
const PERMISSIONS: Record<string, Check> = {
  'see the request': (c) => maySeeRequest(policy, c, pending),
  'see every request': (c) => maySeeAllRequests(policy, c),
  'decide the request': (c) => mayDecide(policy, c, pending),
  'extend the grant': (c) => mayExtend(policy, c, pending),
  'revoke the grant': (c) => mayRevoke(policy, c, pending),
  'cancel the request': (c) => mayCancel(policy, c, pending),
  'read the audit trail': (c) => mayReadAuditTrail(policy, c),
  'read reports': (c) => mayReadReports(policy, c),
  'run reconciliation': (c) => mayRunReconciliation(policy, c),
  'see health details': (c) => maySeeHealthDetails(policy, c),
};

// Rows: callers in the order of CALLERS; columns: PERMISSIONS in their order. 1 = allowed.
const EXPECTED: Record<string, string> = {
  //                                 see all  dec ext rev can aud rep rec hea
  requester:                       '1   0    0   1   1   1   0   0   0   0',
  grantee:                         '1   0    0   1   1   0   0   0   0   0',
  'approver of the rule':          '1   0    1   0   0   0   0   0   0   0',
  'other approver':                '0   0    0   0   0   0   0   0   0   0',
  administrator:                   '1   1    0   0   1   0   1   1   1   1',
  auditor:                         '1   1    0   0   0   0   1   1   0   0',
  'Policy Administrator holder':   '0   0    0   0   0   0   0   0   0   0',
  'administrator of one key only': '0   0    0   0   0   0   0   0   0   0',
  stranger:                        '0   0    0   0   0   0   0   0   0   0',
  'administrator through a group': '1   1    0   0   1   0   1   1   1   1',
};

describe('permissions: every permission for every kind of caller', () => {
  const cases = Object.entries(CALLERS).flatMap(([who, caller]) => {
    const row = (EXPECTED[who] as string).split(/\s+/).map((cell) => cell === '1');
    return Object.entries(PERMISSIONS).map(([what, check], column) => [who, what, caller, check, row[column]] as const);
  });

  it('has a row for each caller kind and a column for each permission', () => {
    expect(Object.keys(EXPECTED)).toEqual(Object.keys(CALLERS));
    for (const row of Object.values(EXPECTED)) expect(row.split(/\s+/)).toHaveLength(Object.keys(PERMISSIONS).length);
  });

  it.each(cases)('%s: %s', (_who, _what, caller, check, allowed) => {
    expect(check(caller)).toBe(allowed);
  });
});

describe('the roles behind the powers', () => {
  it('are matched by role definition id at /, never by name', () => {
    expect(isAdministrator(policy, CALLERS['Policy Administrator holder'] as Caller)).toBe(false);
    expect(isOverseer(policy, CALLERS['Policy Administrator holder'] as Caller)).toBe(false);
    expect(isAdministrator(policy, CALLERS['administrator of one key only'] as Caller)).toBe(false);
    expect(isAuditor(policy, CALLERS.auditor as Caller)).toBe(true);
    expect(isAdministrator(policy, CALLERS.auditor as Caller)).toBe(false);
  });

  it('decide delegates to the approver rules: the requester and the grantee never decide', () => {
    expect(decide(policy, CALLERS.requester as Caller, pending, 'approve')).toMatchObject({ ok: false, code: 'self-approval' });
    expect(decide(policy, CALLERS.grantee as Caller, pending, 'deny')).toMatchObject({ ok: false, code: 'self-approval' });
    expect(decide(policy, CALLERS.administrator as Caller, pending, 'approve')).toMatchObject({ ok: false, code: 'not-an-approver' });
    expect(decide(policy, CALLERS['approver of the rule'] as Caller, pending, 'approve')).toMatchObject({ ok: true, outcome: 'approved' });
  });

  it('health details need a caller', () => {
    expect(maySeeHealthDetails(policy, undefined)).toBe(false);
  });
});
