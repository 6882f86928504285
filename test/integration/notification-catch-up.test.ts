import { randomUUID } from 'node:crypto';
import { PERSONAS } from '../../dev/personas';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { createAppContext } from '../../shared/app';
import { APPROVAL_CATCH_UP_MS } from '../../shared/domain';
import { waitUntil } from '../helpers/poll';
import { useStack } from '../helpers/stack';
import { caller, SILENT_LOG, workflowThatDiesAfterCommit } from '../helpers/workflow';

/**
 * The approvers' request is sent right after a request is stored. When the process dies in between,
 * the notification timer finds the request unannounced and asks them; when it did not, the timer
 * sends nothing more.
 */
const stack = useStack();
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: PERSONAS['app-vm'].oid, duration: 'PT1H' };

const approvalMails = (id: string) => stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id && m.headers['x-hsm-governor-kind'] === 'approval-needed');

/** The notification timer as it runs `ms` from now. */
const timerLater = (ms: number) => createAppContext({ ...stack().stack.appSettings }, { now: () => new Date(Date.now() + ms) }).notifications(SILENT_LOG);

it('asks the approvers of a request whose process died before asking them, once; and never twice when it did not die', async () => {
  const context = createAppContext({ ...stack().stack.appSettings });
  // A process that stores the request and dies before its notifications go out: no onTransition.
  const dying = workflowThatDiesAfterCommit(context);
  const orphan = await dying.submit(caller('dave'), { ...RELEASE, justification: `died before notifying ${randomUUID()}` });
  if (!orphan.ok) throw new Error(orphan.detail);
  const lost = orphan.value.request.id;

  // Another access with the same approvers (one open request per access): Dana's own change of the HSM resource.
  const hsmResource = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
  const announced = await stack().api('/api/requests', { persona: 'dana', body: { role: 'Managed HSM Contributor', scope: hsmResource, duration: 'PT1H', ticket: 'CHG-9', justification: `notified ${randomUUID()}` } });
  const kept = ((await announced.json()) as { id: string }).id;
  await waitUntil('the approvers\' email for the stored request', () => approvalMails(kept).length > 0);
  const keptBefore = approvalMails(kept).length;
  expect(approvalMails(lost)).toEqual([]);

  // Before the catch-up delay nothing is sent; after it, the lost request's approvers are asked.
  await timerLater(APPROVAL_CATCH_UP_MS - 10_000).sendDue();
  expect(approvalMails(lost)).toEqual([]);
  await timerLater(APPROVAL_CATCH_UP_MS + 1_000).sendDue();
  await waitUntil('the approvers\' email for the orphaned request', () => approvalMails(lost).length > 0);
  const asked = approvalMails(lost);
  expect(asked.map((m) => m.to).flat().sort()).toEqual(approvalMails(kept).slice(0, keptBefore).map((m) => m.to).flat().sort());

  // Later runs send neither again.
  await timerLater(APPROVAL_CATCH_UP_MS + 60_000).sendDue();
  expect(approvalMails(lost)).toHaveLength(asked.length);
  expect(approvalMails(kept)).toHaveLength(keptBefore);
}, 30_000);
