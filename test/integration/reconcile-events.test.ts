import { createArmAuthorizationClient, roleDefinitionIdFor, sdkScope } from '../../shared/adapters/arm-rbac';
import { AZURE_RBAC_PLANE, RECONCILIATION_EVENT_TYPES, type DriftItem } from '../../shared/domain';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { schemaErrors } from '../helpers/eventSchemas';
import { DANA, HSM, READER } from '../helpers/managementPlane';
import { eventually, sleep } from '../helpers/poll';
import { useEnforcingDriftedStack } from '../helpers/reconcile';
import type { TestStack } from '../helpers/stack';

/**
 * Reconciliation's events on the `npm start` stack seeded `drifted`, the Contoso policy enforcing:
 * what the topic emulator receives from a plan and an apply, and the management plane's drift in
 * the stored run.
 */
const current = useEnforcingDriftedStack();
let stack: TestStack;
beforeAll(() => {
  stack = current();
});

interface Report {
  run: { id: string; mode: string; counts: Record<string, number>; actions: Array<{ action: string; kind: string; itemId: string; plane?: string }> };
  items: DriftItem[];
}

type Received = { id: string; type: string; subject: string; data: Record<string, unknown> };

const eventsOf = (runId: string): Received[] =>
  stack.stack.eventGrid.received().map((r) => r.event as unknown as Received).filter((e) => e.data.runId === runId);

/** The run's events once its Completed event arrived (published last), and a moment for strays. */
async function publishedFor(runId: string): Promise<Received[]> {
  await eventually(`the Completed event of ${runId}`, () => eventsOf(runId), (events) => events.some((e) => e.type === RECONCILIATION_EVENT_TYPES.Completed), { timeoutMs: 15_000 });
  await sleep(300);
  return eventsOf(runId);
}

async function reconcile(mode: 'plan' | 'apply'): Promise<Report> {
  const response = await stack.api(`/api/reconcile?mode=${mode}`, { method: 'POST', persona: 'sam' });
  expect(response.status).toBe(200);
  return (await response.json()) as Report;
}

const byType = (events: Received[], type: string): Received[] => events.filter((e) => e.type === type);

describe('reconciliation events', () => {
  it('a plan publishes one Completed and one Detected per drift item; an apply publishes a Repaired per repair; all valid, none twice', async () => {
    const planned = await reconcile('plan');
    const events = await publishedFor(planned.run.id);
    for (const event of events) expect(schemaErrors(event)).toEqual([]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const detected = byType(events, RECONCILIATION_EVENT_TYPES.DriftDetected);
    expect(detected.map((e) => e.data.kind).sort()).toEqual(['forbidden-principal', 'missing', 'unexpected']);
    expect(detected.map((e) => e.id).sort()).toEqual(planned.items.map((i) => `${planned.run.id}.detected.${i.id}`).sort());
    expect(detected.every((e) => e.data.plane === 'hsm' && e.subject === '/hsms/contoso-hsm')).toBe(true);
    const [completed, ...more] = byType(events, RECONCILIATION_EVENT_TYPES.Completed);
    expect(more).toEqual([]);
    expect(completed).toMatchObject({ id: `${planned.run.id}.completed`, data: { runId: planned.run.id, hsm: 'contoso-hsm', mode: 'plan', actions: 0, counts: { missing: 1, unexpected: 1, 'forbidden-principal': 1, created: 0, removed: 0 } } });
    expect(events).toHaveLength(4);
    expect(events.at(-1)!.type).toBe(RECONCILIATION_EVENT_TYPES.Completed);

    const applied = await reconcile('apply');
    const applyEvents = await publishedFor(applied.run.id);
    for (const event of applyEvents) expect(schemaErrors(event)).toEqual([]);
    const repaired = byType(applyEvents, RECONCILIATION_EVENT_TYPES.DriftRepaired);
    expect(repaired.map((e) => [e.data.kind, e.data.action]).sort()).toEqual([['forbidden-principal', 'remove'], ['missing', 'create'], ['unexpected', 'remove']]);
    expect(repaired.map((e) => e.id).sort()).toEqual(applied.run.actions.map((a) => `${applied.run.id}.repaired.${a.itemId}`).sort());
    expect(byType(applyEvents, RECONCILIATION_EVENT_TYPES.DriftDetected)).toHaveLength(3);
    expect(byType(applyEvents, RECONCILIATION_EVENT_TYPES.Completed)).toEqual([expect.objectContaining({ data: expect.objectContaining({ mode: 'apply', actions: 3, counts: expect.objectContaining({ created: 1, removed: 2 }) }) })]);

    // Reading the reports again publishes nothing more.
    expect((await stack.api(`/api/reconcile/reports/${applied.run.id}`, { persona: 'alice' })).status).toBe(200);
    await sleep(300);
    expect(eventsOf(planned.run.id)).toHaveLength(4);
    expect(eventsOf(applied.run.id)).toHaveLength(applyEvents.length);
  }, 60_000);

  it('an Azure role assignment made directly on the HSM resource is in the stored run, with plane azure-rbac, and published as Detected', async () => {
    const client = createArmAuthorizationClient({ endpoint: stack.stack.arm.url, subscriptionId: CONTOSO_SUBSCRIPTION_ID, credential: stack.credentialFor('hsm-governor'), caPem: stack.stack.arm.caPem });
    const name = 'a1a1a1a1-2222-4333-8444-555566667777';
    await client.roleAssignments.create(sdkScope(HSM), name, { roleDefinitionId: roleDefinitionIdFor(CONTOSO_SUBSCRIPTION_ID, READER), principalId: DANA, principalType: 'User' });

    const planned = await reconcile('plan');
    const latest = (await (await stack.api('/api/reconcile/reports/latest', { persona: 'alice' })).json()) as Report;
    expect(latest.run.id).toBe(planned.run.id);
    const armItems = latest.items.filter((i) => i.plane === AZURE_RBAC_PLANE);
    expect(armItems).toEqual([expect.objectContaining({ kind: 'unexpected', assignmentName: name, principalId: DANA, scope: HSM, action: 'remove' })]);
    expect(latest.run.counts.unexpected).toBe(1);

    const events = await publishedFor(planned.run.id);
    const detected = byType(events, RECONCILIATION_EVENT_TYPES.DriftDetected);
    expect(detected).toEqual([expect.objectContaining({ id: `${planned.run.id}.detected.${armItems[0]!.id}`, data: expect.objectContaining({ plane: AZURE_RBAC_PLANE, kind: 'unexpected', assignmentName: name, scope: HSM }) })]);
    for (const event of events) expect(schemaErrors(event)).toEqual([]);
  }, 60_000);
});
