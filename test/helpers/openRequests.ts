/** Ending what tests leave open, through the API, since only one open request may hold an access at a time. */
import { PERSONAS } from '../../dev/personas';
import type { TestStack } from './stack';

interface Listed {
  id: string;
  status: string;
  requestedBy: string;
  principalId: string;
}

const OPEN = ['Pending', 'Approved', 'Active'] as const;
/** Approvers of every Contoso rule, and HSM administrators: one of them is never the requester or grantee. */
const DECIDERS = ['sam', 'sara'] as const;

async function listOpen(stack: TestStack): Promise<Listed[]> {
  const all: Listed[] = [];
  for (const status of OPEN) {
    let continuation: string | null = null;
    do {
      const query: string = `?status=${status}&pageSize=100${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`;
      const page = (await (await stack.api(`/api/requests${query}`, { persona: 'alice' })).json()) as { items: Listed[]; continuation: string | null };
      all.push(...page.items);
      continuation = page.continuation;
    } while (continuation);
  }
  return all;
}

/**
 * Denies every Pending request and revokes every Approved or Active one of the Contoso stack, as
 * the security team would, so that the next test may ask for the same access again.
 */
export async function closeOpenRequests(stack: TestStack): Promise<void> {
  for (const request of await listOpen(stack)) {
    const decider = DECIDERS.find((name) => PERSONAS[name].oid !== request.requestedBy && PERSONAS[name].oid !== request.principalId) ?? 'sam';
    const path = request.status === 'Pending' ? 'decisions' : 'revoke';
    const body = request.status === 'Pending' ? { decision: 'deny', comment: 'closed after the test' } : { reason: 'closed after the test' };
    await stack.api(`/api/requests/${request.id}/${path}`, { persona: decider, body });
  }
}
