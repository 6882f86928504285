import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AzureKeyCredential, AzureSASCredential, EventGridPublisherClient, generateSharedAccessSignature,
  type CloudEvent, type SendEventGridEventInput,
} from '@azure/eventgrid';
import { runCli } from '../../dev/eventgrid-emulator/cli';
import { startEventGridEmulator, type DeliveryRecord, type EventGridEmulator, type EventGridEmulatorOptions } from '../../dev/eventgrid-emulator';

// ---------------------------------------------------------------------------------------------
// A webhook receiver on a real socket that records every request and answers as told.

interface Captured {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
}

interface Receiver {
  readonly url: string;
  readonly requests: Captured[];
  notifications(): Captured[];
  close(): Promise<void>;
}

type Responder = (request: Captured, notificationIndex: number) => Answer;

/** Answers both handshakes properly; `onNotification` decides how deliveries are answered. */
function handshakeAware(onNotification: (index: number, request: Captured) => Answer = () => ({ status: 200 })): Responder {
  return (request, index) => {
    if (request.method === 'OPTIONS') return { status: 200, headers: { 'webhook-allowed-origin': String(request.headers['webhook-request-origin']) } };
    if (request.headers['aeg-event-type'] === 'SubscriptionValidation') {
      const [validation] = JSON.parse(request.body) as Array<{ data: { validationCode: string } }>;
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ validationResponse: validation.data.validationCode }) };
    }
    return onNotification(index, request);
  };
}

const openReceivers: Receiver[] = [];

async function startReceiver(respond: Responder = handshakeAware()): Promise<Receiver> {
  const requests: Captured[] = [];
  let notificationCount = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const captured: Captured = { method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(captured);
      const isNotification = captured.method === 'POST' && captured.headers['aeg-event-type'] === 'Notification';
      const answer = respond(captured, isNotification ? notificationCount++ : -1);
      const reply = (): void => {
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    requests,
    notifications: () => requests.filter((r) => r.method === 'POST' && r.headers['aeg-event-type'] === 'Notification'),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
  openReceivers.push(receiver);
  return receiver;
}

// ---------------------------------------------------------------------------------------------

const openEmulators: EventGridEmulator[] = [];
const temporaryDirs: string[] = [];

async function emulatorWith(options: EventGridEmulatorOptions = {}): Promise<EventGridEmulator> {
  const emulator = await startEventGridEmulator({ retryDelaysMs: [30, 30], ...options });
  openEmulators.push(emulator);
  return emulator;
}

function cloudEventClient(emulator: EventGridEmulator, key = emulator.accessKey): EventGridPublisherClient<'CloudEvent'> {
  return new EventGridPublisherClient(emulator.endpoint, 'CloudEvent', new AzureKeyCredential(key), { tlsOptions: { ca: emulator.caPem } });
}

function eventGridClient(emulator: EventGridEmulator, key = emulator.accessKey): EventGridPublisherClient<'EventGrid'> {
  return new EventGridPublisherClient(emulator.endpoint, 'EventGrid', new AzureKeyCredential(key), { tlsOptions: { ca: emulator.caPem } });
}

function requestCreated(id: string, subject = `/requests/${id}`): CloudEvent<unknown> {
  return { id, type: 'HsmAccess.Request.Created', source: '/hsm-access-governor', subject, data: { requestId: id, role: 'Managed HSM Crypto User' } };
}

function gridEvent(id: string, subject = `/requests/${id}`): SendEventGridEventInput<unknown> {
  return { id, eventType: 'HsmAccess.Request.Approved', subject, dataVersion: '2.0', data: { requestId: id } };
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain HTTPS call to the emulator, trusting its CA, for what the SDK does not send. */
function rawCall(emulator: EventGridEmulator, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  const url = new URL(path, emulator.endpoint);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca: emulator.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function publishRaw(emulator: EventGridEmulator, body: string | Buffer, contentType = 'application/json', extraHeaders: Record<string, string> = {}): Promise<RawResponse> {
  return rawCall(emulator, 'POST', '/api/events?api-version=2018-01-01', { 'content-type': contentType, 'aeg-sas-key': emulator.accessKey, ...extraHeaders }, body);
}

async function expectRejection(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; code?: string; message: string };
  }
  throw new Error('expected the call to be rejected');
}

const settled = (count: number) => (deliveries: DeliveryRecord[]): boolean => deliveries.length >= count && deliveries.every((d) => d.status !== 'pending');

afterEach(async () => {
  await Promise.all(openEmulators.splice(0).map((e) => e.close()));
  await Promise.all(openReceivers.splice(0).map((r) => r.close()));
  for (const dir of temporaryDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('publishing through EventGridPublisherClient', () => {
  it('serves HTTPS with its own CA and lists accepted CloudEvents', async () => {
    const emulator = await emulatorWith();
    expect(emulator.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api\/events$/);
    expect(readFileSync(emulator.caFile, 'utf8')).toBe(emulator.caPem);
    expect(Buffer.from(emulator.accessKey, 'base64').length).toBe(32);

    await cloudEventClient(emulator).send([requestCreated('r-1'), { ...requestCreated('r-2'), extensionAttributes: { requestor: 'sam' } }]);

    const received = emulator.received();
    expect(received.map((r) => r.event.id)).toEqual(['r-1', 'r-2']);
    expect(received[0]).toEqual({
      receivedAt: expect.any(String),
      schema: 'CloudEventSchemaV1_0',
      event: {
        specversion: '1.0', id: 'r-1', type: 'HsmAccess.Request.Created', source: '/hsm-access-governor', subject: '/requests/r-1',
        time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), datacontenttype: 'application/json', data: { requestId: 'r-1', role: 'Managed HSM Crypto User' },
      },
    });
    expect(received[1].event.requestor).toBe('sam');

    const listed = await rawCall(emulator, 'GET', '/_emulator/events');
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body)).toEqual(received);
  });

  it('accepts Event Grid schema events and stamps topic and metadataVersion', async () => {
    const emulator = await emulatorWith({ topicName: 'governor-test', inputSchema: 'EventGridSchema' });
    await eventGridClient(emulator).send([gridEvent('g-1')]);
    const [entry] = emulator.received();
    expect(entry.schema).toBe('EventGridSchema');
    expect(entry.event).toEqual({
      id: 'g-1', eventType: 'HsmAccess.Request.Approved', subject: '/requests/g-1', dataVersion: '2.0', data: { requestId: 'g-1' },
      eventTime: expect.stringMatching(/Z$/), topic: emulator.topicResourceId, metadataVersion: '1',
    });
    expect(emulator.topicResourceId).toMatch(/\/providers\/Microsoft\.EventGrid\/topics\/governor-test$/);
  });

  it('accepts a shared access signature and refuses an expired or foreign one', async () => {
    const emulator = await emulatorWith();
    const key = new AzureKeyCredential(emulator.accessKey);
    const sasClient = (signature: string): EventGridPublisherClient<'CloudEvent'> => new EventGridPublisherClient(emulator.endpoint, 'CloudEvent', new AzureSASCredential(signature), { tlsOptions: { ca: emulator.caPem } });

    await sasClient(await generateSharedAccessSignature(emulator.endpoint, key, new Date(Date.now() + 60_000))).send([requestCreated('sas-1')]);
    expect(emulator.received().map((r) => r.event.id)).toEqual(['sas-1']);
    const signature = await generateSharedAccessSignature(emulator.endpoint, key, new Date(Date.now() + 60_000));
    const inAuthorizationHeader = await rawCall(emulator, 'POST', '/api/events?api-version=2018-01-01', {
      'content-type': 'application/cloudevents-batch+json; charset=utf-8', authorization: `SharedAccessSignature ${signature}`,
    }, JSON.stringify([{ specversion: '1.0', id: 'sas-header', source: '/s', type: 'T' }]));
    expect(inAuthorizationHeader.status).toBe(200);
    expect(emulator.received().map((r) => r.event.id)).toEqual(['sas-1', 'sas-header']);

    const expired = await expectRejection(sasClient(await generateSharedAccessSignature(emulator.endpoint, key, new Date(Date.now() - 60_000))).send([requestCreated('sas-2')]));
    expect(expired.statusCode).toBe(401);
    expect(expired.message).toMatch(/expired/);

    const foreignKey = new AzureKeyCredential(Buffer.alloc(32, 7).toString('base64'));
    const foreign = await expectRejection(sasClient(await generateSharedAccessSignature(emulator.endpoint, foreignKey, new Date(Date.now() + 60_000))).send([requestCreated('sas-3')]));
    expect(foreign.statusCode).toBe(401);
    expect(foreign.message).toMatch(/not signed with this topic's access key/);
    expect(emulator.received()).toHaveLength(2);
  });

  it('rejects a wrong or missing key with 401 and an Event Grid error body', async () => {
    const emulator = await emulatorWith();
    const wrongKey = await expectRejection(cloudEventClient(emulator, Buffer.alloc(32, 1).toString('base64')).send([requestCreated('k-1')]));
    expect(wrongKey.statusCode).toBe(401);
    expect(wrongKey.code).toBe('Unauthorized');
    expect(wrongKey.message).toMatch(/aeg-sas-key is not a valid access key/);

    const wrongSchemaClient = await expectRejection(eventGridClient(emulator, 'bm90LXRoZS1rZXk=').send([gridEvent('k-2')]));
    expect(wrongSchemaClient.statusCode).toBe(401);

    const missing = await rawCall(emulator, 'POST', '/api/events?api-version=2018-01-01', { 'content-type': 'application/json' }, '[]');
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toEqual({ error: { code: 'Unauthorized', message: expect.stringMatching(/no credentials/), details: [{ code: 'Unauthorized', message: expect.any(String) }] } });
    expect(emulator.received()).toEqual([]);
  });

  it('refuses a batch with any invalid event (400) and stores nothing from it', async () => {
    const emulator = await emulatorWith();
    const cloudBatch = await expectRejection(cloudEventClient(emulator).send([requestCreated('ok-1'), { ...requestCreated('bad-1'), source: '' }]));
    expect(cloudBatch.statusCode).toBe(400);
    expect(cloudBatch.message).toMatch(/index 1 \(id 'bad-1'\).*'source' is required.*Nothing from this batch was accepted/);

    const wrongSpec = await publishRaw(emulator, JSON.stringify([{ specversion: '0.3', id: 'x', source: '/s', type: 't' }]), 'application/cloudevents-batch+json; charset=utf-8');
    expect(wrongSpec.status).toBe(400);
    expect(JSON.parse(wrongSpec.body).error.message).toMatch(/'specversion' must be "1.0"/);

    const noApiVersion = await rawCall(emulator, 'POST', '/api/events', { 'content-type': 'application/cloudevents-batch+json', 'aeg-sas-key': emulator.accessKey }, '[]');
    expect(JSON.parse(noApiVersion.body).error.message).toMatch(/api-version/);
    expect(emulator.received()).toEqual([]);
  });

  it('refuses an Event Grid schema batch with any invalid event on a topic of that schema', async () => {
    const emulator = await emulatorWith({ inputSchema: 'EventGridSchema' });
    const gridBatch = await expectRejection(eventGridClient(emulator).send([gridEvent('ok-2'), { ...gridEvent('bad-2'), eventType: '' }]));
    expect(gridBatch.statusCode).toBe(400);
    expect(gridBatch.message).toMatch(/'eventType' is required/);

    const missingData = await publishRaw(emulator, JSON.stringify([{ id: 'x', subject: 's', eventType: 't', eventTime: new Date().toISOString(), dataVersion: '1' }]));
    expect(JSON.parse(missingData.body).error.message).toMatch(/'data' is required/);
    const badTime = await publishRaw(emulator, JSON.stringify([{ id: 'x', subject: 's', eventType: 't', eventTime: 'yesterday', data: {}, dataVersion: '1' }]));
    expect(JSON.parse(badTime.body).error.message).toMatch(/'eventTime'/);
    const notArray = await publishRaw(emulator, JSON.stringify({ id: 'x', subject: 's', eventType: 't', eventTime: new Date().toISOString(), data: {}, dataVersion: '1' }));
    expect(JSON.parse(notArray.body).error.message).toMatch(/JSON array/);
    const notJson = await publishRaw(emulator, '[{"id":');
    expect(notJson.status).toBe(400);
    const empty = await publishRaw(emulator, '[]');
    expect(JSON.parse(empty.body).error.message).toMatch(/no events/);
    expect(emulator.received()).toEqual([]);
  });

  it('accepts one structured CloudEvent and refuses batches over 1 MB with 413', async () => {
    const emulator = await emulatorWith();
    const single = await publishRaw(emulator, JSON.stringify({ specversion: '1.0', id: 'one', source: '/s', type: 'T' }), 'application/cloudevents+json; charset=utf-8');
    expect(single.status).toBe(200);
    expect(single.body).toBe('');

    const tooLarge = await expectRejection(cloudEventClient(emulator).send([{ ...requestCreated('big'), data: { padding: 'x'.repeat(1024 * 1024) } }]));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.code).toBe('RequestEntityTooLarge');
    expect(emulator.received().map((r) => r.event.id)).toEqual(['one']);
  });
});

describe('delivery to subscriptions', () => {
  it('validates both kinds of endpoint, then delivers each matching event with Event Grid headers', async () => {
    const emulator = await emulatorWith();
    const cloudReceiver = await startReceiver();
    const gridReceiver = await startReceiver();

    await emulator.addSubscription({ name: 'cloud-sub', endpoint: cloudReceiver.url });
    expect(cloudReceiver.requests).toHaveLength(1);
    expect(cloudReceiver.requests[0]).toMatchObject({ method: 'OPTIONS', headers: { 'webhook-request-origin': 'eventgrid.azure.net' } });

    await emulator.addSubscription({ name: 'grid-sub', endpoint: gridReceiver.url, deliverySchema: 'EventGridSchema' });
    expect(gridReceiver.requests).toHaveLength(1);
    const validation = gridReceiver.requests[0];
    expect(validation.method).toBe('POST');
    expect(validation.headers).toMatchObject({ 'aeg-event-type': 'SubscriptionValidation', 'aeg-subscription-name': 'GRID-SUB', 'content-type': 'application/json; charset=utf-8' });
    expect(JSON.parse(validation.body)).toEqual([{
      id: expect.any(String), topic: emulator.topicResourceId, subject: '', data: { validationCode: expect.any(String) },
      eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', eventTime: expect.any(String), metadataVersion: '1', dataVersion: '1',
    }]);
    expect(emulator.subscriptions().map((s) => s.name)).toEqual(['cloud-sub', 'grid-sub']);
    // A topic has one input schema: Event Grid schema events come from a topic of their own.
    const gridTopic = await emulatorWith({ inputSchema: 'EventGridSchema' });
    await gridTopic.addSubscription({ name: 'cloud-sub', endpoint: cloudReceiver.url });
    await gridTopic.addSubscription({ name: 'grid-sub', endpoint: gridReceiver.url, deliverySchema: 'EventGridSchema' });

    await cloudEventClient(emulator).send([requestCreated('d-1'), requestCreated('d-2')]);
    await eventGridClient(gridTopic).send([gridEvent('d-3')]);
    await emulator.waitForDeliveries(settled(4));
    await gridTopic.waitForDeliveries(settled(2));
    expect(emulator.deliveries()).toEqual(expect.arrayContaining([{ subscription: 'cloud-sub', eventId: 'd-1', attempts: 1, status: 'delivered' }]));
    expect(gridTopic.deliveries()).toEqual(expect.arrayContaining([{ subscription: 'grid-sub', eventId: 'd-3', attempts: 1, status: 'delivered' }]));

    const cloudDeliveries = cloudReceiver.notifications();
    expect(cloudDeliveries).toHaveLength(3);
    expect(gridTopic.topicResourceId).toBe(emulator.topicResourceId);
    for (const delivery of cloudDeliveries) {
      expect(delivery.headers).toMatchObject({
        'content-type': 'application/cloudevents+json; charset=utf-8', 'aeg-event-type': 'Notification', 'aeg-subscription-name': 'CLOUD-SUB',
        'aeg-delivery-count': '0', 'aeg-metadata-version': '1.0',
      });
    }
    const cloudBodies = cloudDeliveries.map((d) => JSON.parse(d.body) as Record<string, unknown>);
    expect(cloudBodies.map((b) => b.id).sort()).toEqual(['d-1', 'd-2', 'd-3']);
    expect(cloudBodies.find((b) => b.id === 'd-1')).toEqual(emulator.received()[0].event);
    expect(cloudBodies.find((b) => b.id === 'd-3')).toEqual({
      specversion: '1.0', id: 'd-3', source: emulator.topicResourceId, subject: '/requests/d-3', type: 'HsmAccess.Request.Approved', time: expect.any(String), data: { requestId: 'd-3' },
    });

    const gridDeliveries = gridReceiver.notifications();
    expect(gridDeliveries).toHaveLength(3);
    const byId = new Map(gridDeliveries.map((d) => [(JSON.parse(d.body) as Array<{ id: string }>)[0].id, d]));
    const native = byId.get('d-3');
    expect(native?.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8', 'aeg-event-type': 'Notification', 'aeg-subscription-name': 'GRID-SUB',
      'aeg-delivery-count': '0', 'aeg-data-version': '2.0', 'aeg-metadata-version': '1',
    });
    expect(JSON.parse(native?.body ?? '')).toEqual([gridTopic.received()[0].event]);
    expect(JSON.parse(byId.get('d-1')?.body ?? '')).toEqual([{
      id: 'd-1', topic: emulator.topicResourceId, subject: '/requests/d-1', data: { requestId: 'd-1', role: 'Managed HSM Crypto User' },
      eventType: 'HsmAccess.Request.Created', eventTime: expect.any(String), metadataVersion: '1', dataVersion: '',
    }]);
  });

  it('keeps the order of events for one subject even when the receiver is slow', async () => {
    const emulator = await emulatorWith();
    const receiver = await startReceiver(handshakeAware((index) => ({ status: 200, delayMs: index === 0 ? 150 : 0 })));
    await emulator.addSubscription({ name: 'ordered', endpoint: receiver.url });
    await cloudEventClient(emulator).send(['o-1', 'o-2', 'o-3'].map((id) => requestCreated(id, '/requests/same')));
    await emulator.waitForDeliveries(settled(3));
    expect(receiver.notifications().map((d) => (JSON.parse(d.body) as { id: string }).id)).toEqual(['o-1', 'o-2', 'o-3']);
  });

  it('retries a failing receiver and delivers on the third attempt', async () => {
    const emulator = await emulatorWith({ retryDelaysMs: [40, 40] });
    const receiver = await startReceiver(handshakeAware((index) => (index < 2 ? { status: 503, body: 'busy' } : { status: 202 })));
    await emulator.addSubscription({ name: 'flaky', endpoint: receiver.url });
    await cloudEventClient(emulator).send([requestCreated('retry-1')]);
    await emulator.waitForDeliveries(settled(1));

    expect(emulator.deliveries()).toEqual([{ subscription: 'flaky', eventId: 'retry-1', attempts: 3, status: 'delivered' }]);
    const attempts = receiver.notifications();
    expect(attempts.map((a) => a.headers['aeg-delivery-count'])).toEqual(['0', '1', '2']);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
  });

  it('dead-letters after the last attempt, at once on 400, and when the endpoint is gone', async () => {
    const emulator = await emulatorWith({ retryDelaysMs: [20] });
    const failing = await startReceiver(handshakeAware(() => ({ status: 500, body: 'handler crashed' })));
    const rejecting = await startReceiver(handshakeAware(() => ({ status: 400, body: 'bad event' })));
    const vanishing = await startReceiver();
    await emulator.addSubscription({ name: 'always-fails', endpoint: failing.url, maxDeliveryAttempts: 4 });
    await emulator.addSubscription({ name: 'rejects', endpoint: rejecting.url });
    await emulator.addSubscription({ name: 'gone', endpoint: vanishing.url, maxDeliveryAttempts: 2 });
    await vanishing.close();

    await cloudEventClient(emulator).send([requestCreated('dl-1')]);
    await emulator.waitForDeliveries(settled(3));

    const bySubscription = Object.fromEntries(emulator.deliveries().map((d) => [d.subscription, d]));
    expect(bySubscription['always-fails']).toEqual({ subscription: 'always-fails', eventId: 'dl-1', attempts: 4, status: 'dead-lettered', lastError: 'HTTP 500: handler crashed' });
    expect(failing.notifications()).toHaveLength(4);
    expect(bySubscription.rejects).toMatchObject({ attempts: 1, status: 'dead-lettered', lastError: 'HTTP 400: bad event' });
    expect(rejecting.notifications()).toHaveLength(1);
    expect(bySubscription.gone).toMatchObject({ attempts: 2, status: 'dead-lettered', lastError: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('delivers only the event types and subjects a subscription filters for', async () => {
    const emulator = await emulatorWith();
    const receiver = await startReceiver();
    await emulator.addSubscription({ name: 'created-only', endpoint: receiver.url, eventTypes: ['hsmaccess.request.created'], subjectBeginsWith: '/requests/' });

    await cloudEventClient(emulator).send([
      requestCreated('f-1'),
      { ...requestCreated('f-2'), type: 'HsmAccess.Request.Expired' },
      requestCreated('f-3', '/grants/f-3'),
    ]);
    await cloudEventClient(emulator).send([requestCreated('f-4')]);
    await emulator.waitForDeliveries(settled(2));

    expect(emulator.received()).toHaveLength(4);
    expect(emulator.deliveries().map((d) => d.eventId)).toEqual(['f-1', 'f-4']);
    expect(receiver.notifications().map((d) => (JSON.parse(d.body) as { id: string }).id)).toEqual(['f-1', 'f-4']);
  });

  it('refuses subscriptions whose endpoint fails the handshake', async () => {
    const emulator = await emulatorWith();
    const noOptions = await startReceiver(() => ({ status: 405 }));
    const noOriginHeader = await startReceiver(() => ({ status: 200 }));
    const wrongCode = await startReceiver(() => ({ status: 200, body: JSON.stringify({ validationResponse: 'not-the-code' }) }));
    const acceptedOnly = await startReceiver((request) => {
      const [validation] = JSON.parse(request.body) as Array<{ data: { validationCode: string } }>;
      return { status: 202, body: JSON.stringify({ validationResponse: validation.data.validationCode }) };
    });

    await expect(emulator.addSubscription({ name: 'no-options', endpoint: noOptions.url })).rejects.toThrow(/failed the validation handshake: it answered 405 to the OPTIONS request/);
    await expect(emulator.addSubscription({ name: 'no-origin', endpoint: noOriginHeader.url })).rejects.toThrow(/no WebHook-Allowed-Origin header/);
    await expect(emulator.addSubscription({ name: 'wrong-code', endpoint: wrongCode.url, deliverySchema: 'EventGridSchema' })).rejects.toThrow(/is not the validation code/);
    await expect(emulator.addSubscription({ name: 'accepted-only', endpoint: acceptedOnly.url, deliverySchema: 'EventGridSchema' })).rejects.toThrow(/answered 202/);
    await expect(emulator.addSubscription({ name: 'unreachable', endpoint: 'http://127.0.0.1:1/webhook' })).rejects.toThrow(/the request failed/);
    await expect(emulator.addSubscription({ name: 'x', endpoint: noOptions.url })).rejects.toThrow(/3 to 64 letters/);
    await expect(emulator.addSubscription({ name: 'bad-schema', endpoint: noOptions.url, deliverySchema: 'Custom' as never })).rejects.toThrow(/deliverySchema/);

    expect(emulator.subscriptions()).toEqual([]);
    await cloudEventClient(emulator).send([requestCreated('after-refusals')]);
    expect(emulator.deliveries()).toEqual([]);
    expect(noOriginHeader.notifications()).toEqual([]);
  });

  it('runs the admin API: subscriptions, deliveries and clearing events', async () => {
    const emulator = await emulatorWith();
    const receiver = await startReceiver();
    const json = { 'content-type': 'application/json' };

    const added = await rawCall(emulator, 'POST', '/_emulator/subscriptions', json, JSON.stringify({ name: 'via-admin', endpoint: receiver.url, eventTypes: ['HsmAccess.Request.Created'] }));
    expect(added.status).toBe(201);
    expect(JSON.parse(added.body)).toEqual({ name: 'via-admin', endpoint: receiver.url, eventTypes: ['HsmAccess.Request.Created'] });
    const refused = await rawCall(emulator, 'POST', '/_emulator/subscriptions', json, JSON.stringify({ name: 'via-admin-2', endpoint: 'http://127.0.0.1:1/' }));
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error.message).toMatch(/validation handshake/);
    expect((await rawCall(emulator, 'POST', '/_emulator/subscriptions', { 'content-type': 'text/plain' }, '{}')).status).toBe(415);
    expect(JSON.parse((await rawCall(emulator, 'GET', '/_emulator/subscriptions')).body)).toHaveLength(1);

    await cloudEventClient(emulator).send([requestCreated('a-1')]);
    await emulator.waitForDeliveries();
    const deliveries = await rawCall(emulator, 'GET', '/_emulator/deliveries');
    expect(JSON.parse(deliveries.body)).toEqual([{ subscription: 'via-admin', eventId: 'a-1', attempts: 1, status: 'delivered' }]);

    expect((await rawCall(emulator, 'DELETE', '/_emulator/events')).status).toBe(204);
    expect(JSON.parse((await rawCall(emulator, 'GET', '/_emulator/events')).body)).toEqual([]);
    expect(emulator.deliveries()).toEqual([]);
    expect((await rawCall(emulator, 'PUT', '/_emulator/events')).status).toBe(405);
    expect((await rawCall(emulator, 'GET', '/api/events?api-version=2018-01-01')).status).toBe(405);
    expect((await rawCall(emulator, 'GET', '/elsewhere')).status).toBe(404);
  });

  it('reports a wait that times out with the deliveries so far', async () => {
    const emulator = await emulatorWith({ retryDelaysMs: [5000] });
    const receiver = await startReceiver(handshakeAware(() => ({ status: 500 })));
    await emulator.addSubscription({ name: 'stuck', endpoint: receiver.url });
    await cloudEventClient(emulator).send([requestCreated('w-1')]);
    await expect(emulator.waitForDeliveries(undefined, 300)).rejects.toThrow(/within 300 ms: .*"status":"pending"/);
  });
});

describe('persistence and the command line', () => {
  it('keeps events, key and CA in dataDir across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eventgrid-emulator-test-'));
    temporaryDirs.push(dataDir);
    const first = await startEventGridEmulator({ dataDir });
    await cloudEventClient(first).send([requestCreated('p-1')]);
    await first.close();

    const second = await emulatorWith({ dataDir });
    expect(second.accessKey).toBe(first.accessKey);
    expect(second.caPem).toBe(first.caPem);
    expect(second.caFile).toBe(join(dataDir, 'tls', 'ca.pem'));
    expect(second.received().map((r) => r.event.id)).toEqual(['p-1']);
    await cloudEventClient(second, first.accessKey).send([requestCreated('p-2')]);
    expect(second.received().map((r) => r.event.id)).toEqual(['p-1', 'p-2']);
  });

  it('starts from the CLI with subscriptions from a JSON file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eventgrid-emulator-cli-'));
    temporaryDirs.push(dir);
    const receiver = await startReceiver();
    const file = join(dir, 'subscriptions.json');
    writeFileSync(file, JSON.stringify([{ name: 'from-file', endpoint: receiver.url, deliverySchema: 'EventGridSchema' }]));
    const lines: string[] = [];
    const emulator = await runCli(['--port', '0', '--subscriptions', file, '--retry-delays', '10,20'], (line) => lines.push(line));
    openEmulators.push(emulator);

    const started = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(started).toEqual({ endpoint: emulator.endpoint, accessKey: emulator.accessKey, caFile: emulator.caFile, topic: emulator.topicResourceId, subscriptions: ['from-file'] });
    expect(lines.some((line) => /Subscription 'from-file' validated/.test(line))).toBe(true);
    await cloudEventClient(emulator).send([requestCreated('cli-1')]);
    await emulator.waitForDeliveries(settled(1));
    expect(receiver.notifications()).toHaveLength(1);

    writeFileSync(file, '{"not": "an array"}');
    await expect(runCli(['--port', '0', '--subscriptions', file])).rejects.toThrow(/must hold a JSON array/);
    await expect(runCli(['--port', 'eighty'])).rejects.toThrow(/--port must be a whole number/);
    await expect(runCli(['--verbose'])).rejects.toThrow(/Unknown option '--verbose'/);
  });
});
