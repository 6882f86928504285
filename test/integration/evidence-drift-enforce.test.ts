import { randomUUID } from 'node:crypto';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';
import { EVIDENCE_EVENT_TYPES, RECONCILIATION_EVENT_TYPES } from '../../shared/domain';
import { schemaErrors } from '../helpers/eventSchemas';
import { waitFor } from '../helpers/poll';
import { useEnforcingDriftedStack } from '../helpers/reconcile';

/**
 * Drift seen in the HSM's own audit log as it happens, where the policy enforces: a role assignment
 * made directly on the HSM is reconciled (applied) at once, told to the security team and published,
 * and gone within a minute, long before the nightly run.
 */
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';

describe('drift seen in the HSM audit log as it happens (enforce)', () => {
  const stack = useEnforcingDriftedStack({ auditLog: true });

  it('sam gives dave Crypto User directly on the HSM: reconciled, told, Drift.Detected published and the assignment gone within a minute', async () => {
    const { hsm, idp } = stack().stack;
    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });
    const name = randomUUID();
    await rbac.createRoleAssignment('/keys/release-signing-key', name, roleDefinitionIdFor(CRYPTO_USER), PERSONAS.dave.oid);

    // Removed by the run the audit log started (its actor is asserted below), not by the nightly timer.
    await waitFor('the assignment removed', () => (hsm.assignments().some((a) => a.name === name) ? undefined : true), { timeoutMs: 60_000, intervalMs: 250 });

    // The run went first; the change is recorded and told once it has run.
    const change = await waitFor('the change in the trail', async () => (await stack().ledger().audit()).find((r) => r.action === 'evidence.assignment-changed'), { timeoutMs: 30_000, intervalMs: 250 });
    const trail = await stack().ledger().audit();
    expect(change.requestId).toMatch(/^\d{8}T/);
    expect(trail.find((r) => r.action === 'reconcile.completed' && r.requestId === change.requestId)).toMatchObject({ actor: 'system:hsm-audit-log' });
    expect(change).toMatchObject({ actor: PERSONAS.sam.oid, details: { scope: '/keys/release-signing-key' } });
    expect(trail.some((r) => r.action === 'reconcile.removed' && (r.details as { assignmentName?: string }).assignmentName === name)).toBe(true);

    const events = () => stack().stack.eventGrid.received().map((r) => r.event);
    const detected = await waitFor('Drift.Detected for dave', () => events().find((e) => e.type === RECONCILIATION_EVENT_TYPES.DriftDetected && (e.data as { assignmentName?: string }).assignmentName === name), { timeoutMs: 30_000 });
    expect(detected.data).toMatchObject({ principalId: PERSONAS.dave.oid, mode: 'apply' });
    const changed = await waitFor('AssignmentChanged event', () => events().find((e) => e.type === EVIDENCE_EVENT_TYPES.AssignmentChanged), { timeoutMs: 30_000 });
    expect(schemaErrors(changed)).toEqual([]);

    const mails = await waitFor('security team told', () => {
      const found = stack().stack.mailSink.messages().filter((m) => /role assignment changed outside the service/i.test(m.subject));
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 30_000 });
    expect(mails[0].text).toMatch(/sam|Sam/);
  }, 120_000);
});
