import { evaluateRequest, forbiddenReason, rulesForCaller, type RequestInput } from '../../../shared/domain/eligibility';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { CALLERS, G, NOW, OID } from './fixtures';

const POLICY = parsePolicy(`version: 1
hsms:
  - { name: h1, url: https://h1.example, default: true }
  - { name: h2, url: https://h2.example }
principals:
  alice: { objectId: ${OID.alice}, type: User }
  sam: { objectId: ${OID.sam}, type: User }
  sara: { objectId: ${OID.sara}, type: User }
  dave: { objectId: ${OID.dave}, type: User }
  app: { objectId: ${OID.appVm}, type: ServicePrincipal }
  store: { objectId: ${OID.logStorage}, type: ServicePrincipal }
  sec: { objectId: ${G.securityTeam}, type: Group, members: [sam, sara] }
  devs: { objectId: ${G.appDevOps}, type: Group, members: [dave] }
forbidden:
  - { principal: devs, reason: no data access }
eligibility:
  - id: self-user
    requesters: [sec]
    for: self
    roles: [Crypto User]
    scopes: [/keys/*]
    defaultDuration: PT1H
    maxDuration: PT4H
    approval: { approvers: [sec], count: 1 }
  - id: for-app
    requesters: [alice, devs]
    for: [app, self]
    roles: [Crypto User, Crypto Auditor]
    scopes: [/keys/k1]
    maxDuration: PT2H
    minDuration: PT10M
    requireJustification: false
    ticketPattern: ^T-\\d+$
    approval: none
  - id: h2-only
    requesters: [alice]
    for: self
    roles: [Backup User]
    scopes: [/]
    maxDuration: PT1H
    hsm: h2
    approval: { approvers: [sam, sara], count: 1 }
`, 'eligibility.yaml');

const base: RequestInput = { role: 'Crypto User', scope: '/keys/k1', justification: 'because' };
const alice = { objectId: OID.alice, groups: [] };
const aliceInDevs = { objectId: OID.alice, groups: [G.appDevOps] };

describe('evaluateRequest', () => {
  const cases: Array<[string, { objectId: string; groups: readonly string[] }, RequestInput, number, string]> = [
    ['malformed scope', CALLERS.sam!, { ...base, scope: '/keys/../' }, 400, 'malformed-scope'],
    ['encoded slash', CALLERS.sam!, { ...base, scope: '/keys%2Fk1' }, 400, 'malformed-scope'],
    ['invalid duration', CALLERS.sam!, { ...base, duration: '1 hour' }, 400, 'invalid-duration'],
    ['years are refused', CALLERS.sam!, { ...base, duration: 'P1Y' }, 400, 'invalid-duration'],
    ['invalid principal id', CALLERS.sam!, { ...base, principalId: 'app' }, 400, 'invalid-principal'],
    ['unknown role', CALLERS.sam!, { ...base, role: 'Owner' }, 422, 'unknown-role'],
    ['unknown hsm', CALLERS.sam!, { ...base, hsm: 'h9' }, 422, 'unknown-hsm'],
    ['forbidden group as target', CALLERS.sam!, { ...base, principalId: G.appDevOps }, 403, 'forbidden-principal'],
    ['declared member of a forbidden group', alice, { ...base, principalId: OID.dave }, 403, 'forbidden-principal'],
    ['caller in a forbidden group (token) asking for self', aliceInDevs, base, 403, 'forbidden-principal'],
    ['no rule for caller', { objectId: OID.sean, groups: [] }, base, 403, 'not-eligible'],
    ['no rule for caller (unknown person)', { objectId: '00000000-0000-4000-8000-000000000000', groups: [] }, base, 403, 'not-eligible'],
    ['rule exists only on another HSM', CALLERS.sam!, { ...base, role: 'Backup User', scope: '/' }, 403, 'role-not-allowed'],
    ['role not in caller rules', CALLERS.sam!, { ...base, role: 'Crypto Officer' }, 403, 'role-not-allowed'],
    ['scope outside the rule', CALLERS.sam!, { ...base, scope: '/keys' }, 403, 'scope-not-allowed'],
    ['scope / for /keys/* rule', CALLERS.sam!, { ...base, scope: '/' }, 403, 'scope-not-allowed'],
    ['target not allowed', CALLERS.sam!, { ...base, principalId: OID.appVm }, 403, 'principal-not-allowed'],
    ['target not allowed (other SP)', alice, { ...base, principalId: OID.logStorage }, 403, 'principal-not-allowed'],
    ['too long', CALLERS.sam!, { ...base, duration: 'PT4H1S' }, 422, 'duration-too-long'],
    ['shorter than policy minimum', CALLERS.sam!, { ...base, duration: 'PT59S' }, 422, 'duration-too-short'],
    ['shorter than rule minimum', alice, { ...base, duration: 'PT9M' }, 422, 'duration-too-short'],
    ['justification missing', CALLERS.sam!, { role: 'Crypto User', scope: '/keys/k1' }, 422, 'justification-required'],
    ['justification blank', CALLERS.sam!, { ...base, justification: '   ' }, 422, 'justification-required'],
    ['ticket pattern mismatch', alice, { ...base, ticket: 'X-1' }, 422, 'ticket-invalid'],
  ];

  it.each(cases)('%s → %s %s', (_name, caller, input, status, code) => {
    const result = evaluateRequest(POLICY, caller, input, NOW);
    expect(result).toMatchObject({ ok: false, status, code });
    if (!result.ok) expect(result.detail.length).toBeGreaterThan(0);
  });

  it('defaults: duration = rule default, principal = caller, hsm = default', () => {
    const result = evaluateRequest(POLICY, CALLERS.sam!, base, NOW);
    expect(result).toMatchObject({ ok: true, durationMs: 3_600_000, duration: 'PT1H', principalId: OID.sam, hsm: { name: 'h1' }, approvalsRequired: 1 });
  });

  it('canonicalizes scope, principal id and duration', () => {
    const result = evaluateRequest(POLICY, CALLERS.sam!, { ...base, scope: '/keys/K1', principalId: OID.sam.toUpperCase(), duration: 'PT90M' }, NOW);
    expect(result).toMatchObject({ ok: true, scope: '/keys/k1', principalId: OID.sam, duration: 'PT1H30M' });
  });

  it('allows a rule without justification, a valid ticket, and targets by name or self', () => {
    expect(evaluateRequest(POLICY, alice, { role: 'Crypto Auditor', scope: '/keys/k1', principalId: OID.appVm, ticket: 'T-9' }, NOW)).toMatchObject({ ok: true, ticket: 'T-9', approvalsRequired: 0, durationMs: 7_200_000 });
    expect(evaluateRequest(POLICY, alice, { role: 'Crypto User', scope: '/keys/k1' }, NOW)).toMatchObject({ ok: true, principalId: OID.alice });
  });

  it('finds the rule on a named HSM', () => {
    expect(evaluateRequest(POLICY, alice, { role: 'Backup User', scope: '/', hsm: 'h2', justification: 'x' }, NOW)).toMatchObject({ ok: true, hsm: { name: 'h2' } });
    expect(evaluateRequest(POLICY, alice, { role: 'Backup User', scope: '/', justification: 'x' }, NOW)).toMatchObject({ code: 'role-not-allowed' });
  });

  it('devs may request for the app (forbidden applies to the target only)', () => {
    expect(evaluateRequest(POLICY, CALLERS.dave!, { ...base, principalId: OID.appVm }, NOW)).toMatchObject({ ok: true, rule: { id: 'for-app' } });
  });

  it('forbiddenReason and rulesForCaller', () => {
    expect(forbiddenReason(POLICY, G.appDevOps)).toMatch(/'devs' must never hold a data-plane role: no data access/);
    expect(forbiddenReason(POLICY, OID.dave)).toMatch(/a member of 'devs'/);
    expect(forbiddenReason(POLICY, OID.appVm)).toBeUndefined();
    expect(rulesForCaller(POLICY, alice).map((r) => r.id)).toEqual(['for-app', 'h2-only']);
    expect(rulesForCaller(POLICY, alice, 'h1').map((r) => r.id)).toEqual(['for-app']);
  });
});
