import { randomUUID } from 'node:crypto';
import { odata } from '@azure/data-tables';
import { PERSONAS } from '../../dev/personas';
import { createAppContext, LEDGER_TABLE } from '../../shared/app';
import { NOTIFICATION_MARKS_TABLE } from '../../shared/adapters/notify';
import { TableNotificationMarks } from '../../shared/adapters/notify/marks';
import { grantPartitionOf, NOTICE_END, NOTICE_PREFIX } from '../../shared/adapters/storage/partitionedLedger';
import { approvalNeededKey, recipientsFor, type AccessRequest } from '../../shared/domain';
import { closeOpenRequests } from '../helpers/openRequests';
import { waitUntil } from '../helpers/poll';
import { useStack } from '../helpers/stack';
import { caller, workflowThatDiesAfterCommit } from '../helpers/workflow';

/**
 * Notifications leave the request path: a change commits with its notice rows, the answer does not
 * wait for SMTP or Teams, a drain sends each notice once and deletes its row, and a process that
 * dies between the commit and the send loses nothing.
 */
const stack = useStack();
const APP_VM = PERSONAS['app-vm'].oid;
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H' };

afterEach(async () => {
  await closeOpenRequests(stack());
});

const approvalMails = (id: string) => stack().stack.mailSink.messages().filter((m) => m.headers['x-hsm-governor-request'] === id && m.headers['x-hsm-governor-kind'] === 'approval-needed');

async function noticeRows(requestId: string): Promise<string[]> {
  const table = createAppContext({ ...stack().stack.appSettings }).tableClient(LEDGER_TABLE);
  const filter = odata`PartitionKey eq ${grantPartitionOf(APP_VM)} and RowKey ge ${NOTICE_PREFIX} and RowKey lt ${NOTICE_END} and requestId eq ${requestId}`;
  const keys: string[] = [];
  for await (const row of table.listEntities({ queryOptions: { filter } })) keys.push(row.rowKey as string);
  return keys;
}

it('a submit over HTTP answers before its notifications go out; each approver is told once and the notice rows are gone', async () => {
  const response = await stack().api('/api/requests', { persona: 'dave', body: { ...RELEASE, justification: `over http ${randomUUID()}` } });
  expect(response.status).toBe(201);
  const request = (await response.json()) as AccessRequest;
  const expected = recipientsFor(createAppContext({ ...stack().stack.appSettings }).policy, request, 'approvers').email.length;
  await waitUntil('the approvers\' emails', () => approvalMails(request.id).length >= expected);
  await waitUntil('the notice rows to be deleted', async () => (await noticeRows(request.id)).length === 0);
  expect(approvalMails(request.id)).toHaveLength(expected);
});

it('kill test: a process that died right after committing loses no notification, and drains running at once send each once', async () => {
  const context = createAppContext({ ...stack().stack.appSettings });
  const dying = workflowThatDiesAfterCommit(context, { notices: true });
  const submitted = await dying.submit(caller('dave'), { ...RELEASE, justification: `died before sending ${randomUUID()}` });
  if (!submitted.ok) throw new Error(submitted.detail);
  const { id } = submitted.value.request;
  expect(await noticeRows(id)).toHaveLength(1);
  expect(approvalMails(id)).toEqual([]);

  // Three fresh instances drain at once, as the timer of each would.
  const instances = [0, 1, 2].map(() => createAppContext({ ...stack().stack.appSettings }).notices());
  await Promise.all(instances.map((drainer) => drainer.drain()));
  const expected = recipientsFor(context.policy, submitted.value.request, 'approvers').email.length;
  expect(expected).toBeGreaterThan(0);
  expect(approvalMails(id)).toHaveLength(expected);
  expect(await noticeRows(id)).toEqual([]);
  // The timer's catch-up finds it sent under the same key.
  expect(await new TableNotificationMarks(context.tableClient(NOTIFICATION_MARKS_TABLE)).isSent(approvalNeededKey(id))).toBe(true);
  await createAppContext({ ...stack().stack.appSettings }).notices().drain();
  expect(approvalMails(id)).toHaveLength(expected);
});

it('a notice whose sender died after claiming it is left alone while the claim is fresh, then sent once by the timer', async () => {
  const context = createAppContext({ ...stack().stack.appSettings });
  const dying = workflowThatDiesAfterCommit(context, { notices: true });
  const submitted = await dying.submit(caller('dave'), { ...RELEASE, justification: `claimed then died ${randomUUID()}` });
  if (!submitted.ok) throw new Error(submitted.detail);
  const { id } = submitted.value.request;
  // The dead sender's claim, never confirmed.
  expect(await new TableNotificationMarks(context.tableClient(NOTIFICATION_MARKS_TABLE)).claim(approvalNeededKey(id))).toBe(true);

  await createAppContext({ ...stack().stack.appSettings }).notices().drain();
  expect(approvalMails(id)).toEqual([]);
  expect(await noticeRows(id)).toHaveLength(1);

  // Past the reclaim delay (0 here) the timer takes the claim over.
  await createAppContext({ ...stack().stack.appSettings }).notices().drain(0);
  expect(approvalMails(id)).toHaveLength(recipientsFor(context.policy, submitted.value.request, 'approvers').email.length);
  expect(await noticeRows(id)).toEqual([]);
});
