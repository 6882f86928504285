import type { DriftItem } from '../../../shared/domain/drift';
import { DRIFT_MESSAGE_TOP_ITEMS, driftFingerprint, driftNotificationContent, nextDriftAlert, securityAdminAliases, securityAdminRecipients, type DriftRunSummary } from '../../../shared/domain/driftNotification';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import { contosoPolicy, contosoPolicyText } from './fixtures';

const policy = contosoPolicy();
const withoutNotifications = parsePolicy(contosoPolicyText().replace(/\nnotifications:[\s\S]*?(?=\n\S|$)/, '\n'), 'no-notifications.yaml');
const run: DriftRunSummary = { id: 'run-1', hsm: 'contoso-hsm', mode: 'plan', finishedAt: '2026-11-23T02:00:05.000Z', actions: [] };

function item(kind: DriftItem['kind'], n: number): DriftItem {
  return {
    id: `item-${kind}-${n}`, kind, principalId: '118a1582-3083-4290-99fa-f8a33f52b810', role: 'Managed HSM Crypto User', roleId: '21dbd100-6940-42c2-9190-5d6cb909625b',
    scope: `/keys/key-${n}`, assignmentName: `name-${n}`, reason: 'because', action: kind === 'missing' ? 'create' : 'remove',
  };
}

describe('drift notifications', () => {
  it('go to the principals holding Administrator at / in the policy, on the channels its notifications section names', () => {
    expect(securityAdminAliases(policy)).toEqual(['security-team']);
    expect(securityAdminRecipients(policy)).toEqual({ teams: ['TEAMS_WEBHOOK_URL'], email: ['security-team@contoso.example'] });
  });

  it("without a notifications entry, go to the administrators' own addresses (a group's declared members')", () => {
    expect(withoutNotifications.notifications).toBeUndefined();
    expect(securityAdminRecipients(withoutNotifications)).toEqual({ teams: [], email: ['sam@contoso.example', 'sara@contoso.example', 'sean@contoso.example'] });
  });

  it('say nothing for a run without drift', () => {
    expect(driftNotificationContent(policy, run, [])).toBeUndefined();
  });

  it('count the items per kind, name the first ones, forbidden principals first, and say what was done', () => {
    const items = [...Array.from({ length: 12 }, (_, n) => item('unexpected', n)), item('forbidden-principal', 99)];
    const content = driftNotificationContent(policy, { ...run, mode: 'apply', actions: [{ action: 'removed' }, { action: 'failed' }] }, items);
    expect(content).toMatchObject({ kind: 'drift-found', audience: 'security-admins', requestId: 'run-1', title: 'Drift found: 13 items on contoso-hsm', riskFlags: ['Forbidden principal holds a role'], actionRequired: false });
    expect(content?.summary).toBe('Reconciliation found 1 forbidden-principal, 12 unexpected. Apply: 0 created, 1 removed, 0 skipped, 1 failed.');
    const facts = Object.fromEntries(content!.facts.map((f) => [f.title, f.value]));
    expect(facts).toMatchObject({ HSM: 'contoso-hsm', Run: 'run-1 (apply)', 'forbidden-principal': '1', unexpected: '12', 'Item 1': 'forbidden-principal: Managed HSM Crypto User for Dave DevOps on /keys/key-99', More: '3 more item(s) in the report' });
    expect(content!.facts.filter((f) => f.title.startsWith('Item '))).toHaveLength(DRIFT_MESSAGE_TOP_ITEMS);
  });

  it('ask for a decision after a plan or a refused apply', () => {
    expect(driftNotificationContent(policy, run, [item('missing', 1)])?.actionRequired).toBe(true);
    expect(driftNotificationContent(policy, { ...run, mode: 'apply', refused: { code: 'report-mode' } }, [item('missing', 1)])?.summary).toBe('Reconciliation found 1 missing. Nothing was changed: the apply was refused (report-mode).');
  });
});

describe('which drift is news', () => {
  const items = [item('unexpected', 1), item('missing', 2)];
  const day1 = new Date('2026-11-23T02:00:05.000Z');
  const later = new Date('2026-11-23T23:59:00.000Z');
  const day2 = new Date('2026-11-24T00:01:00.000Z');
  const runAt = (id: string, at: Date): DriftRunSummary => ({ ...run, id, startedAt: at.toISOString() });

  it('the same findings in any order, from any run, have one fingerprint; a changed one changes it', () => {
    expect(driftFingerprint(items)).toBe(driftFingerprint([...items].reverse().map((i) => ({ ...i, id: 'other', reason: 'reworded' }))));
    expect(driftFingerprint(items)).not.toBe(driftFingerprint([items[0]!]));
    expect(driftFingerprint(items)).not.toBe(driftFingerprint([items[0]!, { ...items[1]!, scope: '/keys/other' }]));
    expect(driftFingerprint(items)).not.toBe(driftFingerprint(items, [{ action: 'removed', scope: '/keys/key-1', assignmentName: 'name-1' }]));
  });

  it('new drift is told at once, unchanged drift once per UTC day as a summary, no drift never', () => {
    const first = nextDriftAlert(undefined, runAt('r1', day1), items, day1);
    expect(first.record).toMatchObject({ kind: 'drift-found', day: '2026-11-23', since: day1.toISOString(), runId: 'r1' });
    expect(first.notice).toEqual(first.record);
    // The same findings later that day: nothing new to store; the notice due is the one already sent (its mark says so).
    const again = nextDriftAlert(first.record, runAt('r2', later), [...items].reverse(), later);
    expect(again).toEqual({ notice: first.record });
    const nextDay = nextDriftAlert(first.record, runAt('r3', day2), items, day2);
    expect(nextDay.record).toMatchObject({ kind: 'drift-summary', day: '2026-11-24', since: day1.toISOString() });
    const changed = nextDriftAlert(nextDay.record, runAt('r4', day2), [items[0]!], day2);
    expect(changed.record).toMatchObject({ kind: 'drift-found', since: day2.toISOString() });
    const clean = nextDriftAlert(changed.record, runAt('r5', day2), [], day2);
    expect(clean).toEqual({ record: expect.objectContaining({ kind: 'no-drift' }) });
    expect(nextDriftAlert(clean.record, runAt('r6', day2), [], day2)).toEqual({});
    // An older run that closes late changes nothing.
    expect(nextDriftAlert(changed.record, runAt('r0', day1), items, day2)).toEqual({});
  });

  it('the daily summary says since when the drift is unchanged', () => {
    const content = driftNotificationContent(policy, run, items, { kind: 'drift-summary', since: day1.toISOString(), fingerprint: 'f', day: '2026-11-24' });
    expect(content).toMatchObject({ kind: 'drift-summary', title: 'Drift unchanged (daily summary): 2 items on contoso-hsm', subject: '[HSM access] 2 items on contoso-hsm: drift unchanged (daily summary)' });
    expect(content?.summary).toContain(`The same drift as reported at ${day1.toISOString()}`);
  });
});
