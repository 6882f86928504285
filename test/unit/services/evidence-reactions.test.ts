import { EVIDENCE_EVENT_TYPES, type OutboundEvent } from '../../../shared/domain';
import type { EvidenceRow } from '../../../shared/services/auditIngestion';
import { refusedAttemptsOf } from '../../../shared/services/evidence';
import { EVIDENCE_ACTOR, EvidenceReactionService } from '../../../shared/services/evidenceReactions';
import type { AuditEntry } from '../../../shared/services/ports';
import { schemaErrors } from '../../helpers/eventSchemas';
import { contosoPolicy, contosoPolicyText } from '../domain/fixtures';
import { parsePolicy } from '../../../shared/domain';

const SAM = '5424e0a9-6ba3-45e2-9d82-85a9cc74171d';
const APP_VM = '2c564836-0f4a-4ada-9cc4-6b2363d7a09e';
const NOW = new Date('2030-01-01T10:05:00Z');
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

const change: EvidenceRow = {
  blob: 'resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/H/y=2030/m=01/d=01/h=10/m=00/PT1H.json', offset: 420, type: 'assignment-change',
  time: '2030-01-01T10:04:00.000Z', principalId: SAM, operation: 'RoleAssignmentCreate', scope: '/keys/release-signing-key', status: 201, correlationId: 'c-1',
};

function setup(options: { mode?: 'report' | 'enforce'; running?: { id: string; startedAt: string } } = {}) {
  const policy = options.mode === 'enforce' ? parsePolicy(contosoPolicyText().replace(/\n {2}mode: report\n/, '\n  mode: enforce\n'), 'policy.yaml') : contosoPolicy();
  const marks = new Set<string>();
  const trail: Array<{ entries: readonly AuditEntry[]; events: readonly OutboundEvent[] }> = [];
  const told: Array<{ title: string; link?: string; key: string }> = [];
  const started: Array<{ mode: string; by: string }> = [];
  const steps: string[] = [];
  const reactions = new EvidenceReactionService({
    policy,
    hsm: 'contoso-hsm',
    ledger: {
      appendAuditOnce: async (key, entries, events = []) => {
        if (marks.has(key)) return 'exists';
        marks.add(key);
        trail.push({ entries, events });
        return 'appended';
      },
    },
    notifications: { announce: async (notification, _recipients, key) => { told.push({ title: notification.title, ...(notification.link ? { link: notification.link } : {}), key }); return []; } },
    reconciliation: {
      start: async (mode, by) => {
        started.push({ mode, by });
        return options.running ? { ok: false, code: 'reconcile-in-progress', runningRunId: options.running.id } : { ok: true, run: { id: 'run-1' } as never };
      },
      step: async (id) => { steps.push(id); return { id, status: 'completed' } as never; },
      continueLater: async () => undefined,
      report: async (id) => (options.running && id === options.running.id ? { run: { id, startedAt: options.running.startedAt } as never, items: [] } : undefined),
    },
    reconcileBudgetMs: 1000,
    clock: { now: () => NOW },
    log: silent,
    eventSource: '/hsm-access-governor/contoso-hsm',
    publicBaseUrl: 'https://governor.contoso.example',
  });
  return { reactions, trail, told, started, steps };
}

describe('reactions to the HSM audit log', () => {
  it('reconciles at once, as a plan in report mode and an apply where the policy enforces', async () => {
    const report = setup();
    expect(await report.reactions.reconcileNow([change])).toBe('run-1');
    expect(report.started).toEqual([{ mode: 'plan', by: EVIDENCE_ACTOR }]);
    expect(report.steps).toEqual(['run-1']);
    const enforce = setup({ mode: 'enforce' });
    await enforce.reactions.reconcileNow([change]);
    expect(enforce.started).toEqual([{ mode: 'apply', by: EVIDENCE_ACTOR }]);
  });

  it('lets a run in progress stand for the change only if it started after it; otherwise the part is read again later', async () => {
    expect(await setup({ running: { id: 'later', startedAt: '2030-01-01T10:04:30.000Z' } }).reactions.reconcileNow([change])).toBe('later');
    await expect(setup({ running: { id: 'earlier', startedAt: '2030-01-01T10:00:00.000Z' } }).reactions.reconcileNow([change])).rejects.toThrow(/in progress since before the change/);
    // Use outside any grant alone never waits for a run.
    const outside: EvidenceRow = { ...change, type: 'outside-any-grant', operation: 'KeySign', key: 'release-signing-key', status: 200 };
    expect(await setup({ running: { id: 'earlier', startedAt: '2030-01-01T10:00:00.000Z' } }).reactions.reconcileNow([outside])).toBe('earlier');
  });

  it('records the change once, with its event, and tells the security team once with the run\'s report', async () => {
    const { reactions, trail, told } = setup();
    await reactions.assignmentChanged(change, 'evidence|b|420', 'run-1');
    await reactions.assignmentChanged(change, 'evidence|b|420', 'run-1');
    expect(trail).toHaveLength(1);
    expect(trail[0]!.entries[0]).toMatchObject({ actor: SAM, action: 'evidence.assignment-changed', requestId: 'run-1', details: { scope: '/keys/release-signing-key', runId: 'run-1' } });
    const event = trail[0]!.events[0]!;
    expect(event.type).toBe(EVIDENCE_EVENT_TYPES.AssignmentChanged);
    expect(schemaErrors(event)).toEqual([]);
    expect(told.map((t) => t.key)).toEqual(['evidence|b|420|told', 'evidence|b|420|told']);
    expect(told[0]).toMatchObject({ link: 'https://governor.contoso.example/api/reconcile/reports/run-1' });
    expect(told[0]!.title).toMatch(/^Role assignment changed outside the service/);
  });

  it('tells of use outside any grant and of persistent refusals, the latter with a link to ask for access for that principal', async () => {
    const { reactions, trail, told } = setup();
    await reactions.usedOutsideAnyGrant({ ...change, type: 'outside-any-grant', operation: 'KeySign', key: 'release-signing-key', scope: '/keys/release-signing-key', status: 200 }, 'evidence|b|900');
    await reactions.persistentRefusals(APP_VM, 'storage-cmk', 3, `evidence|refusals|${APP_VM}|storage-cmk`);
    expect(trail.map((t) => t.events[0]!.type)).toEqual([EVIDENCE_EVENT_TYPES.UseOutsideGrant, EVIDENCE_EVENT_TYPES.RefusedAttempts]);
    for (const { events } of trail) expect(schemaErrors(events[0]!)).toEqual([]);
    expect(trail[1]!.entries[0]).toMatchObject({ action: 'evidence.refused-attempts', actor: APP_VM, details: { key: 'storage-cmk', count: 3 } });
    expect(told[0]!.title).toMatch(/^Key used outside any grant/);
    expect(told[1]!.link).toBe(`https://governor.contoso.example/ask?principalId=${APP_VM}&scope=%2Fkeys%2Fstorage-cmk`);
  });

  it('counts refused attempts per principal and key', () => {
    const refused = (principalId: string, key: string, time: string): EvidenceRow => ({ ...change, type: 'refused', principalId, key, time, status: 403, operation: 'KeySign' });
    expect(refusedAttemptsOf([refused(APP_VM, 'a', '2030-01-01T10:02:00Z'), refused(APP_VM, 'a', '2030-01-01T10:01:00Z'), refused(APP_VM, 'a', '2030-01-01T10:03:00Z'), refused(SAM, 'a', '2030-01-01T10:00:00Z')])).toEqual([
      { principalId: APP_VM, key: 'a', count: 3, firstAttempt: '2030-01-01T10:01:00Z', lastAttempt: '2030-01-01T10:03:00Z', persistent: true },
      { principalId: SAM, key: 'a', count: 1, firstAttempt: '2030-01-01T10:00:00Z', lastAttempt: '2030-01-01T10:00:00Z', persistent: false },
    ]);
  });
});
