import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import { startEventGridEmulator, type EventGridEmulator } from '../../dev/eventgrid-emulator';
import { silentLogger, startFunctionsHost, type FunctionsHost } from '../../dev/host';

/**
 * The emulator against the local Functions host's Event Grid webhook: both handshakes pass, and
 * events published through the SDK reach the app's `app.eventGrid` function in either schema.
 */

let host: FunctionsHost;
let emulator: EventGridEmulator;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'eventgrid-emulator-host-'));
  host = await startFunctionsHost({
    port: 0,
    entry: 'test/fixtures/host-app/index',
    dataDir,
    env: { AzureWebJobsStorage: 'UseDevelopmentStorage=true', TICKER_SCHEDULE: '0 0 3 * * *' },
    timers: false,
    queues: false,
    logger: silentLogger,
  });
  emulator = await startEventGridEmulator({ retryDelaysMs: [20] });
});

afterAll(async () => {
  await emulator?.close();
  await host?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function observedEvents(): Promise<Array<Record<string, unknown>>> {
  const response = await fetch(`${host.apiUrl}/observed`);
  return ((await response.json()) as { events: Array<Record<string, unknown>> }).events;
}

it('subscribes the host webhook with both handshakes and delivers events to the function', async () => {
  const webhook = `${host.url}/runtime/webhooks/eventgrid?functionName=onEvent&code=${encodeURIComponent(host.hostKey)}`;
  await emulator.addSubscription({ name: 'host-cloudevents', endpoint: webhook, eventTypes: ['HsmAccess.Request.Created'] });
  await emulator.addSubscription({ name: 'host-eventgrid', endpoint: webhook, deliverySchema: 'EventGridSchema', eventTypes: ['HsmAccess.Request.Approved'] });
  await expect(emulator.addSubscription({ name: 'host-no-key', endpoint: `${host.url}/runtime/webhooks/eventgrid?functionName=onEvent`, deliverySchema: 'EventGridSchema' })).rejects.toThrow(/answered 401/);

  const options = { tlsOptions: { ca: emulator.caPem } };
  await new EventGridPublisherClient(emulator.endpoint, 'CloudEvent', new AzureKeyCredential(emulator.accessKey), options)
    .send([{ id: 'ce-1', type: 'HsmAccess.Request.Created', source: '/hsm-access-governor', subject: '/requests/1', data: { requestId: '1' } }]);
  // The topic takes CloudEvents only; the Event Grid schema subscription gets this one converted.
  await new EventGridPublisherClient(emulator.endpoint, 'CloudEvent', new AzureKeyCredential(emulator.accessKey), options)
    .send([{ id: 'eg-1', type: 'HsmAccess.Request.Approved', source: '/hsm-access-governor', subject: '/requests/1', data: { requestId: '1' } }]);
  await emulator.waitForDeliveries((deliveries) => deliveries.length === 2 && deliveries.every((d) => d.status !== 'pending'));

  expect(emulator.deliveries()).toEqual([
    { subscription: 'host-cloudevents', eventId: 'ce-1', attempts: 1, status: 'delivered' },
    { subscription: 'host-eventgrid', eventId: 'eg-1', attempts: 1, status: 'delivered' },
  ]);
  const events = await observedEvents();
  expect(events.find((e) => e.id === 'ce-1')).toMatchObject({ specversion: '1.0', type: 'HsmAccess.Request.Created', data: { requestId: '1' } });
  expect(events.find((e) => e.id === 'eg-1')).toMatchObject({ eventType: 'HsmAccess.Request.Approved', topic: emulator.topicResourceId, data: { requestId: '1' } });
});

it('retries when the function fails and dead-letters after the last attempt', async () => {
  await emulator.addSubscription({ name: 'host-failing', endpoint: `${host.url}/runtime/webhooks/eventgrid?functionName=onEvent&code=${encodeURIComponent(host.hostKey)}`, eventTypes: ['HsmAccess.Request.Failing'], maxDeliveryAttempts: 2 });
  await new EventGridPublisherClient(emulator.endpoint, 'CloudEvent', new AzureKeyCredential(emulator.accessKey), { tlsOptions: { ca: emulator.caPem } })
    .send([{ id: 'fail-1', type: 'HsmAccess.Request.Failing', source: '/hsm-access-governor', subject: 'fail', data: {} }]);
  await emulator.waitForDeliveries((deliveries) => deliveries.some((d) => d.eventId === 'fail-1' && d.status !== 'pending'));
  expect(emulator.deliveries().find((d) => d.eventId === 'fail-1')).toMatchObject({ subscription: 'host-failing', attempts: 2, status: 'dead-lettered', lastError: expect.stringMatching(/^HTTP 500/) });
});
