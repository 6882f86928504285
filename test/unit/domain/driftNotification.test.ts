import type { DriftItem } from '../../../shared/domain/drift';
import { DRIFT_MESSAGE_TOP_ITEMS, driftNotificationContent, securityAdminAliases, securityAdminRecipients, type DriftRunSummary } from '../../../shared/domain/driftNotification';
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
    expect(content).toMatchObject({ kind: 'drift-found', audience: 'security-admins', requestId: 'run-1', title: 'Drift found on contoso-hsm: 13 items', riskFlags: ['Forbidden principal holds a role'], actionRequired: false });
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
