import { parsePolicy } from '../../../shared/domain/policy/parse';
import type { PolicyError } from '../../../shared/domain/policy/types';
import { applyEvent, createRequest, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import {
  APPROVAL_CATCH_UP_MS, APPROVAL_CATCH_UP_UNTIL_MS, dueNotifications, maskAddress, notificationContent, notificationsForTransition, recipientsFor, riskFlags,
} from '../../../shared/domain/notifications';
import { CALLERS, G, NOW, OID, MINIMAL_POLICY, contosoPolicy, contosoPolicyText } from './fixtures';

const policy = contosoPolicy();
const HOUR = 3_600_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);

function submit(caller: keyof typeof CALLERS, input: Parameters<typeof evaluateRequest>[2], id = 'req-1'): AccessRequest {
  const evaluation = evaluateRequest(policy, CALLERS[caller]!, input, NOW) as EligibleRequest;
  expect(evaluation.ok).toBe(true);
  return createRequest(policy, evaluation, { id, requestedBy: CALLERS[caller]!.objectId }, NOW);
}

function apply(request: AccessRequest, event: RequestEvent, now = NOW): AccessRequest {
  const result = applyEvent(request, event, now);
  if (!result.ok) throw new Error(result.detail);
  return result.request;
}

const release = (): AccessRequest => submit('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'Release 1.4.0' });
const kinds = (before: AccessRequest | undefined, after: AccessRequest): string[] => notificationsForTransition(before, after).map((i) => `${i.audience}:${i.kind}`);

describe('what to tell whom on a transition', () => {
  it('a new request asks its approvers; their decision follows them up and tells the requester', () => {
    const pending = release();
    expect(kinds(undefined, pending)).toEqual(['approvers:approval-needed']);
    const approved = apply(pending, { type: 'decide', by: OID.sam, decision: 'approve' });
    expect(kinds(pending, approved)).toEqual(['approvers:decided', 'requester:approved']);
    const active = apply(approved, { type: 'granted', assignmentName: 'a' });
    expect(kinds(approved, active)).toEqual(['requester:granted']);
    expect(kinds(active, apply(active, { type: 'expire' }, at(2 * HOUR)))).toEqual(['requester:expired']);
    expect(kinds(active, apply(active, { type: 'revoke', by: OID.dave, reason: 'done' }))).toEqual(['requester:revoked']);
    expect(kinds(active, apply(active, { type: 'fail', reason: 'HSM said no' }))).toEqual(['requester:failed']);
  });

  it('denied, cancelled and timed-out requests', () => {
    const pending = release();
    expect(kinds(pending, apply(pending, { type: 'decide', by: OID.sam, decision: 'deny', comment: 'no' }))).toEqual(['approvers:decided', 'requester:denied']);
    expect(kinds(pending, apply(pending, { type: 'cancel', by: OID.dave }))).toEqual(['approvers:decided']);
    expect(kinds(pending, apply(pending, { type: 'timeout' }, at(25 * HOUR)))).toEqual(['approvers:decided', 'requester:timed-out']);
  });

  it('a partial approval tells the approvers how many are still needed; the last one supersedes it', () => {
    const pending = submit('sam', { role: 'Crypto Officer', scope: '/', duration: 'PT1H', justification: 'key recovery', ticket: 'CHG-1' });
    const one = apply(pending, { type: 'decide', by: OID.sara, decision: 'approve' });
    expect(kinds(pending, one)).toEqual(['approvers:approval-progress']);
    expect(notificationContent(policy, one, notificationsForTransition(pending, one)[0]!).summary).toBe('Sara Security approved. 1 more approval needed.');
    const two = apply(one, { type: 'decide', by: OID.sean, decision: 'approve' });
    expect(kinds(one, two)).toEqual(['approvers:decided', 'requester:approved']);
  });

  it('a rule without approval tells nobody until the grant', () => {
    const auto = submit('alice', { role: 'Crypto Auditor', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'review' });
    expect(auto.status).toBe('Approved');
    expect(kinds(undefined, auto)).toEqual([]);
  });

  it('extensions: asked of the approvers, the outcome to the requester', () => {
    const active = apply(apply(release(), { type: 'decide', by: OID.sam, decision: 'approve' }), { type: 'granted', assignmentName: 'a' });
    const asked = apply(active, { type: 'requestExtension', by: OID.dave, durationMs: HOUR });
    expect(kinds(active, asked)).toEqual(['approvers:extension-needed']);
    expect(kinds(asked, apply(asked, { type: 'decideExtension', by: OID.sam, decision: 'approve' }))).toEqual(['requester:extended', 'approvers:decided']);
    expect(kinds(asked, apply(asked, { type: 'decideExtension', by: OID.sam, decision: 'deny' }))).toEqual(['requester:extension-denied', 'approvers:decided']);
  });
});

describe('recipients come from the policy', () => {
  it('approvers: the channels of the approver alias; requester: the principal email', () => {
    const request = release();
    expect(recipientsFor(policy, request, 'approvers')).toEqual({ teams: ['TEAMS_WEBHOOK_URL'], email: ['security-team@contoso.example'] });
    expect(recipientsFor(policy, request, 'requester')).toEqual({ teams: [], email: ['dave@contoso.example'] });
  });

  it('an approver group without an entry is told at its members\' addresses, leaving out the requester', () => {
    const text = MINIMAL_POLICY
      .replace(`alice: { objectId: ${OID.alice}, type: User }`, `alice: { objectId: ${OID.alice}, type: User, email: alice@example.com }`)
      .replace(`sam: { objectId: ${OID.sam}, type: User }`, `sam: { objectId: ${OID.sam}, type: User, email: sam@example.com }\n  sara: { objectId: ${OID.sara}, type: User, email: sara@example.com }`)
      .replace('members: [sam]', 'members: [sam, sara]');
    const small = parsePolicy(text, 'minimal.yaml');
    expect(small.notifications).toBeUndefined();
    const evaluation = evaluateRequest(small, { objectId: OID.alice, groups: [] }, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW) as EligibleRequest;
    const request = createRequest(small, evaluation, { id: 'r', requestedBy: OID.alice }, NOW);
    expect(recipientsFor(small, request, 'approvers')).toEqual({ teams: [], email: ['sam@example.com', 'sara@example.com'] });
    expect(recipientsFor(small, request, 'requester')).toEqual({ teams: [], email: ['alice@example.com'] });
  });

  it("a group's address, even as a member of an approver group, is never used: only people are told by email", () => {
    const text = MINIMAL_POLICY
      .replace(`sam: { objectId: ${OID.sam}, type: User }`, `sam: { objectId: ${OID.sam}, type: User, email: sam@example.com }\n  ops: { objectId: ${G.appDevOps}, type: Group, email: ops@example.com }`)
      .replace('members: [sam]', 'members: [sam, ops]');
    const small = parsePolicy(text, 'minimal.yaml');
    const evaluation = evaluateRequest(small, { objectId: OID.alice, groups: [] }, { role: 'Crypto User', scope: '/keys/k1', justification: 'x' }, NOW) as EligibleRequest;
    const request = createRequest(small, evaluation, { id: 'r', requestedBy: OID.alice }, NOW);
    expect(recipientsFor(small, request, 'approvers')).toEqual({ teams: [], email: ['sam@example.com'] });
  });

  it('the notifications section is checked: known aliases that approve, settings names, emails', () => {
    const withSection = (section: string): string => `${contosoPolicyText().replace(/\nnotifications:[\s\S]*$/, '')}\nnotifications:\n${section}\n`;
    const issues = (section: string): string[] => {
      try {
        parsePolicy(withSection(section), 'p.yaml');
        return [];
      } catch (error) {
        return (error as PolicyError).issues.map((i) => `${i.path} ${i.message}`);
      }
    };
    expect(issues('  approvers:\n    security-team: { teams: TEAMS_WEBHOOK_URL }')).toEqual([]);
    expect(issues('  approvers:\n    nobody: { teams: X }')).toEqual([expect.stringMatching(/^notifications\.approvers\.nobody unknown principal 'nobody'/)]);
    expect(issues('  approvers:\n    app-devops: { teams: X }')).toEqual(["notifications.approvers[\"app-devops\"] 'app-devops' is not an approver of any rule"]);
    expect(issues('  approvers:\n    security-team: { teams: "https://prod.logic.azure.com/x" }')).toEqual([expect.stringMatching(/teams must match/)]);
    expect(issues('  approvers:\n    security-team: { email: [not-an-address] }')).toEqual([expect.stringMatching(/email\[0\] must match format "email"/)]);
    expect(issues('  expiryWarning: soon')).toEqual([expect.stringMatching(/^notifications\.expiryWarning 'soon' is not an ISO 8601 duration: use e\.g\. PT1H/)]);
  });
});

describe('content', () => {
  it('names requester, grantee, role, scope, duration, justification, ticket and approvals still needed', () => {
    const request = release();
    const content = notificationContent(policy, request, notificationsForTransition(undefined, request)[0]!);
    expect(content).toMatchObject({ kind: 'approval-needed', title: 'Approval needed: Crypto User on /keys/release-signing-key for app-vm (#req-1)', subject: '[HSM access] Crypto User on /keys/release-signing-key for app-vm (#req-1): approval needed', linkLabel: 'Review', actionRequired: true, approvalsNeeded: 1, riskFlags: [] });
    expect(Object.fromEntries(content.facts.map((f) => [f.title, f.value]))).toMatchObject({
      Requester: 'Dave DevOps', Grantee: 'app-vm (managed identity)', Role: 'Managed HSM Crypto User', Scope: '/keys/release-signing-key',
      Duration: 'PT1H', Justification: 'Release 1.4.0', Ticket: '(none)', 'Approvals still needed': '1 of 1', Status: 'Pending',
    });
  });

  it('flags a privileged role, an HSM-wide scope and a long grant', () => {
    const officer = submit('sam', { role: 'Crypto Officer', scope: '/', duration: 'PT2H', justification: 'recovery', ticket: 'INC-7' });
    expect(riskFlags(policy, officer)).toEqual(['Privileged role', 'HSM-wide scope']);
    const long = submit('dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT8H', justification: 'long release' });
    expect(riskFlags(policy, long)).toEqual(['Long duration (PT8H)']);
    expect(riskFlags(policy, release())).toEqual([]);
  });

  it('masks addresses for the record', () => {
    expect(maskAddress('dave@contoso.example')).toBe('d***@contoso.example');
    expect(maskAddress('nobody')).toBe('***');
  });
});

describe('timer notifications', () => {
  it('reminds the approvers once half the pending lifetime has passed', () => {
    const pending = release();
    const reminders = (now: Date) => dueNotifications(policy, [pending], now).filter((n) => n.kind === 'reminder');
    expect(reminders(at(11 * HOUR))).toEqual([]);
    expect(reminders(at(12 * HOUR))).toEqual([{ kind: 'reminder', audience: 'approvers', requestId: 'req-1', actor: 'system', key: 'reminder|req-1' }]);
    expect(dueNotifications(policy, [pending], at(24 * HOUR))).toEqual([]);
  });

  it('checks that the approvers of a Pending request were asked, under the key its creation used, from two minutes on, for eight minutes', () => {
    const pending = release();
    const [creation] = notificationsForTransition(undefined, pending);
    expect(creation).toMatchObject({ kind: 'approval-needed', key: 'approval-needed|req-1' });
    expect(dueNotifications(policy, [pending], at(APPROVAL_CATCH_UP_MS - 1))).toEqual([]);
    expect(dueNotifications(policy, [pending], at(APPROVAL_CATCH_UP_MS))).toEqual([{ kind: 'approval-needed', audience: 'approvers', requestId: 'req-1', actor: pending.requestedBy, key: creation!.key }]);
    expect(dueNotifications(policy, [pending], at(APPROVAL_CATCH_UP_UNTIL_MS - 1))).toHaveLength(1);
    expect(dueNotifications(policy, [pending], at(APPROVAL_CATCH_UP_UNTIL_MS))).toEqual([]);
    const decided = apply(pending, { type: 'decide', by: OID.sam, decision: 'deny' });
    expect(dueNotifications(policy, [decided], at(APPROVAL_CATCH_UP_MS))).toEqual([]);
  });

  it('warns the requester expiryWarning before the end, again after an extension moves it, never for a short grant', () => {
    const active = apply(apply(release(), { type: 'decide', by: OID.sam, decision: 'approve' }), { type: 'granted', assignmentName: 'a' });
    expect(dueNotifications(policy, [active], at(HOUR - 16 * 60_000))).toEqual([]);
    const due = dueNotifications(policy, [active], at(HOUR - 15 * 60_000));
    expect(due).toEqual([{ kind: 'expiring', audience: 'requester', requestId: 'req-1', actor: 'system', key: `expiring|req-1|${active.expiresAt}` }]);
    const extended = { ...active, expiresAt: at(2 * HOUR).toISOString() };
    expect(dueNotifications(policy, [extended], at(2 * HOUR - 60_000))[0]?.key).toBe(`expiring|req-1|${extended.expiresAt}`);
    const short = { ...active, expiresAt: at(10 * 60_000).toISOString() };
    expect(dueNotifications(policy, [short], at(60_000))).toEqual([]);
  });
});
