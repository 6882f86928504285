import { randomUUID } from 'node:crypto';
import { PERSONAS } from '../../dev/personas';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { createAppContext } from '../../shared/app';
import { NOTIFICATION_MARKS_TABLE } from '../../shared/adapters/notify';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';
import { TableDriftAlerts } from '../../shared/adapters/notify/marks';
import type { DriftItem } from '../../shared/domain';
import { driftNotifier } from '../../shared/services/reconciliationNotices';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';
import { readCard } from '../helpers/cards';
import { sleep } from '../helpers/poll';
import { useStack } from '../helpers/stack';
import { SILENT_LOG } from '../helpers/workflow';

/**
 * Drift alerts on the local stack seeded `drifted`: reconciliation runs that find the same drift
 * tell the security team once, a change in the findings tells them again, and unchanged drift comes
 * back at most once per UTC day as a summary, whichever of several closing runs gets there first.
 */
const stack = useStack({ seed: 'drifted' });
const CRYPTO_AUDITOR = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';

const driftMails = () => stack().stack.mailSink.messages().filter((m) => /^drift-/.test(m.headers['x-hsm-governor-kind'] ?? ''));
const driftCards = () => stack().stack.teamsSink.cards().map((c) => readCard(c.payload.attachments[0]!.content)).filter((c) => c.title.startsWith('Drift'));

async function plan(): Promise<{ run: ReconcileRun; items: DriftItem[] }> {
  const response = await stack().api('/api/reconcile', { method: 'POST', persona: 'sam' });
  expect(response.status).toBe(200);
  return (await response.json()) as { run: ReconcileRun; items: DriftItem[] };
}

describe('drift alerts', () => {
  it('the same drift found by four runs is told once; changed drift is told again', async () => {
    for (let n = 0; n < 4; n++) await plan();
    await sleep(300);
    expect(driftMails().map((m) => m.subject)).toEqual(['[HSM access] 3 items on contoso-hsm: drift found']);
    expect(driftCards().map((c) => c.title)).toEqual(['Drift found: 3 items on contoso-hsm']);

    // Someone gives sara a role nobody approved: the findings changed.
    const { hsm, idp } = stack().stack;
    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });
    await rbac.createRoleAssignment('/keys', randomUUID(), roleDefinitionIdFor(CRYPTO_AUDITOR), PERSONAS.sara.oid);
    const changed = await plan();
    expect(changed.items).toHaveLength(4);
    await plan();
    await sleep(300);
    expect(driftMails().map((m) => m.subject)).toEqual(['[HSM access] 3 items on contoso-hsm: drift found', '[HSM access] 4 items on contoso-hsm: drift found']);
    expect(driftCards()).toHaveLength(2);
  }, 60_000);

  it('unchanged drift is summarised once the next UTC day, by one of several runs closing at once', async () => {
    const last = await plan();
    const context = createAppContext({ ...stack().stack.appSettings });
    const alerts = new TableDriftAlerts(context.tableClient(NOTIFICATION_MARKS_TABLE));
    const tomorrow = new Date(Date.now() + 86_400_000);
    const notifierAt = (at: Date) => driftNotifier({ policy: context.policy, notifications: context.notifications(SILENT_LOG), alerts, clock: { now: () => at }, reportLink: () => undefined });
    const before = driftMails().length;
    const closes = Array.from({ length: 3 }, (_, n) => notifierAt(tomorrow)({ ...last.run, id: `${last.run.id}-${n}` }, last.items));
    await Promise.all(closes);
    await notifierAt(new Date(tomorrow.getTime() + 3_600_000))(last.run, last.items);
    const summaries = driftMails().slice(before);
    expect(summaries.map((m) => m.subject)).toEqual(['[HSM access] 4 items on contoso-hsm: drift unchanged (daily summary)']);
    expect(summaries[0]!.headers['x-hsm-governor-kind']).toBe('drift-summary');
    expect(summaries[0]!.headers.references).toBe('<hsm-access.drift.contoso-hsm@contoso.example>');
    expect(summaries[0]!.text).toContain('The same drift as reported at ');
  }, 60_000);
});
