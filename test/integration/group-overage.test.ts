import type { GroupOverageForm } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { API_AUDIENCE } from '../../dev/stack';
import { useStack } from '../helpers/stack';

/**
 * Callers whose token does not list their groups (Entra's groups overage) get them from the local
 * Microsoft Graph through the app's managed identity; when Graph fails they have no group-based
 * rights, the request is answered (never a 500) and an error-level log line says why.
 */

const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;

async function call(path: string, persona: string, body: unknown, groupOverage?: GroupOverageForm): Promise<Response> {
  const token = await stack().stack.idp.issueToken(persona, { audience: API_AUDIENCE, ...(groupOverage ? { groupOverage } : {}) });
  return fetch(`${stack().stack.endpoints.api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const graphCallsFor = (oid: string): number => stack().stack.graph.requests().filter((r) => r.path === `/v1.0/users/${oid}/transitiveMemberOf`).length;

describe('groups overage on the local stack', () => {
  it('a requester and an approver in an overage (distributed claim) get their groups through Graph: ask, approve, Active', async () => {
    const asked = await call('/api/requests', 'dave', { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'Release 2.0 signing window' }, 'distributed-claim');
    expect(asked.status).toBe(201);
    const { id } = (await asked.json()) as { id: string };

    const approved = await call(`/api/requests/${id}/decisions`, 'sam', { decision: 'approve', comment: 'ok' }, 'distributed-claim');
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: 'Active' });
    expect(graphCallsFor(PERSONAS.dave.oid)).toBe(1);
    expect(graphCallsFor(PERSONAS.sam.oid)).toBe(1);
    expect(stack().logs.some((l) => l.message.includes('came from Microsoft Graph') && l.message.includes(PERSONAS.sam.oid))).toBe(true);

    await call(`/api/requests/${id}/revoke`, 'dave', { reason: 'done' }, 'distributed-claim');
    // The groups are remembered per principal: the revoke asked Graph nothing new.
    expect(graphCallsFor(PERSONAS.dave.oid)).toBe(1);
  });

  it('fails closed when Graph fails: an approver in an overage (hasgroups) has no approver rights, answered 404 with an error log saying why', async () => {
    const asked = await call('/api/requests', 'sara', { role: 'Crypto User', scope: '/keys/app-signing-key', duration: 'PT1H', justification: 'Test a signature' });
    expect(asked.status).toBe(201);
    const { id } = (await asked.json()) as { id: string };

    stack().stack.graph.setFaults({ unavailable: 1 });
    try {
      const refused = await call(`/api/requests/${id}/decisions`, 'sean', { decision: 'approve' }, 'hasgroups');
      // Without the security team's group Sean is nobody to this request: the API does not even show it to him.
      expect(refused.status).toBe(404);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    } finally {
      stack().stack.graph.setFaults({});
    }
    const errors = stack().logs.filter((l) => l.level === 'error' && l.message.includes(PERSONAS.sean.oid));
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/Microsoft Graph did not give the caller's groups \(.*HTTP 503 ServiceUnavailable.*\), so the caller has no group-based rights/) })]);
    expect((await (await fetch(`${stack().stack.endpoints.api}/api/requests/${id}`, { headers: { authorization: `Bearer ${await stack().tokenFor('sara')}` } })).json()) as { status: string }).toMatchObject({ status: 'Pending' });

    // A failure is not remembered: once Graph answers again, so do Sean's rights.
    const approved = await call(`/api/requests/${id}/decisions`, 'sean', { decision: 'approve' }, 'hasgroups');
    expect(approved.status).toBe(200);
    expect(await approved.json()).toMatchObject({ status: 'Active' });
  });
});
