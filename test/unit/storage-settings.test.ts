// The app's storage settings as the Functions host reads them: a connection string, or the identity-based
// AzureWebJobsStorage__* settings; a half-configured connection stops the app with a message naming the setting.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedIdentityCredential } from '@azure/identity';
import { ConfigurationError, readStorage, type StorageConfig } from '../../shared/adapters/config';
import { createStorageCredential } from '../../shared/adapters/credentials';
import { resolveQueueConnection } from '../../dev/host/storageConnection';

const CLIENT_ID = '3f2b8c1e-6d4a-4b7e-9c0f-1a2b3c4d5e6f';
const IDENTITY_ID = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/governor';
const KEY = 'Zm9vYmFyYmF6cXV4cXV1eA==';

function storage(env: NodeJS.ProcessEnv): { config?: StorageConfig; problems: string[] } {
  const problems: string[] = [];
  const config = readStorage(env, problems);
  return { ...(config ? { config } : {}), problems };
}

/** The setting each problem names (its first word). */
const named = (problems: string[]): string[] => problems.map((p) => p.split(' ')[0]);

describe('an identity-based AzureWebJobsStorage connection', () => {
  it('derives the three service URIs from the account name, as in Azure (infra/main.bicep)', () => {
    const { config, problems } = storage({ AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: CLIENT_ID });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      kind: 'identity',
      identity: { clientId: CLIENT_ID },
      endpoints: { table: 'https://stgovernor.table.core.windows.net', queue: 'https://stgovernor.queue.core.windows.net', blob: 'https://stgovernor.blob.core.windows.net' },
    });
  });

  it('takes explicit service URIs over the account name, path-style ones (Azurite) too, and a system-assigned identity without a client id', () => {
    const { config } = storage({
      AzureWebJobsStorage__accountName: 'stgovernor',
      AzureWebJobsStorage__tableServiceUri: 'https://127.0.0.1:10002/devstoreaccount1/',
      AzureWebJobsStorage__queueServiceUri: 'https://127.0.0.1:10001/devstoreaccount1',
      AzureWebJobsStorage__credential: 'ManagedIdentity',
    });
    expect(config).toEqual({
      kind: 'identity',
      identity: {},
      endpoints: { table: 'https://127.0.0.1:10002/devstoreaccount1', queue: 'https://127.0.0.1:10001/devstoreaccount1', blob: 'https://stgovernor.blob.core.windows.net' },
    });
  });

  it('names a user-assigned identity by its resource id', () => {
    expect(storage({ AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__managedIdentityResourceId: IDENTITY_ID }).config)
      .toMatchObject({ kind: 'identity', identity: { resourceId: IDENTITY_ID } });
  });

  it.each([
    ['an account name without a credential', { AzureWebJobsStorage__accountName: 'stgovernor' }, ['AzureWebJobsStorage__credential']],
    ['a credential the app cannot sign in with', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'clientsecret' }, ['AzureWebJobsStorage__credential']],
    ['a credential and nothing to connect to', { AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__tableServiceUri', 'AzureWebJobsStorage__queueServiceUri']],
    ['a client id alone', { AzureWebJobsStorage__clientId: CLIENT_ID }, ['AzureWebJobsStorage__tableServiceUri', 'AzureWebJobsStorage__queueServiceUri', 'AzureWebJobsStorage__credential']],
    ['tables without queues', { AzureWebJobsStorage__tableServiceUri: 'https://st.table.core.windows.net', AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__queueServiceUri']],
    ['the single-service alias', { AzureWebJobsStorage__serviceUri: 'https://st.queue.core.windows.net', AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__serviceUri']],
    ['a service URI over plain http', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__tableServiceUri: 'http://127.0.0.1:10002/devstoreaccount1', AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__tableServiceUri']],
    ['a SAS in a service URI', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__queueServiceUri: 'https://st.queue.core.windows.net?sv=2022&sig=abc', AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__queueServiceUri']],
    ['a malformed account name', { AzureWebJobsStorage__accountName: 'St_Governor', AzureWebJobsStorage__credential: 'managedidentity' }, ['AzureWebJobsStorage__accountName']],
    ['a client id that is not a GUID', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: 'governor' }, ['AzureWebJobsStorage__clientId']],
    ['the identity named twice', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: CLIENT_ID, AzureWebJobsStorage__managedIdentityResourceId: IDENTITY_ID }, ['AzureWebJobsStorage__clientId']],
    ['a client secret', { AzureWebJobsStorage__accountName: 'stgovernor', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientSecret: 's3cret-value' }, ['AzureWebJobsStorage__clientSecret']],
  ])('is refused with %s, naming the setting', (_case, env, settings) => {
    const { config, problems } = storage(env);
    expect(config).toBeUndefined();
    expect(named(problems)).toEqual(settings);
    expect(problems.join('\n')).not.toContain('s3cret-value');
  });

  it('stops the app as a ConfigurationError', async () => {
    const { loadConfig } = await import('../../shared/adapters/config');
    const run = (): unknown => loadConfig({ AzureWebJobsStorage__accountName: 'stgovernor', HSM_URL: 'https://contoso.managedhsm.azure.net', AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47' });
    expect(run).toThrow(ConfigurationError);
    expect(run).toThrow(/AzureWebJobsStorage__credential is not set/);
  });

  it('says what to set when no storage setting is there at all', () => {
    expect(storage({}).problems).toEqual([expect.stringMatching(/^AzureWebJobsStorage is not set/)]);
  });
});

describe('a connection string in AzureWebJobsStorage', () => {
  it('wins over AzureWebJobsStorage__* settings, as the exact match does for the Functions host', () => {
    const connectionString = `DefaultEndpointsProtocol=https;AccountName=stgovernor;AccountKey=${KEY};EndpointSuffix=core.usgovcloudapi.net`;
    const { config, problems } = storage({ AzureWebJobsStorage: connectionString, AzureWebJobsStorage__accountName: 'other' });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      kind: 'connectionString',
      connectionString,
      endpoints: { table: 'https://stgovernor.table.core.usgovcloudapi.net', queue: 'https://stgovernor.queue.core.usgovcloudapi.net', blob: 'https://stgovernor.blob.core.usgovcloudapi.net' },
    });
  });

  it('takes explicit endpoints and development storage', () => {
    const azurite = 'DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=https://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=https://127.0.0.1:10001/devstoreaccount1;TableEndpoint=https://127.0.0.1:10002/devstoreaccount1/;';
    expect(storage({ AzureWebJobsStorage: azurite }).config?.endpoints).toEqual({ blob: 'https://127.0.0.1:10000/devstoreaccount1', queue: 'https://127.0.0.1:10001/devstoreaccount1', table: 'https://127.0.0.1:10002/devstoreaccount1' });
    expect(storage({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).config?.endpoints.queue).toBe('http://127.0.0.1:10001/devstoreaccount1');
  });

  it('is refused without a key, or with a SAS that names no queue endpoint, never repeating the value', () => {
    expect(storage({ AzureWebJobsStorage: 'AccountName=stgovernor' }).problems).toEqual([expect.stringMatching(/^AzureWebJobsStorage must be a storage connection string/)]);
    const sas = storage({ AzureWebJobsStorage: 'SharedAccessSignature=sv=2022&sig=secretsig;TableEndpoint=https://st.table.core.windows.net' });
    expect(named(sas.problems)).toEqual(['AzureWebJobsStorage']);
    expect(sas.problems.join()).not.toContain('secretsig');
    expect(named(storage({ AzureWebJobsStorage: `DefaultEndpointsProtocol=http;AccountName=stgovernor;AccountKey=${KEY}` }).problems)).toEqual(['AzureWebJobsStorage']);
  });
});

describe('STORAGE_CA_FILE', () => {
  it('adds the CA every storage client trusts, and a file that is not a certificate is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'storage-ca-'));
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'not.pem'), 'hello');
    const base = { AzureWebJobsStorage: 'UseDevelopmentStorage=true' };
    expect(storage({ ...base, STORAGE_CA_FILE: join(dir, 'ca.pem') }).config?.caPem).toContain('BEGIN CERTIFICATE');
    expect(named(storage({ ...base, STORAGE_CA_FILE: join(dir, 'not.pem') }).problems)).toEqual(['STORAGE_CA_FILE']);
  });
});

describe('the identity storage is reached as', () => {
  const service = { identity: { clientId: CLIENT_ID }, credential: new ManagedIdentityCredential({ clientId: CLIENT_ID }) };
  const identity = (storageIdentity: object): StorageConfig => ({ kind: 'identity', identity: storageIdentity, endpoints: { table: 'https://t', queue: 'https://q' } });

  it('is the service credential itself when the connection names the same identity, another one otherwise', () => {
    expect(createStorageCredential(identity({ clientId: CLIENT_ID }), service)).toBe(service.credential);
    expect(createStorageCredential(identity({}), service)).not.toBe(service.credential);
    expect(createStorageCredential(identity({ resourceId: IDENTITY_ID }), service)).toBeInstanceOf(ManagedIdentityCredential);
  });
});

describe('the local host resolves a binding connection as the Functions host does', () => {
  it('takes the exact setting as a connection string, before any <connection>__* setting', () => {
    expect(resolveQueueConnection('AzureWebJobsStorage', { AzureWebJobsStorage: 'UseDevelopmentStorage=true', AzureWebJobsStorage__queueServiceUri: 'https://st.queue.core.windows.net' }))
      .toEqual({ kind: 'connectionString', setting: 'AzureWebJobsStorage', connectionString: 'UseDevelopmentStorage=true' });
  });

  it('reads __queueServiceUri, the __serviceUri alias or __accountName, with the connection\'s credential', () => {
    expect(resolveQueueConnection(undefined, { AzureWebJobsStorage__queueServiceUri: 'https://127.0.0.1:10001/devstoreaccount1/', AzureWebJobsStorage__serviceUri: 'https://x', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: CLIENT_ID }))
      .toEqual({ kind: 'identity', setting: 'AzureWebJobsStorage', serviceUri: 'https://127.0.0.1:10001/devstoreaccount1', credential: { type: 'managedidentity', clientId: CLIENT_ID } });
    expect(resolveQueueConnection('Jobs', { Jobs__serviceUri: 'https://jobs.queue.core.windows.net' }))
      .toEqual({ kind: 'identity', setting: 'Jobs', serviceUri: 'https://jobs.queue.core.windows.net', credential: { type: 'default' } });
    expect(resolveQueueConnection('AzureWebJobsStorage', { AzureWebJobsStorage__accountName: 'stgovernor' })).toMatchObject({ serviceUri: 'https://stgovernor.queue.core.windows.net' });
  });

  it('looks for AzureWebJobs<name> before <name>', () => {
    expect(resolveQueueConnection('Jobs', { AzureWebJobsJobs: 'UseDevelopmentStorage=true', Jobs__queueServiceUri: 'https://jobs.queue.core.windows.net' })).toMatchObject({ setting: 'AzureWebJobsJobs' });
  });

  it('fails with the host\'s message when the connection is missing or names no queue service', () => {
    expect(() => resolveQueueConnection(undefined, {})).toThrow("Storage account connection string 'AzureWebJobsStorage' does not exist");
    expect(() => resolveQueueConnection('Jobs', { Jobs__credential: 'managedidentity' })).toThrow('The Jobs__queueServiceUri was not found');
  });
});

describe('the deployment (infra/main.bicep)', () => {
  const main = readFileSync(join(__dirname, '..', '..', 'infra', 'main.bicep'), 'utf8');

  it('sets an identity-based connection the app accepts, and no storage key', () => {
    const names = [...main.matchAll(/\{ name: '(AzureWebJobsStorage[A-Za-z_]*)', value: ([^}]+) \}/g)].map((m) => [m[1]!, m[2]!.trim()] as const);
    expect(names.map(([name]) => name)).not.toContain('AzureWebJobsStorage');
    // The values as the template resolves them: the account's name, the literal credential, the identity's client id.
    const sample: Record<string, string> = { 'storage.name': 'stgovernor', "'managedidentity'": 'managedidentity', 'identity.properties.clientId': CLIENT_ID };
    const env = Object.fromEntries(names.map(([name, value]) => [name, sample[value] ?? value]));
    const { config, problems } = storage(env);
    expect(problems).toEqual([]);
    expect(config).toMatchObject({ kind: 'identity', identity: { clientId: CLIENT_ID } });
  });

  it('grants the identity the data roles Azurite does not check: table and queue data contributor', () => {
    const storageRoles = /resource storageAccess '[^']+' = \[for role in \[([^\]]+)\]/.exec(main)?.[1] ?? '';
    expect(storageRoles).toContain('roles.storageTableDataContributor');
    expect(storageRoles).toContain('roles.storageQueueDataContributor');
    expect(main).toMatch(/storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'/);
    expect(main).toMatch(/storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'/);
  });
});
