/** Management-plane requests on the local stack, shared by its integration tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AZURE_RBAC_PLANE } from '../../shared/domain';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { PERSONAS } from '../../dev/personas';
import type { TestStack } from './stack';

export const HSM = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
export const CONTRIBUTOR = '18500a29-7fe2-46b2-a342-b16a415e101d';
export const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
export const DAVE = PERSONAS.dave.oid;
export const DANA = PERSONAS.dana.oid;

/** The Contoso policy with short grants allowed, reconciliation enforcing, and the management plane in `mode`. */
export function policyFile(dir: string, mode: 'assignment' | 'pim'): string {
  const text = readFileSync(join(__dirname, '..', '..', 'examples', 'contoso', 'policy.yaml'), 'utf8')
    .replace('minDuration: PT1M', 'minDuration: PT1S')
    .replace('  mode: report', '  mode: enforce')
    .replace('  mode: assignment', `  mode: ${mode}`);
  const file = join(dir, `policy-${mode}.yaml`);
  writeFileSync(file, text);
  return file;
}

export async function requestAndApprove(stack: TestStack, duration: string): Promise<{ id: string; expiresAt: string; grantedAt: string; status: string; plane: string }> {
  const submitted = await stack.api('/api/requests', {
    persona: 'dave',
    body: { role: 'Managed HSM Contributor', scope: HSM, duration, justification: 'network rule change', ticket: 'CHG-7' },
  });
  expect(submitted.status).toBe(201);
  const request = (await submitted.json()) as { id: string; status: string; plane: string };
  expect(request).toMatchObject({ status: 'Pending', plane: AZURE_RBAC_PLANE });
  const selfApproval = await stack.api(`/api/requests/${request.id}/decisions`, { persona: 'dave', body: { decision: 'approve' } });
  expect(selfApproval.status).toBeGreaterThanOrEqual(403);
  const approved = await stack.api(`/api/requests/${request.id}/decisions`, { persona: 'sam', body: { decision: 'approve' } });
  expect(approved.status).toBe(200);
  return (await approved.json()) as { id: string; expiresAt: string; grantedAt: string; status: string; plane: string };
}

export const davesAssignments = (stack: TestStack) => stack.stack.arm.assignments().filter((a) => a.properties.principalId === DAVE && a.properties.scope.toLowerCase() === HSM.toLowerCase());

