import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { AzureKeyCredential, EventGridPublisherClient, type CloudEvent } from '@azure/eventgrid';
import { startEventGridEmulator, type EventGridEmulator, type EventGridEmulatorOptions } from '../../dev/eventgrid-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';

/** Conformance of the topic emulator with what a real topic answers: Entra tokens, local auth, headers, one input schema. */

let idp: IdentityProvider;
const open: EventGridEmulator[] = [];

beforeAll(async () => {
  idp = await startIdentityProvider();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((topic) => topic.close()));
});

afterAll(async () => {
  await idp.close();
});

async function topicWith(options: EventGridEmulatorOptions = {}): Promise<EventGridEmulator> {
  const topic = await startEventGridEmulator(options);
  open.push(topic);
  return topic;
}

const withEntra = (dataSenders?: string[]): EventGridEmulatorOptions => ({ entra: { issuer: idp.issuer, jwk: idp.publicJwk, ...(dataSenders ? { dataSenders } : {}) } });

function event(id: string): CloudEvent<unknown> {
  return { id, type: 'HsmAccess.Request.Created', source: '/hsm-access-governor', subject: `/requests/${id}`, data: { id } };
}

function tokenClient(topic: EventGridEmulator, persona: string): EventGridPublisherClient<'CloudEvent'> {
  return new EventGridPublisherClient(topic.endpoint, 'CloudEvent', new DevPersonaCredential(idp.url, persona), { tlsOptions: { ca: topic.caPem }, retryOptions: { maxRetries: 0 } });
}

function raw(topic: EventGridEmulator, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, topic.endpoint), { method, headers, ca: topic.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function refusal(promise: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { statusCode?: number; code?: string; message: string };
  }
  throw new Error('expected a refusal');
}

describe('Microsoft Entra tokens', () => {
  it('accepts a token of the identity provider for https://eventgrid.azure.net, as the SDK gets it', async () => {
    const topic = await topicWith(withEntra([PERSONAS['hsm-governor'].oid]));
    await tokenClient(topic, 'hsm-governor').send([event('t-1')]);
    expect(topic.received().map((entry) => entry.event.id)).toEqual(['t-1']);
  });

  it('refuses a token for another audience, a forged one and one of a principal that is no data sender', async () => {
    const topic = await topicWith(withEntra([PERSONAS['hsm-governor'].oid]));
    const publish = (token: string) => raw(topic, 'POST', '/api/events?api-version=2018-01-01', { authorization: `Bearer ${token}`, 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify([{ specversion: '1.0', ...event('t-2') }]));
    const wrongAudience = await publish(await idp.issueToken('hsm-governor', { audience: 'https://managedhsm.azure.net' }));
    expect(wrongAudience.status).toBe(401);
    expect(JSON.parse(wrongAudience.body).error.code).toBe('Unauthorized');
    const token = await idp.issueToken('hsm-governor', { audience: 'https://eventgrid.azure.net' });
    const forged = await publish(`${token.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(401);
    const notASender = await refusal(tokenClient(topic, 'dave').send([event('t-3')]));
    expect(notASender.statusCode).toBe(401);
    expect(notASender.message).toMatch(/EventGrid Data Sender/);
    expect(topic.received()).toEqual([]);
  });

  it('refuses tokens on a topic that takes none, and the key on a topic without local auth', async () => {
    const keyOnly = await topicWith();
    expect((await refusal(tokenClient(keyOnly, 'hsm-governor').send([event('t-4')]))).statusCode).toBe(401);
    const tokenOnly = await topicWith({ ...withEntra(), localAuth: false });
    const keyed = await refusal(new EventGridPublisherClient(tokenOnly.endpoint, 'CloudEvent', new AzureKeyCredential(tokenOnly.accessKey), { tlsOptions: { ca: tokenOnly.caPem } }).send([event('t-5')]));
    expect(keyed.statusCode).toBe(401);
    expect(keyed.message).toMatch(/Local authentication .* is disabled/);
    await tokenClient(tokenOnly, 'dave').send([event('t-6')]);
    expect(tokenOnly.received().map((entry) => entry.event.id)).toEqual(['t-6']);
  });
});

describe('answers as a real topic gives them', () => {
  it('carries x-ms-request-id, api-supported-versions and Strict-Transport-Security, and a 404 is NotFound with the detail ResourceNotFound', async () => {
    const topic = await topicWith();
    const published = await raw(topic, 'POST', '/api/events?api-version=2018-01-01', { 'aeg-sas-key': topic.accessKey, 'content-type': 'application/cloudevents-batch+json; charset=utf-8' }, JSON.stringify([{ specversion: '1.0', ...event('h-1') }]));
    expect(published.status).toBe(200);
    expect(published.headers).toMatchObject({ 'x-ms-request-id': expect.stringMatching(/^[0-9a-f-]{36}$/), 'api-supported-versions': '2018-01-01', 'strict-transport-security': 'max-age=31536000; includeSubDomains' });
    const missing = await raw(topic, 'GET', '/api/elsewhere', {});
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body).error).toMatchObject({ code: 'NotFound', message: expect.stringMatching(/^No HTTP resource was found that matches the request URI/), details: [{ code: 'ResourceNotFound' }] });
    expect(missing.headers['x-ms-request-id']).toBeDefined();
  });

  it('takes its one input schema only: a CloudEvents topic refuses application/json, an Event Grid topic refuses CloudEvents', async () => {
    const cloudTopic = await topicWith();
    const asJson = await raw(cloudTopic, 'POST', '/api/events?api-version=2018-01-01', { 'aeg-sas-key': cloudTopic.accessKey, 'content-type': 'application/json' }, JSON.stringify([{ specversion: '1.0', id: 's-1', source: '/s', type: 'T' }]));
    expect(asJson.status).toBe(400);
    expect(JSON.parse(asJson.body).error).toMatchObject({ code: 'BadRequest', message: expect.stringMatching(/configured to receive event in 'CloudEventV10' schema/) });
    const gridTopic = await topicWith({ inputSchema: 'EventGridSchema' });
    const cloudEvents = await refusal(new EventGridPublisherClient(gridTopic.endpoint, 'CloudEvent', new AzureKeyCredential(gridTopic.accessKey), { tlsOptions: { ca: gridTopic.caPem } }).send([event('s-2')]));
    expect(cloudEvents.statusCode).toBe(400);
    expect(cloudEvents.message).toMatch(/'EventGridEvent' schema/);
    const cloudEventAsJson = await raw(gridTopic, 'POST', '/api/events?api-version=2018-01-01', { 'aeg-sas-key': gridTopic.accessKey, 'content-type': 'application/json' }, JSON.stringify([{ specversion: '1.0', id: 's-3', source: '/s', type: 'T' }]));
    expect(cloudEventAsJson.status).toBe(400);
    expect(cloudTopic.received()).toEqual([]);
    expect(gridTopic.received()).toEqual([]);
  });
});
