// The code path that runs in Azure is the one tested: the local stack's app reaches storage through the
// identity-based AzureWebJobsStorage__* connection, with bearer tokens of its managed identity, over HTTPS
// to Azurite in OAuth mode, which refuses a call that carries neither a key nor a token.
import { request } from 'node:https';
import { QueueServiceClient } from '@azure/storage-queue';
import { TableClient } from '@azure/data-tables';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { DEV_ACCOUNT_KEY } from '../../dev/azurite';
import { PERSONAS, SERVICE_PERSONA } from '../../dev/personas';
import { createAppContext } from '../../shared/app';
import { createQueueClient } from '../../shared/adapters/storage/tables';
import { startTestStack, type TestStack } from '../helpers/stack';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** A bare HTTPS call to Azurite (its CA trusted), with or without a bearer token. */
function callAzurite(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      ca: stack.stack.azurite.caPem,
      headers: { 'x-ms-version': '2025-11-05', accept: 'application/json;odata=nometadata', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;

it('gives the app the identity-based settings Azure gives it, with https service URIs and no account key', () => {
  const settings = stack.stack.appSettings;
  expect(settings.AzureWebJobsStorage).toBeUndefined();
  expect(settings).toMatchObject({
    AzureWebJobsStorage__tableServiceUri: stack.stack.azurite.tableEndpoint,
    AzureWebJobsStorage__queueServiceUri: stack.stack.azurite.queueEndpoint,
    AzureWebJobsStorage__blobServiceUri: stack.stack.azurite.blobEndpoint,
    AzureWebJobsStorage__credential: 'managedidentity',
    STORAGE_CA_FILE: stack.stack.azurite.caFile,
  });
  expect(stack.stack.azurite.tableEndpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
  expect(Object.values(settings).join('\n')).not.toContain(DEV_ACCOUNT_KEY);
});

it('Azurite refuses a call with no key and no token, and one whose token is for another audience', async () => {
  const tables = `${stack.stack.azurite.tableEndpoint}/Tables`;
  const anonymous = await callAzurite(tables);
  expect(anonymous.status).toBe(403);
  expect(anonymous.body).toContain('AuthorizationFailure');
  const management = await stack.stack.idp.issueToken(SERVICE_PERSONA, { audience: 'https://management.azure.com' });
  const wrongAudience = await callAzurite(tables, management);
  expect(wrongAudience.status).toBe(403);
  expect(wrongAudience.body).toContain('Invalid token audience');
  const storage = await stack.stack.idp.issueToken(SERVICE_PERSONA, { audience: 'https://storage.azure.com' });
  expect((await callAzurite(tables, storage)).status).toBe(200);
});

it("the app's table calls go out with its managed identity's bearer token for storage, and land", async () => {
  const context = createAppContext({ ...stack.stack.appSettings });
  expect(context.config.storage.kind).toBe('identity');
  const table = context.tableClient('identityprobe');
  const tokens: string[] = [];
  const see: PipelinePolicy = {
    name: 'seeAuthorization',
    sendRequest: (req, next) => {
      const [scheme, token] = (req.headers.get('authorization') ?? 'none').split(' ');
      tokens.push(scheme === 'Bearer' ? token : scheme);
      return next(req);
    },
  };
  table.pipeline.addPolicy(see, { afterPhase: 'Sign' });
  await table.createTable();
  await table.upsertEntity({ partitionKey: 'p', rowKey: 'r', value: 'through the identity' });
  expect(tokens.length).toBeGreaterThanOrEqual(2);
  for (const token of tokens) {
    expect(claimsOf(token)).toMatchObject({ aud: 'https://storage.azure.com', oid: PERSONAS[SERVICE_PERSONA].oid });
  }
  // Read back with the account key, as a tool beside the app would.
  const direct = TableClient.fromConnectionString(stack.stack.azurite.connectionString, 'identityprobe', stack.stack.azurite.clientOptions);
  expect(await direct.getEntity('p', 'r')).toMatchObject({ value: 'through the identity' });
});

it("the app's queue messages go through the same connection, and the health check pings storage through it", async () => {
  const context = createAppContext({ ...stack.stack.appSettings });
  const queue = createQueueClient(context.config.storage, 'identity-probe', context.credential);
  await queue.createIfNotExists();
  await queue.sendMessage('aGVsbG8=');
  const direct = QueueServiceClient.fromConnectionString(stack.stack.azurite.connectionString, stack.stack.azurite.clientOptions).getQueueClient('identity-probe');
  const peeked = await direct.peekMessages();
  expect(peeked.peekedMessageItems.map((m) => m.messageText)).toEqual(['aGVsbG8=']);
  const health = await stack.api('/api/health', { persona: 'sam' });
  expect(await health.json()).toMatchObject({ status: 'ok', checks: { storage: { ok: true } } });
  // The local host's queue triggers poll through the identity-based connection too (dev/host/storageConnection.ts).
  expect(stack.logs.filter((entry) => /Polling the queue failed/.test(entry.message))).toEqual([]);
});

it('the same code reaches the same Azurite through a connection string, for anyone who sets one', async () => {
  const settings = Object.fromEntries(Object.entries(stack.stack.appSettings).filter(([name]) => !name.startsWith('AzureWebJobsStorage__')));
  const context = createAppContext({ ...settings, AzureWebJobsStorage: stack.stack.azurite.connectionString });
  expect(context.config.storage.kind).toBe('connectionString');
  await context.pingStorage();
  expect(await context.tableClient('identityprobe').getEntity('p', 'r')).toMatchObject({ value: 'through the identity' });
});
