// Keeps out the four-eyes bypass through groups: a group as requester or grantee, whose members would approve a grant to themselves.
import { randomUUID } from 'node:crypto';
import { GROUPS, PERSONAS } from '../../dev/personas';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { deliverSubmission } from '../helpers/inboundEvents';
import { useStack } from '../helpers/stack';

const stack = useStack();
const HSM_RESOURCE = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

/** Every request the auditor sees, of any status. */
async function everyRequest(): Promise<Array<{ id: string; principalId: string; requestedBy: string }>> {
  const page = await json(await stack().api('/api/requests?pageSize=100', { persona: 'alice' }));
  return page.items as Array<{ id: string; principalId: string; requestedBy: string }>;
}

async function rejectionCode(eventId: string): Promise<string | undefined> {
  const audit = await json(await stack().api('/api/audit', { persona: 'alice' }));
  const record = (audit.items as Array<{ action: string; details?: { submissionId?: string; code?: string } }>).find((r) => r.action === 'request.rejected' && r.details?.submissionId === eventId);
  return record?.details?.code;
}

const groupIds = new Set<string>(Object.values(GROUPS).map((g) => g.oid));

it.each([
  ['Crypto Officer at / for the security team (data plane)', { requester: 'security-team', role: 'Crypto Officer', scope: '/', duration: 'PT1H', justification: 'key recovery', ticket: 'INC-4711' }, 'group-principal'],
  ['Managed HSM Contributor for the DevOps group (management plane)', { requester: GROUPS.appDevOps.oid, role: 'Managed HSM Contributor', scope: HSM_RESOURCE, duration: 'PT1H', justification: 'network rules', ticket: 'CHG-7' }, 'group-principal'],
  ['an object id the policy does not declare', { requester: randomUUID(), role: 'Crypto User', scope: '/keys/release-signing-key', principalId: PERSONAS['app-vm'].oid, duration: 'PT1H', justification: 'release' }, 'unknown-requester'],
])('an event naming %s as requester is rejected and makes no request', async (_name, data, code) => {
  const event = { id: `evt-${randomUUID()}`, data };
  await deliverSubmission(stack(), event);
  expect(await rejectionCode(event.id)).toBe(code);
  expect((await everyRequest()).filter((r) => groupIds.has(r.principalId) || groupIds.has(r.requestedBy) || r.requestedBy === data.requester)).toEqual([]);
});

it('a caller whose authenticated object id is a group of the policy is refused over HTTP, on both planes', async () => {
  const token = await stack().stack.idp.issueToken('sam', { audience: 'api://hsm-access-governor', claims: { oid: GROUPS.securityTeam.oid, groups: [] } });
  const headers = { authorization: `Bearer ${token}` };
  const dataPlane = await stack().api('/api/requests', { headers, body: { role: 'Crypto User', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'as the group' } });
  expect(dataPlane.status).toBe(403);
  expect(await json(dataPlane)).toMatchObject({ code: 'group-principal' });
  const devopsToken = await stack().stack.idp.issueToken('dave', { audience: 'api://hsm-access-governor', claims: { oid: GROUPS.appDevOps.oid, groups: [] } });
  const managementPlane = await stack().api('/api/requests', { headers: { authorization: `Bearer ${devopsToken}` }, body: { role: 'Managed HSM Contributor', scope: HSM_RESOURCE, duration: 'PT1H', justification: 'as the group', ticket: 'CHG-8' } });
  expect(managementPlane.status).toBe(403);
  expect(await json(managementPlane)).toMatchObject({ code: 'group-principal' });
  expect((await everyRequest()).filter((r) => groupIds.has(r.principalId))).toEqual([]);
});
