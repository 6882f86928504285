import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArmAuthorizationClient, roleDefinitionIdFor, sdkScope } from '../../shared/adapters/arm-rbac';
import { AZURE_RBAC_PLANE, assignmentNameFor } from '../../shared/domain';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { PERSONAS } from '../../dev/personas';
import { waitUntil } from '../helpers/poll';
import { startTestStack, type TestStack } from '../helpers/stack';
import { CONTRIBUTOR, DANA, DAVE, HSM, READER, davesAssignments, policyFile, requestAndApprove } from '../helpers/managementPlane';

interface StoredReport {
  run: { id: string; counts: Record<string, number>; planes?: unknown[]; actions: Array<{ action: string; assignmentName: string; plane?: string }> };
  items: Array<{ kind: string; assignmentName: string; principal?: string; role: string; action: string; scope: string; plane?: string }>;
}

describe('the management plane through Azure RBAC, on the local stack', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'management-plane-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('assignment mode', () => {
    let stack: TestStack;
    beforeAll(async () => {
      stack = await startTestStack({ policyFile: policyFile(dir, 'assignment') });
    }, 60_000);
    afterAll(() => stack?.close());

    it('grants Managed HSM Contributor on the HSM resource on approval, with the deterministic name and principalType, and removes it on expiry', async () => {
      const active = await requestAndApprove(stack, 'PT4S');
      expect(active.status).toBe('Active');
      const held = davesAssignments(stack);
      expect(held).toHaveLength(1);
      expect(held[0]).toMatchObject({
        name: assignmentNameFor(active.id, AZURE_RBAC_PLANE, HSM, DAVE, CONTRIBUTOR),
        properties: { principalType: 'User', roleDefinitionId: roleDefinitionIdFor(CONTOSO_SUBSCRIPTION_ID, CONTRIBUTOR) },
      });
      const expiresAt = Date.parse(active.expiresAt);
      const goneAt = await waitUntil('Dave\'s assignment to be removed', () => davesAssignments(stack).length === 0, { timeoutMs: 20_000 });
      // Removed at expiry, not before (how soon after is bench:revocation's figure, not a test's).
      expect(goneAt).toBeGreaterThanOrEqual(expiresAt);
      // The access goes first, then the record says so.
      await waitUntil('the request to be Expired', async () => ((await (await stack.api(`/api/requests/${active.id}`, { persona: 'dave' })).json()) as { status: string }).status === 'Expired');
    }, 40_000);

    it('reconciliation reports an Azure role assignment made directly on the HSM resource, and an enforcing apply removes it', async () => {
      const client = createArmAuthorizationClient({ endpoint: stack.stack.arm.url, subscriptionId: CONTOSO_SUBSCRIPTION_ID, credential: stack.credentialFor('hsm-governor'), caPem: stack.stack.arm.caPem });
      const name = 'f0f0f0f0-1111-4222-8333-444455556666';
      await client.roleAssignments.create(sdkScope(HSM), name, { roleDefinitionId: roleDefinitionIdFor(CONTOSO_SUBSCRIPTION_ID, READER), principalId: DANA, principalType: 'User' });

      const plan = await stack.api('/api/reconcile?mode=plan', { persona: 'sam', method: 'POST' });
      expect(plan.status).toBe(200);
      const planned = (await plan.json()) as StoredReport;
      expect(planned).not.toHaveProperty('azureRbac');
      // The stored report of the run holds the management plane's drift beside the HSM's.
      const stored = (await (await stack.api(`/api/reconcile/reports/${planned.run.id}`, { persona: 'alice' })).json()) as StoredReport;
      expect(stored.items.filter((i) => i.plane === AZURE_RBAC_PLANE)).toEqual([expect.objectContaining({ kind: 'unexpected', assignmentName: name, principal: 'dana', role: 'Reader', action: 'remove', scope: HSM })]);
      expect(stored.run.planes).toEqual([expect.objectContaining({ plane: AZURE_RBAC_PLANE, scopes: [HSM], itemCount: 1, done: true })]);
      expect(stored.run.counts.unexpected).toBeGreaterThanOrEqual(1);
      const page = await (await stack.api(`/api/reconcile/reports/${planned.run.id}?format=html`, { persona: 'alice' })).text();
      expect(page).toContain('Azure RBAC');
      expect(page).toContain(name);
      expect(stack.stack.arm.assignments().some((a) => a.name === name)).toBe(true);

      const apply = await stack.api('/api/reconcile?mode=apply', { persona: 'sam', method: 'POST' });
      const applied = (await (await stack.api(`/api/reconcile/reports/${((await apply.json()) as StoredReport).run.id}`, { persona: 'alice' })).json()) as StoredReport;
      expect(applied.run.actions.filter((a) => a.plane === AZURE_RBAC_PLANE)).toEqual([expect.objectContaining({ action: 'removed', assignmentName: name, armRequestId: expect.any(String) })]);
      expect(stack.stack.arm.assignments().some((a) => a.name === name)).toBe(false);
      // The standing assignment and the service's own are still there.
      expect(stack.stack.arm.assignments().map((a) => a.properties.principalId).sort()).toEqual(['76891f9e-0de4-4e47-a3fd-e29f364921cd', PERSONAS['hsm-governor'].oid].sort());
    }, 40_000);
  });

});
