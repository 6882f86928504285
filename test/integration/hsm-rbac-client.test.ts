import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient, isHsmError, roleDefinitionIdFor, type HsmAccessControlClient, type KeyVaultRoleAssignment } from '../../shared/adapters/hsm-rbac';

const SEED = join(__dirname, '..', '..', 'examples', 'contoso', 'hsm-seed.json');
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const CRYPTO_AUDITOR = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';
const ADMINISTRATOR = 'a290e904-7015-4bba-90c8-60543313cdb4';

let idp: IdentityProvider;
let hsm: HsmEmulator;

function clientFor(persona: string, retry = { maxRetries: 6, retryDelayInMs: 10, maxRetryDelayInMs: 100 }): HsmAccessControlClient {
  return createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, persona), caPem: hsm.caPem, retry });
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

beforeAll(async () => {
  idp = await startIdentityProvider();
});

afterAll(async () => {
  await idp.close();
});

beforeEach(async () => {
  hsm = await startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: SEED, pageSize: 20 });
});

afterEach(async () => {
  await hsm.close();
});

describe('HSM RBAC client against the emulator over HTTPS', () => {
  it('creates, reads, lists and deletes assignments at /, /keys and /keys/{name}', async () => {
    const client = clientFor('hsm-governor');
    for (const scope of ['/', '/keys', '/keys/release-signing-key']) {
      const name = randomUUID();
      const principal = randomUUID();
      const created = await client.createRoleAssignment(scope, name, roleDefinitionIdFor(CRYPTO_AUDITOR), principal);
      expect(created).toMatchObject({ name, kind: 'Microsoft.Authorization/roleAssignments', properties: { scope, principalId: principal } });
      expect((await client.getRoleAssignment(scope, name)).properties.roleDefinitionId).toBe(roleDefinitionIdFor(CRYPTO_AUDITOR));
      const listed = await all(client.listRoleAssignments(scope, { filter: 'atScope()' }));
      expect(listed.map((a) => a.name)).toContain(name);
      await client.deleteRoleAssignment(scope, name);
      await expect(client.getRoleAssignment(scope, name)).rejects.toMatchObject({ statusCode: 404, code: 'RoleAssignmentNotFound' });
      await expect(client.deleteRoleAssignment(scope, name)).resolves.toBeUndefined();
    }
  });

  it('does not list key-level assignments at / and filters by principal', async () => {
    const client = clientFor('hsm-governor');
    const atRoot = await all(client.listRoleAssignments('/'));
    expect(atRoot.some((a) => a.properties.principalId === PERSONAS['app-vm'].oid)).toBe(false);
    const onKey = await all(client.listRoleAssignments('/keys/app-signing-key'));
    expect(onKey.map((a) => a.properties.principalId)).toContain(PERSONAS['app-vm'].oid);
    const filtered = await all(client.listRoleAssignments('/', { filter: `principalId eq '${PERSONAS['break-glass'].oid}'` }));
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((a) => a.properties.principalId === PERSONAS['break-glass'].oid)).toBe(true);
  });

  it('follows nextLink through every page: 50 at HSM scope in pages of 20, 10 on each of several keys', async () => {
    const client = clientFor('hsm-governor');
    const existing = await all(client.listRoleAssignments('/'));
    const toCreate = 50 - existing.length;
    for (let i = 0; i < toCreate; i++) await client.createRoleAssignment(i % 2 ? '/' : '/keys', randomUUID(), roleDefinitionIdFor(CRYPTO_AUDITOR), randomUUID());
    const pages: KeyVaultRoleAssignment[][] = [];
    for await (const page of client.listRoleAssignments('/').byPage()) pages.push(page);
    expect(pages.map((p) => p.length)).toEqual([20, 20, 10]);
    expect(new Set(pages.flat().map((a) => a.name)).size).toBe(50);
    await expect(client.createRoleAssignment('/', randomUUID(), roleDefinitionIdFor(CRYPTO_AUDITOR), randomUUID())).rejects.toMatchObject({ statusCode: 400 });

    for (const key of ['app-signing-key', 'release-signing-key', 'storage-cmk']) {
      const present = await all(client.listRoleAssignments(`/keys/${key}`, { filter: 'atScope()' }));
      for (let i = present.length; i < 10; i++) await client.createRoleAssignment(`/keys/${key}`, randomUUID(), roleDefinitionIdFor(CRYPTO_USER), randomUUID());
      const listed = await all(client.listRoleAssignments(`/keys/${key}`, { filter: 'atScope()' }));
      expect(listed).toHaveLength(10);
      const applying = await all(client.listRoleAssignments(`/keys/${key}`));
      expect(applying).toHaveLength(60);
      await expect(client.createRoleAssignment(`/keys/${key}`, randomUUID(), roleDefinitionIdFor(CRYPTO_USER), randomUUID())).rejects.toMatchObject({ statusCode: 400 });
    }
  });

  it('surfaces 400, 403, 404 and 429 with the HSM error codes', async () => {
    const client = clientFor('hsm-governor');
    const name = randomUUID();
    const principal = randomUUID();
    await client.createRoleAssignment('/', name, roleDefinitionIdFor(CRYPTO_AUDITOR), principal);
    await expect(client.createRoleAssignment('/', randomUUID(), roleDefinitionIdFor(CRYPTO_AUDITOR), principal)).rejects.toMatchObject({ statusCode: 400, code: 'MatchingRoleAssignmentExists' });
    await expect(client.createRoleAssignment('/', name, roleDefinitionIdFor(CRYPTO_USER), principal)).rejects.toMatchObject({ statusCode: 400, code: 'RoleAssignmentExists' });
    await expect(client.getRoleDefinition('/', 'does_not_exist')).rejects.toMatchObject({ statusCode: 404, code: 'RoleDefinitionNotFound' });

    const error = await clientFor('dave').createRoleAssignment('/', randomUUID(), roleDefinitionIdFor(ADMINISTRATOR), PERSONAS.dave.oid).catch((e: unknown) => e);
    expect(isHsmError(error, 'AccessDenied')).toBe(true);
    expect(error).toMatchObject({ statusCode: 403 });
    expect((error as Error).message).toMatch(/Not authorized to access Microsoft\.KeyVault\/managedHsm\/roleAssignments\/write\/action on \//);
    await expect(clientFor('alice').createRoleAssignment('/keys', randomUUID(), roleDefinitionIdFor(CRYPTO_USER), PERSONAS.alice.oid)).rejects.toMatchObject({ statusCode: 403 });

    hsm.setFaults({ throttle: 1 });
    const throttled = clientFor('hsm-governor', { maxRetries: 1, retryDelayInMs: 1, maxRetryDelayInMs: 2 });
    await expect(throttled.getRoleAssignment('/', name)).rejects.toMatchObject({ statusCode: 429, code: 'Throttled' });
  });

  it('manages custom role definitions and refuses to overwrite a built-in one', async () => {
    const client = clientFor('sam');
    const builtIns = await all(client.listRoleDefinitions('/'));
    expect(builtIns.map((d) => d.roleName)).toEqual(expect.arrayContaining(['Managed HSM Crypto User', 'Managed HSM Administrator']));
    const name = randomUUID();
    const created = await client.setRoleDefinition('/', { roleDefinitionName: name, roleName: 'Key Reader', permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] });
    expect(created).toMatchObject({ name, roleName: 'Key Reader', roleType: 'CustomRole' });
    expect((await client.getRoleDefinition('/', name)).roleName).toBe('Key Reader');
    await client.deleteRoleDefinition('/', name);
    await expect(client.getRoleDefinition('/', name)).rejects.toMatchObject({ code: 'RoleDefinitionNotFound' });
    await expect(client.setRoleDefinition('/', { roleDefinitionName: ADMINISTRATOR, roleName: 'x' })).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
  });

  it('treats a repeated create of the same assignment as success, as a retry after a lost answer meets it', async () => {
    const client = clientFor('hsm-governor');
    const name = randomUUID();
    const principal = randomUUID();
    const created = await client.createRoleAssignment('/keys/storage-cmk', name, roleDefinitionIdFor(CRYPTO_USER), principal);
    await expect(client.createRoleAssignment('/keys/storage-cmk', name, roleDefinitionIdFor(CRYPTO_USER), principal)).resolves.toMatchObject({ name: created.name });
    await expect(client.createRoleAssignment('/keys/storage-cmk', name, roleDefinitionIdFor(CRYPTO_AUDITOR), principal)).rejects.toMatchObject({ code: 'RoleAssignmentExists' });
  });

  it('retries through dropped connections', async () => {
    const client = clientFor('hsm-governor', { maxRetries: 20, retryDelayInMs: 1, maxRetryDelayInMs: 5 });
    hsm.setFaults({ drop: 0.5 });
    for (let i = 0; i < 10; i++) await expect(client.getRoleDefinition('/', CRYPTO_USER)).resolves.toMatchObject({ name: CRYPTO_USER });
    hsm.setFaults({});
    expect(hsm.requests().filter((r) => r.fault === 'drop').length).toBeGreaterThan(0);
  });

  it('completes 200 operations under 20% injected 429s and 503s with no error surfaced', async () => {
    const client = clientFor('hsm-governor', { maxRetries: 10, retryDelayInMs: 5, maxRetryDelayInMs: 50 });
    const before = await all(client.listRoleAssignments('/keys/release-signing-key', { filter: 'atScope()' }));
    hsm.setFaults({ throttle: 0.1, unavailable: 0.1 });
    const requestsBefore = hsm.requests().length;
    const live = new Map<string, string>();
    let operations = 0;
    for (let round = 0; operations < 200; round++) {
      const name = randomUUID();
      const principal = randomUUID();
      await client.createRoleAssignment('/keys/release-signing-key', name, roleDefinitionIdFor(CRYPTO_USER), principal);
      live.set(name, principal);
      await client.getRoleAssignment('/keys/release-signing-key', name);
      await all(client.listRoleAssignments('/keys/release-signing-key'));
      operations += 3;
      if (round % 2 === 1) {
        const [victim] = live.keys();
        await client.deleteRoleAssignment('/keys/release-signing-key', victim);
        live.delete(victim);
        operations += 1;
      }
      while (live.size >= 8 - before.length) {
        const [victim] = live.keys();
        await client.deleteRoleAssignment('/keys/release-signing-key', victim);
        live.delete(victim);
        operations += 1;
      }
    }
    hsm.setFaults({});
    const during = hsm.requests().slice(requestsBefore);
    expect(during.filter((r) => r.status === 429).length).toBeGreaterThan(10);
    expect(during.filter((r) => r.status === 503).length).toBeGreaterThan(10);
    const after = await all(client.listRoleAssignments('/keys/release-signing-key', { filter: 'atScope()' }));
    expect(after.map((a) => a.name).sort()).toEqual([...before.map((a) => a.name), ...live.keys()].sort());
  });
});

describe('HSM emulator state', () => {
  it('keeps assignments and keys across a restart with the same data folder, and seeds only the first time', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dataDir = mkdtempSync(join(tmpdir(), 'hsm-state-'));
    try {
      const first = await startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: SEED, dataDir });
      const client = createHsmAccessControlClient({ url: first.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: first.caPem });
      const name = randomUUID();
      await client.createRoleAssignment('/keys/storage-cmk', name, roleDefinitionIdFor(CRYPTO_AUDITOR), PERSONAS.alice.oid);
      await first.close();

      const second = await startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: { roleAssignments: [] }, dataDir });
      try {
        expect(second.caPem).toBe(first.caPem);
        expect(second.assignments().map((a) => a.name)).toContain(name);
        expect(second.keyNames().sort()).toEqual(['app-signing-key', 'release-signing-key', 'storage-cmk']);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
