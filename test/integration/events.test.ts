import { randomUUID } from 'node:crypto';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { createAppContext, LEDGER_TABLE, type AppContext } from '../../shared/app';
import { EventGridPublisher } from '../../shared/adapters/eventgrid';
import { auditPartitionOf, grantPartitionOf, PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { DEAD_LETTER_PREFIX, TableOutbox } from '../../shared/adapters/storage/outbox';
import { driftDetectedEvent, eventSubmissionKeyOf, REQUEST_EVENT_TYPES, SUBMIT_EVENT_TYPE, type OutboundEvent } from '../../shared/domain';
import type { AccessRequestService } from '../../shared/services/accessRequests';
import { OutboxDrainer } from '../../shared/services/outbox';
import { CONTOSO_ITSM_SOURCE } from '../../dev/stack';
import { PERSONAS } from '../../dev/personas';
import { schemaErrors } from '../helpers/eventSchemas';
import { eventually } from '../helpers/poll';
import { closeOpenRequests } from '../helpers/openRequests';
import { useStack } from '../helpers/stack';
import { caller, SILENT_LOG, workflowThatDiesAfterCommit } from '../helpers/workflow';

/**
 * Events on the real stack: the app publishes through its outbox to the topic emulator, and the
 * emulator delivers access requests raised as events to the app's own Event Grid trigger.
 */
const stack = useStack();
const clock = { now: () => new Date() };
const APP_VM = PERSONAS['app-vm'].oid;
const RELEASE = { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'release 2.0' };

let context: AppContext;
beforeAll(() => {
  // A second instance of the app against the same storage and topic, as another worker would be.
  context = createAppContext({ ...stack().stack.appSettings });
});

afterEach(async () => {
  // One open request per access: each test asks for the same release access afresh.
  await closeOpenRequests(stack());
  await context.outbox()?.idle();
});

function received(): Array<Record<string, unknown>> {
  return stack().stack.eventGrid.received().map((r) => r.event);
}

const subjectOf = (requestId: string): string => `/hsms/contoso-hsm/requests/${requestId}`;
const eventsFor = (requestId: string): Array<Record<string, unknown>> => received().filter((e) => e.subject === subjectOf(requestId));

async function api(path: string, persona: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await stack().api(path, { persona, ...(body !== undefined ? { body } : {}) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

it('a lifecycle over HTTP publishes Submitted, Approved, Granted, Revoked in order, each valid against its schema', async () => {
  const submitted = await api('/api/requests', 'dave', RELEASE);
  expect(submitted.status).toBe(201);
  const id = submitted.body.id as string;
  expect((await api(`/api/requests/${id}/decisions`, 'sam', { decision: 'approve' })).body.status).toBe('Active');
  expect((await api(`/api/requests/${id}/revoke`, 'sam', { reason: 'release done' })).body.status).toBe('Revoked');

  const events = await eventually('its four events', () => eventsFor(id), (list) => list.length >= 4, { timeoutMs: 15_000 });
  expect(events.map((e) => e.type)).toEqual([REQUEST_EVENT_TYPES.Submitted, REQUEST_EVENT_TYPES.Approved, REQUEST_EVENT_TYPES.Granted, REQUEST_EVENT_TYPES.Revoked]);
  expect(new Set(events.map((e) => e.id)).size).toBe(4);
  for (const event of events) expect(schemaErrors(event)).toEqual([]);
  expect(events[0]).toMatchObject({ specversion: '1.0', source: '/hsm-access-governor/contoso-hsm', data: { requestId: id, requestedBy: PERSONAS.dave.oid, principalId: APP_VM } });
  expect(events[3]!.data).toMatchObject({ status: 'Revoked', actor: PERSONAS.sam.oid });
});

/** The workflow as a process that dies right after each commit: nothing drains its outbox. */
const serviceThatNeverDrains = (): AccessRequestService => workflowThatDiesAfterCommit(context, { events: true });

/** The ledger partition of the release requests (app-vm's) holds their outbox rows. */
const RELEASE_PARTITION = grantPartitionOf(APP_VM);
const outboxOf = (partition: string): TableOutbox => new TableOutbox(context.tableClient(LEDGER_TABLE), partition);

function drainer(holder: string, publisher = new EventGridPublisher({ endpoint: context.eventGrid!.topicEndpoint, key: context.eventGrid!.topicKey!, caPem: context.eventGrid!.caPem! }, context.credential), store = outboxOf(RELEASE_PARTITION)): OutboxDrainer {
  return new OutboxDrainer({ store, publisher, clock, log: SILENT_LOG, holder, batchSize: 3, retryDelaysMs: [10], sleep: async () => undefined });
}

it('kill test: changes stored by a process that died before publishing, and a publish that failed, all arrive once from a fresh instance', async () => {
  const dying = serviceThatNeverDrains();
  const outcome = await dying.submit(caller('dave'), RELEASE);
  if (!outcome.ok) throw new Error(outcome.detail);
  const id = outcome.value.request.id;
  expect((await dying.decide(caller('sam'), id, 'approve')).ok).toBe(true);
  expect(eventsFor(id)).toEqual([]);

  // A publish that fails (the topic refuses the key) leaves every event in the outbox.
  const refused = drainer('refused', new EventGridPublisher({ endpoint: context.eventGrid!.topicEndpoint, key: Buffer.from('wrong').toString('base64'), caPem: context.eventGrid!.caPem!, maxRetries: 0 }, context.credential));
  await expect(refused.drain()).rejects.toThrow();
  expect(eventsFor(id)).toEqual([]);

  // A fresh instance drains: every event arrives, in order, none twice.
  const fresh = createAppContext({ ...stack().stack.appSettings });
  const result = await fresh.outbox()!.drain();
  expect(result).toMatchObject({ leased: true });
  const events = eventsFor(id);
  expect(events.map((e) => e.type)).toEqual([REQUEST_EVENT_TYPES.Submitted, REQUEST_EVENT_TYPES.Approved, REQUEST_EVENT_TYPES.Granted]);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  expect(await fresh.outbox()!.drain()).toEqual({ leased: true, published: 0 });
});

it('a crash after publishing and before deleting publishes the same events again, with the same ids', async () => {
  const dying = serviceThatNeverDrains();
  const outcome = await dying.submit(caller('dave'), RELEASE);
  if (!outcome.ok) throw new Error(outcome.detail);
  const id = outcome.value.request.id;
  const store = outboxOf(RELEASE_PARTITION);
  const crashing = Object.assign(Object.create(store) as TableOutbox, { remove: async () => { throw new Error('process died'); } });
  await expect(drainer('crashing', undefined, crashing).drain()).rejects.toThrow('process died');
  await drainer('fresh').drain();
  const events = eventsFor(id);
  expect(events).toHaveLength(2);
  expect(events[1]).toEqual(events[0]);
});

it('concurrent drainers publish every event once, in commit order', async () => {
  const ledger = new PartitionedLedger(context.tableClient(LEDGER_TABLE));
  const runId = `concurrent-${randomUUID().slice(0, 8)}`;
  const committed: OutboundEvent[] = [];
  for (let i = 0; i < 12; i++) {
    const at = new Date().toISOString();
    const items = [0, 1].map((j) => ({ id: `d${i}-${j}`, kind: 'unexpected' as const, principalId: APP_VM, role: 'Managed HSM Crypto User', roleId: 'r', scope: '/keys/k', assignmentName: `a${i}${j}`, reason: 'test', action: 'none' as const }));
    const events = items.map((item) => driftDetectedEvent({ runId, hsm: 'contoso-hsm', mode: 'plan' }, item, at, context.eventGrid!.source));
    await ledger.appendAudit([{ at, actor: 'system', action: 'reconcile.test', requestId: runId, reason: `batch ${i}` }], events);
    committed.push(...events);
  }
  const results = await Promise.all(['a', 'b', 'c', 'd'].map((holder) => drainer(holder, undefined, outboxOf(auditPartitionOf(runId))).drain()));
  const mine = () => received().filter((e) => (e.data as { runId?: string }).runId === runId).map((e) => e.id);
  // A drainer that found the lease taken leaves the rest to its holder; one more pass catches a late start.
  await drainer('e', undefined, outboxOf(auditPartitionOf(runId))).drain();
  expect(mine()).toEqual(committed.map((e) => e.id));
  expect(results.filter((r) => r.leased).length).toBeGreaterThanOrEqual(1);
});

function driftEvents(runId: string, count: number, reason: string): OutboundEvent[] {
  const at = new Date().toISOString();
  return Array.from({ length: count }, (_, i) => driftDetectedEvent({ runId, hsm: 'contoso-hsm', mode: 'plan' }, { id: `d${i}`, kind: 'unexpected', principalId: APP_VM, role: 'Managed HSM Crypto User', roleId: 'r', scope: '/keys/k', assignmentName: `a${i}`, reason, action: 'none' }, at, context.eventGrid!.source));
}

it('a batch over the topic\'s 1 MB is split and published in order, not retried for ever', async () => {
  const ledger = new PartitionedLedger(context.tableClient(LEDGER_TABLE));
  const runId = `large-${randomUUID().slice(0, 8)}`;
  // 40 events of about 28 KB (a row's string property holds 32 K characters): 1.1 MB in one batch.
  const events = driftEvents(runId, 40, 'x'.repeat(28_000));
  for (const part of [events.slice(0, 20), events.slice(20)]) await ledger.appendAudit([{ at: new Date().toISOString(), actor: 'system', action: 'reconcile.test', requestId: runId, reason: 'large events' }], part);
  const wholeBatch = new OutboxDrainer({ store: outboxOf(auditPartitionOf(runId)), publisher: new EventGridPublisher({ endpoint: context.eventGrid!.topicEndpoint, key: context.eventGrid!.topicKey!, caPem: context.eventGrid!.caPem! }, context.credential), clock, log: SILENT_LOG, holder: 'whole-batch', retryDelaysMs: [10], sleep: async () => undefined });
  expect(await wholeBatch.drain()).toMatchObject({ leased: true });
  expect(received().filter((e) => (e.data as { runId?: string }).runId === runId).map((e) => e.id)).toEqual(events.map((e) => e.id));
});

it('an event the topic refuses is dead-lettered, and the events after it are published', async () => {
  const ledger = new PartitionedLedger(context.tableClient(LEDGER_TABLE));
  const runId = `refused-${randomUUID().slice(0, 8)}`;
  const [first, refused, last] = driftEvents(runId, 3, 'test') as [OutboundEvent, OutboundEvent, OutboundEvent];
  // A row the topic cannot accept (a CloudEvent needs a type), between two good ones.
  await ledger.appendAudit([{ at: new Date().toISOString(), actor: 'system', action: 'reconcile.test', requestId: runId, reason: 'one bad event' }], [first, { ...refused, type: '' as OutboundEvent['type'] }, last]);
  expect(await drainer('refused', undefined, outboxOf(auditPartitionOf(runId))).drain()).toMatchObject({ leased: true });
  expect(received().filter((e) => (e.data as { runId?: string }).runId === runId).map((e) => e.id)).toEqual([first.id, last.id]);
  const dead = await context.tableClient(LEDGER_TABLE).listEntities<{ eventId: string; reason: string }>({ queryOptions: { filter: `PartitionKey eq '${auditPartitionOf(runId)}' and RowKey ge '${DEAD_LETTER_PREFIX}' and RowKey lt 'outbox-dead}'` } });
  const deadIds: Array<{ eventId: string; reason: string }> = [];
  for await (const row of dead) deadIds.push({ eventId: row.eventId, reason: row.reason });
  expect(deadIds).toEqual(expect.arrayContaining([expect.objectContaining({ eventId: refused.id, reason: expect.stringMatching(/^400: /) })]));
  expect(await drainer('after', undefined, outboxOf(auditPartitionOf(runId))).drain()).toEqual({ leased: true, published: 0 });
});

function itsmClient(): EventGridPublisherClient<'CloudEvent'> {
  const grid = stack().stack.eventGrid;
  return new EventGridPublisherClient(grid.endpoint, 'CloudEvent', new AzureKeyCredential(grid.accessKey), { tlsOptions: { ca: grid.caPem } });
}

async function publishAndDeliver(event: { id: string; source: string; data: unknown }): Promise<void> {
  const grid = stack().stack.eventGrid;
  const before = grid.deliveries().filter((d) => d.eventId === event.id).length;
  await itsmClient().send([{ type: SUBMIT_EVENT_TYPE, subject: 'tickets', ...event }]);
  const settled = (deliveries: ReturnType<typeof grid.deliveries>) => {
    const mine = deliveries.filter((d) => d.eventId === event.id);
    return mine.length > before && mine.every((d) => d.status !== 'pending');
  };
  await grid.waitForDeliveries(settled, 15_000);
  expect(grid.deliveries().filter((d) => d.eventId === event.id).map((d) => d.status)).toEqual(Array(before + 1).fill('delivered'));
}

it('an access request published by the ITSM tool becomes a request visible over HTTP, once however often it is delivered', async () => {
  const event = { id: `CHG-${randomUUID()}`, source: CONTOSO_ITSM_SOURCE, data: { requester: 'dave@contoso.example', ...RELEASE, ticket: 'CHG-1001' } };
  await publishAndDeliver(event);
  const id = (await stack().ledger().requestIdForSubmission(eventSubmissionKeyOf(event)))!;
  expect(id).toBeDefined();
  const shown = await api(`/api/requests/${id}`, 'dave');
  expect(shown.status).toBe(200);
  expect(shown.body).toMatchObject({ id, status: 'Pending', requestedBy: PERSONAS.dave.oid, principalId: APP_VM, ticket: 'CHG-1001' });

  await publishAndDeliver(event);
  const audit = await api('/api/audit', 'alice');
  expect((audit.body.items as Array<{ requestId: string; action: string }>).filter((r) => r.requestId === id).map((r) => r.action)).toEqual(['request.created']);
  const submitted = await eventually('its Submitted event', () => eventsFor(id), (list) => list.length >= 1, { timeoutMs: 15_000 });
  expect(submitted.map((e) => e.type)).toEqual([REQUEST_EVENT_TYPES.Submitted]);
});

it.each([
  ['an untrusted source', 'https://rogue.example/tickets', { requester: 'dave', ...RELEASE }, 'untrusted-source'],
  ['an ineligible requester', CONTOSO_ITSM_SOURCE, { requester: 'alice', ...RELEASE }, 'role-not-allowed'],
  ['an unknown requester', CONTOSO_ITSM_SOURCE, { requester: 'mallory@contoso.example', ...RELEASE }, 'unknown-requester'],
  ['invalid data', CONTOSO_ITSM_SOURCE, { requester: 'dave', ...RELEASE, duration: 60 }, 'invalid-body'],
])('%s is rejected, once however often it is delivered: no request, an audit record and a Rejected event', async (_name, source, data, code) => {
  const event = { id: `evt-${randomUUID()}`, source, data };
  await publishAndDeliver(event);
  await publishAndDeliver(event);
  expect(await stack().ledger().requestIdForSubmission(eventSubmissionKeyOf(event))).toBeUndefined();
  const audit = await api('/api/audit', 'alice');
  const records = (audit.body.items as Array<{ requestId: string; action: string; reason: string; details: Record<string, unknown> }>).filter((r) => r.details?.submissionId === event.id);
  expect(records).toEqual([expect.objectContaining({ action: 'request.rejected', reason: expect.stringMatching(new RegExp(`^${code}: `)), details: expect.objectContaining({ submissionSource: source, submissionId: event.id, code }) })]);
  const id = records[0]!.requestId;
  expect((await api(`/api/requests/${id}`, 'sam')).status).toBe(404);
  const [rejected] = await eventually('its Rejected event', () => eventsFor(id), (list) => list.length >= 1, { timeoutMs: 15_000 });
  expect(rejected).toMatchObject({ type: 'HsmAccess.Request.Rejected.v1', data: { code, requestId: id, submissionId: event.id } });
  expect(schemaErrors(rejected!)).toEqual([]);
});

it('an ineligible requester gets the same code and detail as over HTTP', async () => {
  const event = { id: `evt-${randomUUID()}`, source: CONTOSO_ITSM_SOURCE, data: { requester: 'alice', ...RELEASE } };
  await publishAndDeliver(event);
  const [rejected] = await eventually('its Rejected event', () => received().filter((e) => (e.data as { submissionId?: string }).submissionId === event.id), (list) => list.length >= 1, { timeoutMs: 15_000 });
  const overHttp = await api('/api/requests', 'alice', RELEASE);
  expect(rejected!.data).toMatchObject({ code: overHttp.body.code, detail: overHttp.body.detail, status: overHttp.status });
});
