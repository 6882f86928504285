import { applyEvent, createRequest, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';
import { evaluateRequest, type EligibleRequest } from '../../../shared/domain/eligibility';
import { durationText, grantTimeline } from '../../../shared/domain/grantTimeline';
import { notificationContent, notificationsForTransition, type NotificationKind } from '../../../shared/domain/notifications';
import { oneLineText, visibleText } from '../../../shared/domain/plainText';
import { CALLERS, NOW, OID, contosoPolicy } from './fixtures';

/** What messages say about a grant's times, subjects and threads, and how they show what people wrote. */
const policy = contosoPolicy();
const MINUTE = 60_000;
const at = (ms: number): Date => new Date(NOW.getTime() + ms);

function apply(request: AccessRequest, event: RequestEvent, now: Date): AccessRequest {
  const result = applyEvent(request, event, now);
  if (!result.ok) throw new Error(result.detail);
  return result.request;
}

function activeRelease(): AccessRequest {
  const evaluation = evaluateRequest(policy, CALLERS.dave!, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm, duration: 'PT1H', justification: 'Release' }, NOW) as EligibleRequest;
  const pending = createRequest(policy, evaluation, { id: '3f2a91c0-aaaa-4bbb-8ccc-dddddddddddd', requestedBy: OID.dave }, NOW);
  const approved = apply(pending, { type: 'decide', by: OID.sam, decision: 'approve' }, at(MINUTE));
  return apply(approved, { type: 'granted', assignmentName: 'a1' }, at(2 * MINUTE));
}

const content = (request: AccessRequest, kind: NotificationKind) => notificationContent(policy, request, { kind, audience: 'requester', requestId: request.id, actor: OID.sam });
const facts = (request: AccessRequest, kind: NotificationKind): Record<string, string> => Object.fromEntries(content(request, kind).facts.map((f) => [f.title, f.value]));

describe('what messages say about time', () => {
  it('a revoked grant says when it ended and how long it lasted, not its original expiry', () => {
    const active = activeRelease();
    const revoked = apply(active, { type: 'revoke', by: OID.sam, reason: 'incident' }, at(12 * MINUTE));
    const told = facts(revoked, 'revoked');
    expect(told.Ended).toBe(`${at(12 * MINUTE).toISOString()} (revoked)`);
    expect(told.Ends).toBeUndefined();
    expect(told.Granted).toBe(at(2 * MINUTE).toISOString());
    expect(told.Duration).toBe('lasted PT10M of PT1H');
    expect(content(revoked, 'revoked').summary).toBe(`Sam Security revoked the grant at ${at(12 * MINUTE).toISOString()}: incident.`);
    expect(JSON.stringify(content(revoked, 'revoked'))).not.toContain(active.expiresAt);
  });

  it('an extended grant counts its extensions in its duration and end', () => {
    let request = activeRelease();
    for (let n = 1; n <= 2; n++) {
      request = apply(request, { type: 'requestExtension', by: OID.dave, durationMs: 30 * MINUTE }, at((2 + n) * MINUTE));
      request = apply(request, { type: 'decideExtension', by: OID.sam, decision: 'approve' }, at((2 + n) * MINUTE + 1000));
    }
    expect(grantTimeline(request)).toMatchObject({ extensions: 2, extendedMs: 60 * MINUTE, grantedMs: 120 * MINUTE });
    expect(durationText(request)).toBe('PT2H (PT1H asked for, extended 2 times by PT1H in all)');
    expect(facts(request, 'extended')).toMatchObject({ Ends: at(122 * MINUTE).toISOString(), Duration: 'PT2H (PT1H asked for, extended 2 times by PT1H in all)' });
    const expired = apply(request, { type: 'expire' }, at(122 * MINUTE + 4000));
    expect(facts(expired, 'expired')).toMatchObject({ Ended: `${at(122 * MINUTE + 4000).toISOString()} (expired)`, Duration: 'lasted PT2H4S of PT2H (PT1H asked for, extended 2 times by PT1H in all)' });
  });

  it('a grant whose assignment could not be removed does not claim that access ended', () => {
    const active = activeRelease();
    const revoked = apply(active, { type: 'revoke', by: OID.sam, reason: 'incident' }, at(5 * MINUTE));
    const failed = apply(revoked, { type: 'fail', reason: 'the assignment could not be removed: 503' }, at(5 * MINUTE + 1));
    expect(content(failed, 'failed').summary).toContain('could not be removed');
    expect(content(failed, 'failed').summary).toContain('access may still be in place');
    expect(facts(failed, 'failed').Failed).toContain('(the role assignment could not be removed)');
  });
});

describe('subjects and threads', () => {
  it('name role, scope, grantee and a short request id; follow-ups refer to the first message', () => {
    const active = activeRelease();
    const first = notificationContent(policy, { ...active, status: 'Pending', history: active.history.slice(0, 1) }, notificationsForTransition(undefined, { ...active, status: 'Pending', history: active.history.slice(0, 1) })[0]!);
    expect(first.subject).toBe('[HSM access] Crypto User on /keys/release-signing-key for app-vm (#3f2a91c0): approval needed');
    expect(first.thread).toEqual({ id: `request.${active.id}`, first: true, message: 'approval-needed.1' });
    const granted = content(active, 'granted');
    expect(granted.subject).toBe('[HSM access] Crypto User on /keys/release-signing-key for app-vm (#3f2a91c0): granted');
    expect(granted.title).toBe('Granted: Crypto User on /keys/release-signing-key for app-vm (#3f2a91c0)');
    expect(granted.thread).toEqual({ id: `request.${active.id}`, first: false, message: 'granted.3' });
  });
});

describe('text people wrote', () => {
  it('shows bidi and control characters instead of obeying them, and keeps one line where a line could pose as ours', () => {
    expect(visibleText('pay\u202Elive.example\u2066x\u0007')).toBe('pay[U+202E]live.example[U+2066]x[U+0007]');
    expect(visibleText('a\r\nb\u2028c')).toBe('a\nb\nc');
    expect(oneLineText('Release\nReview: https://evil.example')).toBe('Release ↵ Review: https://evil.example');
    expect(oneLineText('[Approve here](https://evil.example) **now**')).toBe('[Approve here](https://evil.example) **now**');
  });
});
