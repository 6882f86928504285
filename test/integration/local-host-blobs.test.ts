import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { BLOB_CREATED, blobCreatedEvent, startEventGridEmulator, type EventGridEmulator } from '../../dev/eventgrid-emulator';
import { startFunctionsHost, type FunctionsHost } from '../../dev/host';
import { blobOfEvent, matchBlobPath } from '../../dev/host/blobs';
import { toRegistration } from '../../dev/host/registrations';
import type { SeenBlob } from '../fixtures/blob-app';
import { waitFor } from '../helpers/poll';

/**
 * The blob trigger with the Event Grid source on the local host: BlobCreated events from a storage
 * account's system topic reach `/runtime/webhooks/blobs?functionName=Host.Functions.{name}` with the
 * blobs extension's key, and the function runs with the blob's content and its `{name}`.
 */
const seen = (): SeenBlob[] => ((globalThis as Record<string, unknown>).__seenBlobs ??= []) as SeenBlob[];
const ACCOUNT = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/samples';

let azurite: Azurite;
let host: FunctionsHost;
let topic: EventGridEmulator;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'blob-host-'));
  azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
  host = await startFunctionsHost({ port: 0, entry: 'test/fixtures/blob-app/index', dataDir, env: { AzureWebJobsStorage: azurite.connectionString, SAMPLES_STORAGE: azurite.connectionString }, logger: () => undefined });
  topic = await startEventGridEmulator({ systemTopicSource: ACCOUNT, topicName: 'samples', retryDelaysMs: [100] });
});

afterAll(async () => {
  await topic?.close();
  await host?.close();
  await azurite?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const webhook = (key: string, name = 'on-sample'): string => `${host.url}/runtime/webhooks/blobs?functionName=Host.Functions.${name}&code=${encodeURIComponent(key)}`;

async function put(name: string, text: string): Promise<{ url: string; eTag: string }> {
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('samples');
  await container.createIfNotExists();
  const blob = container.getBlockBlobClient(name);
  const result = await blob.upload(text, Buffer.byteLength(text));
  return { url: blob.url, eTag: result.etag ?? '' };
}

it('gives the blobs extension a system key of its own, not the host key', () => {
  expect(host.blobsExtensionKey).toMatch(/^[\w-]{16,}$/);
  expect(host.blobsExtensionKey).not.toBe(host.hostKey);
});

it('validates the subscription, then runs the function for each created blob that matches its path, with its content and {name}', async () => {
  await topic.addSubscription({ name: 'samples-in', endpoint: webhook(host.blobsExtensionKey), eventTypes: [BLOB_CREATED], deliverySchema: 'EventGridSchema' });
  const first = await put('in/report-1.json', '{"n":1}');
  const other = await put('out/ignored.json', '{"n":2}');
  topic.raise([blobCreatedEvent({ ...first, container: 'samples', name: 'in/report-1.json', contentLength: 7 })]);
  topic.raise([blobCreatedEvent({ ...other, container: 'samples', name: 'out/ignored.json', contentLength: 7 })]);
  await waitFor('the blob seen', () => seen().find((s) => s.name === 'report-1'));
  await topic.waitForDeliveries();
  expect(seen()).toEqual([{ name: 'report-1', blobTrigger: 'samples/in/report-1.json', uri: first.url, content: '{"n":1}' }]);
  expect(topic.deliveries().every((d) => d.status === 'delivered')).toBe(true);
});

it('answers 500 when the function fails, so that Event Grid delivers again', async () => {
  const failing = await put('in/bad.json', 'fail');
  topic.raise([blobCreatedEvent({ ...failing, container: 'samples', name: 'in/bad.json', contentLength: 4 })]);
  await waitFor('retried', () => topic.deliveries().find((d) => d.attempts >= 2));
});

it('refuses a wrong key, an unknown function and the host route of other trigger kinds', async () => {
  const validation = JSON.stringify([{ id: '1', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', subject: '', eventTime: new Date().toISOString(), data: { validationCode: 'abc' }, dataVersion: '1' }]);
  const post = (url: string) => fetch(url, { method: 'POST', headers: { 'aeg-event-type': 'SubscriptionValidation', 'content-type': 'application/json' }, body: validation });
  expect((await post(webhook('wrong-key'))).status).toBe(401);
  expect((await post(webhook(host.blobsExtensionKey, 'nope'))).status).toBe(404);
  expect((await post(`${host.url}/runtime/webhooks/blobs?functionName=on-sample&code=${host.blobsExtensionKey}`)).status).toBe(404);
  const ok = await post(webhook(host.blobsExtensionKey));
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({ validationResponse: 'abc' });
});

it('reads blob names from Azurite and Azure URLs, and matches paths as the extension does', () => {
  expect(blobOfEvent({ data: { url: 'http://127.0.0.1:10000/devstoreaccount1/insights-logs-auditevent/resourceId%3D/SUBSCRIPTIONS/X/PT1H.json' } }))
    .toMatchObject({ container: 'insights-logs-auditevent', blobName: 'resourceId=/SUBSCRIPTIONS/X/PT1H.json' });
  expect(blobOfEvent({ data: { url: 'https://contosologstorage.blob.core.windows.net/insights-logs-auditevent/resourceId=/A/PT1H.json' } }))
    .toMatchObject({ container: 'insights-logs-auditevent', blobName: 'resourceId=/A/PT1H.json' });
  expect(blobOfEvent({ subject: '/blobServices/default/containers/c/blobs/a/b.json', data: {} })).toMatchObject({ container: 'c', blobName: 'a/b.json' });
  const target = { container: 'insights-logs-auditevent', blobName: 'resourceId=/A/y=2026/PT1H.json', url: '' };
  expect(matchBlobPath('insights-logs-auditevent/{name}', target)).toEqual({ name: 'resourceId=/A/y=2026/PT1H.json' });
  expect(matchBlobPath('other/{name}', target)).toBeUndefined();
  expect(matchBlobPath('samples/in/{name}.json', { container: 'samples', blobName: 'in/x.json', url: '' })).toEqual({ name: 'x' });
});

it('refuses a blob trigger without the Event Grid source, as Flex Consumption has none', () => {
  const polling = { metadata: { name: 'polling', bindings: { blob: { type: 'blobTrigger', direction: 'in' as const, name: 'blob', path: 'c/{name}', connection: 'X' } } }, handler: () => undefined };
  expect(() => toRegistration(polling)).toThrow(/source: 'EventGrid'/);
});
