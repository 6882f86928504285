import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationManagementClient, type RoleAssignment } from '@azure/arm-authorization';
import { startArmEmulator, type ArmEmulator, type ArmSeed } from '../../dev/arm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { ARM_SEED, CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import {
  ArmAssignmentPort,
  createArmAuthorizationClient,
  findRoleDefinitionByName,
  isArmError,
  resolveRoleGuid,
  roleDefinitionIdFor,
} from '../../shared/adapters/arm-rbac';

const SUBSCRIPTION = CONTOSO_SUBSCRIPTION_ID;
const SUBSCRIPTION_SCOPE = `/subscriptions/${SUBSCRIPTION}`;
const RESOURCE_GROUP = `${SUBSCRIPTION_SCOPE}/resourceGroups/contoso-security-rg`;
const HSM = `${RESOURCE_GROUP}/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
const ROLES = {
  owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  reader: 'acdd72a7-3385-48ef-bd42-f606fba81ae7',
  rbacAdministrator: 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
  managedHsmContributor: '18500a29-7fe2-46b2-a342-b16a415e101d',
} as const;
const FAST_RETRIES = { maxRetries: 4, retryDelayInMs: 10, maxRetryDelayInMs: 50 };

/** The Contoso seed plus two parents: break-glass owns the subscription, auditors read the resource group. */
function testSeed(): ArmSeed {
  const contoso = JSON.parse(readFileSync(ARM_SEED, 'utf8')) as ArmSeed;
  return {
    ...contoso,
    roleAssignments: [
      ...(contoso.roleAssignments ?? []),
      { name: '0b5a7c1e-51f3-4d4b-9b0e-6e2f1a8d3c01', scope: SUBSCRIPTION_SCOPE, role: 'Owner', principalId: PERSONAS['break-glass'].oid },
      { name: '0b5a7c1e-51f3-4d4b-9b0e-6e2f1a8d3c02', scope: RESOURCE_GROUP, role: 'Reader', principalId: PERSONAS.alice.oid },
    ],
  };
}

let idp: IdentityProvider;
let arm: ArmEmulator;

function clientFor(persona: string, retryOptions = FAST_RETRIES): AuthorizationManagementClient {
  return createArmAuthorizationClient({ endpoint: arm.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, persona), caPem: arm.caPem, retryOptions });
}

async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function raw(path: string, token?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: arm.port, path, method: 'GET', ca: arm.caPem, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const namesOf = (assignments: RoleAssignment[]): string[] => assignments.map((a) => a.name as string);

beforeAll(async () => {
  idp = await startIdentityProvider();
  arm = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, seed: testSeed(), pageSize: 5 });
});

afterAll(async () => {
  await arm.close();
  await idp.close();
});

afterEach(() => arm.setFaults({}));

describe('ARM emulator through AuthorizationManagementClient over HTTPS', () => {
  it('creates, reads, lists and deletes an assignment on the HSM resource as the service identity', async () => {
    // The SDK as any caller would build it: the emulator's endpoint, ARM's token audience, the local CA.
    const client = new AuthorizationManagementClient(new DevPersonaCredential(idp.url, 'hsm-governor'), SUBSCRIPTION, {
      endpoint: arm.url,
      credentialScopes: 'https://management.azure.com/.default',
      tlsOptions: { ca: arm.caPem },
    });
    const name = randomUUID();
    const created = await client.roleAssignments.create(HSM, name, { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.reader), principalId: PERSONAS['app-vm'].oid });
    expect(created).toMatchObject({
      id: `${HSM}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      type: 'Microsoft.Authorization/roleAssignments',
      scope: HSM,
      roleDefinitionId: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${ROLES.reader}`,
      principalId: PERSONAS['app-vm'].oid,
      principalType: 'ServicePrincipal',
      createdBy: PERSONAS['hsm-governor'].oid,
    });
    expect(await client.roleAssignments.get(HSM, name)).toMatchObject({ name, scope: HSM });
    expect(namesOf(await all(client.roleAssignments.listForScope(HSM, { filter: 'atScope()' })))).toContain(name);
    expect(arm.assignments().map((a) => a.name)).toContain(name);

    await client.roleAssignments.delete(HSM, name);
    await expect(client.roleAssignments.get(HSM, name)).rejects.toMatchObject({ statusCode: 404, code: 'RoleAssignmentNotFound' });
    const deleteAgain = arm.requests().length;
    await expect(client.roleAssignments.delete(HSM, name)).resolves.not.toHaveProperty('name');
    expect(arm.requests()[deleteAgain]).toMatchObject({ method: 'DELETE', status: 204 });
  });

  it('lists as ARM does: parents and children without a filter, at or above with atScope(), one principal everywhere', async () => {
    const client = clientFor('break-glass');
    const seeded = { owner: '0b5a7c1e-51f3-4d4b-9b0e-6e2f1a8d3c01', reader: '0b5a7c1e-51f3-4d4b-9b0e-6e2f1a8d3c02', hsmContributor: '19f641ca-b33f-50e1-aee1-2f7bd1a12ef0', governor: 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4' };

    const atHsm = namesOf(await all(client.roleAssignments.listForScope(HSM)));
    expect(atHsm).toEqual(expect.arrayContaining(Object.values(seeded)));
    const atGroup = namesOf(await all(client.roleAssignments.listForScope(RESOURCE_GROUP)));
    expect(atGroup).toEqual(expect.arrayContaining(Object.values(seeded)));
    const atGroupOnly = namesOf(await all(client.roleAssignments.listForScope(RESOURCE_GROUP, { filter: 'atScope()' })));
    expect(atGroupOnly).toEqual(expect.arrayContaining([seeded.owner, seeded.reader]));
    expect(atGroupOnly).not.toContain(seeded.hsmContributor);

    const team = await all(client.roleAssignments.listForScope(RESOURCE_GROUP, { filter: `principalId eq '${PERSONAS.sam.groups[0]}'` }));
    expect(team.map((a) => [a.name, a.principalType, a.scope])).toEqual([[seeded.hsmContributor, 'Group', HSM]]);
    const governorAtHsm = await all(client.roleAssignments.listForScope(HSM, { filter: `atScope() and principalId eq '${PERSONAS['hsm-governor'].oid}'` }));
    expect(namesOf(governorAtHsm)).toEqual([seeded.governor]);
    expect(namesOf(await all(client.roleAssignments.listForSubscription()))).toEqual(expect.arrayContaining(Object.values(seeded)));
    await expect(all(client.roleAssignments.listForScope(HSM, { filter: "roleName eq 'Owner'" }))).rejects.toMatchObject({ statusCode: 400 });
  });

  it('follows nextLink through pages of five', async () => {
    const client = clientFor('hsm-governor');
    const made = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const name = randomUUID();
      await client.roleAssignments.create(HSM, name, { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.reader), principalId: randomUUID(), principalType: 'ServicePrincipal' });
      made.add(name);
    }
    const pages: RoleAssignment[][] = [];
    for await (const page of client.roleAssignments.listForScope(HSM, { filter: 'atScope()' }).byPage()) pages.push(page);
    const listed = pages.flat();
    expect(pages.length).toBe(Math.ceil(listed.length / 5));
    expect(pages.slice(0, -1).every((page) => page.length === 5)).toBe(true);
    expect(new Set(namesOf(listed)).size).toBe(listed.length);
    expect(namesOf(listed)).toEqual(expect.arrayContaining([...made]));
    for (const name of made) await client.roleAssignments.delete(HSM, name);
  });

  it('answers a repeated create in place, and refuses the same access under another name with RoleAssignmentExists', async () => {
    const client = clientFor('hsm-governor');
    const name = randomUUID();
    const parameters = { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.reader), principalId: PERSONAS.dana.oid };
    await client.roleAssignments.create(HSM, name, parameters);
    await expect(client.roleAssignments.create(HSM, name, { ...parameters, description: 'again' })).resolves.toMatchObject({ name, description: 'again' });
    await expect(client.roleAssignments.create(HSM, randomUUID(), parameters)).rejects.toMatchObject({ statusCode: 409, code: 'RoleAssignmentExists' });
    await expect(client.roleAssignments.create(HSM, name, { ...parameters, roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.contributor) })).rejects.toMatchObject({
      statusCode: 400,
      code: 'RoleAssignmentUpdateNotPermitted',
    });
    await expect(client.roleAssignments.create(HSM, randomUUID(), { ...parameters, roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, randomUUID()) })).rejects.toMatchObject({
      statusCode: 400,
      code: 'RoleDefinitionDoesNotExist',
    });
    await expect(client.roleAssignments.create(HSM, randomUUID(), { ...parameters, principalType: 'Group' })).rejects.toMatchObject({ statusCode: 400, code: 'UnmatchedPrincipalType' });
    await expect(client.roleAssignments.create(HSM, 'not-a-guid', parameters)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidRoleAssignmentId' });
    await client.roleAssignments.delete(HSM, name);
  });

  it('refuses callers without the right at the scope or above with 403 AuthorizationFailed, naming client, action and scope', async () => {
    const name = randomUUID();
    const parameters = { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.reader), principalId: PERSONAS.dave.oid };
    const error = await clientFor('dave').roleAssignments.create(HSM, name, parameters).catch((e: unknown) => e);
    expect(isArmError(error, 'AuthorizationFailed')).toBe(true);
    expect(error).toMatchObject({ statusCode: 403 });
    expect((error as Error).message).toBe(
      `The client 'dave@contoso.example' with object id '${PERSONAS.dave.oid}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '${HSM}/providers/Microsoft.Authorization/roleAssignments/${name}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
    // Least privilege: the service may assign on the HSM resource, not on its resource group.
    await expect(clientFor('hsm-governor').roleAssignments.create(RESOURCE_GROUP, randomUUID(), parameters)).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    // Reader (inherited from the resource group) may list but not write; Managed HSM Contributor (by group) may not even read assignments.
    await expect(all(clientFor('alice').roleAssignments.listForScope(HSM))).resolves.toEqual(expect.arrayContaining([expect.objectContaining({ name: 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4' })]));
    await expect(clientFor('alice').roleAssignments.create(HSM, randomUUID(), parameters)).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining("'Microsoft.Authorization/roleAssignments/write'") });
    await expect(all(clientFor('sam').roleAssignments.listForScope(HSM))).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining("'Microsoft.Authorization/roleAssignments/read'") });
    await expect(clientFor('hsm-governor').roleAssignments.delete(SUBSCRIPTION_SCOPE, '0b5a7c1e-51f3-4d4b-9b0e-6e2f1a8d3c01')).rejects.toMatchObject({ statusCode: 403 });
  });

  it("challenges a missing or bad token with 401 and ARM's WWW-Authenticate", async () => {
    const path = `${HSM}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`;
    const anonymous = await raw(path);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toEqual({ code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." });
    expect(anonymous.headers['www-authenticate']).toBe(
      `Bearer authorization_uri="https://login.windows.net/${idp.tenantId}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
    );
    expect(anonymous.headers['x-ms-request-id']).toEqual(expect.any(String));

    const forged = await raw(path, 'not.a.token');
    expect(forged).toMatchObject({ status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } });
    const expired = await raw(path, await idp.issueToken('hsm-governor', { audience: 'https://management.azure.com', lifetimeSeconds: -120 }));
    expect(expired).toMatchObject({ status: 401, body: { error: { code: 'ExpiredAuthenticationToken' } } });

    const wrongAudience = createArmAuthorizationClient({ endpoint: arm.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: arm.caPem, credentialScopes: 'https://managedhsm.azure.net/.default' });
    const error = await wrongAudience.roleAssignments.get(HSM, 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4').catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 401, code: 'InvalidAuthenticationTokenAudience' });
    expect((error as Error).message).toContain("wrong audience or resource 'https://managedhsm.azure.net'");
  });

  it('serves built-in role definitions by id, by roleName filter, and at the tenant root', async () => {
    const client = clientFor('hsm-governor');
    await expect(client.roleDefinitions.get(HSM, ROLES.rbacAdministrator)).resolves.toMatchObject({
      id: `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${ROLES.rbacAdministrator}`,
      roleName: 'Role Based Access Control Administrator',
      roleType: 'BuiltInRole',
      permissions: [expect.objectContaining({ actions: expect.arrayContaining(['Microsoft.Authorization/roleAssignments/write']) })],
    });
    const byName = await all(client.roleDefinitions.list(HSM, { filter: "roleName eq 'Managed HSM Contributor'" }));
    expect(byName.map((d) => d.name)).toEqual([ROLES.managedHsmContributor]);
    await expect(client.roleDefinitions.getById(`/providers/Microsoft.Authorization/roleDefinitions/${ROLES.owner}`)).resolves.toMatchObject({ roleName: 'Owner' });
    await expect(client.roleDefinitions.get(HSM, randomUUID())).rejects.toMatchObject({ statusCode: 404, code: 'RoleDefinitionDoesNotExist' });

    await expect(findRoleDefinitionByName(client, HSM, 'reader')).resolves.toMatchObject({ guid: ROLES.reader, roleName: 'Reader', roleType: 'BuiltInRole' });
    await expect(resolveRoleGuid(client, HSM, 'User Access Administrator')).resolves.toBe('18d7d88d-d35e-4fb5-a5c3-7773c20a72d9');
    await expect(findRoleDefinitionByName(client, HSM, "Nobody's role")).resolves.toBeUndefined();
    await expect(resolveRoleGuid(client, HSM, 'Contoso Wizard')).rejects.toThrow(/Azure role 'Contoso Wizard' is not defined/);
    expect((await all(clientFor('break-glass').roleDefinitions.list(SUBSCRIPTION_SCOPE))).length).toBe(6);
  });

  it("retries a 429 after ARM's Retry-After and a 503 through the SDK's own retry policy", async () => {
    const client = clientFor('hsm-governor');
    const before = arm.requests().length;
    arm.setFaults({ next: ['throttle'], retryAfterSeconds: 1 });
    const started = Date.now();
    await expect(client.roleAssignments.get(HSM, 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4')).resolves.toMatchObject({ principalId: PERSONAS['hsm-governor'].oid });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    arm.setFaults({ next: ['unavailable', 'unavailable'] });
    await expect(client.roleAssignments.get(HSM, 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4')).resolves.toMatchObject({ principalId: PERSONAS['hsm-governor'].oid });
    expect(arm.requests().slice(before).map((r) => [r.status, r.fault])).toEqual([
      [429, 'throttle'],
      [200, undefined],
      [503, 'unavailable'],
      [503, 'unavailable'],
      [200, undefined],
    ]);

    arm.setFaults({ throttle: 1, retryAfterSeconds: 0 });
    await expect(clientFor('hsm-governor', { maxRetries: 1, retryDelayInMs: 1, maxRetryDelayInMs: 2 }).roleAssignments.get(HSM, randomUUID())).rejects.toMatchObject({
      statusCode: 429,
      code: 'SubscriptionRequestsThrottled',
    });
  });
});

describe('ArmAssignmentPort (assignment mode)', () => {
  const port = (): ArmAssignmentPort =>
    new ArmAssignmentPort(clientFor('hsm-governor'), {
      subscriptionId: SUBSCRIPTION,
      principalTypeOf: (principalId) => (principalId === PERSONAS['log-storage'].oid ? 'ServicePrincipal' : undefined),
      description: 'Granted by hsm-access-governor',
    });

  it('creates once, reports existed and covered, lists exactly at the scope, and removes idempotently', async () => {
    const grant = { name: randomUUID(), scope: HSM, roleId: ROLES.contributor, principalId: PERSONAS['log-storage'].oid };
    const created = await port().create(grant);
    expect(created.outcome).toBe('created');
    const put = arm.requests().find((r) => r.method === 'PUT' && r.path.endsWith(grant.name));
    expect(created.hsmRequestId).toBe(put?.requestId);
    expect(arm.assignments().find((a) => a.name === grant.name)?.properties).toMatchObject({ principalType: 'ServicePrincipal', scope: HSM });

    await expect(port().create(grant)).resolves.toMatchObject({ outcome: 'existed', hsmRequestId: expect.any(String) });
    await expect(port().create({ ...grant, name: randomUUID() })).resolves.toMatchObject({ outcome: 'covered' });
    await expect(port().create({ ...grant, roleId: ROLES.reader })).rejects.toThrow(/exists at .* with another role or principal/);

    await expect(port().listFor(HSM, PERSONAS['log-storage'].oid.toUpperCase())).resolves.toEqual([{ name: grant.name, scope: HSM, roleId: ROLES.contributor, principalId: PERSONAS['log-storage'].oid }]);
    // The service reads only where it may assign: the resource group is out of its reach.
    await expect(port().listFor(RESOURCE_GROUP, PERSONAS['log-storage'].oid)).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });

    await expect(port().remove(HSM, grant.name)).resolves.toEqual({ hsmRequestId: expect.any(String) });
    await expect(port().remove(HSM, grant.name)).resolves.toEqual({ hsmRequestId: expect.any(String) });
    await expect(port().listFor(HSM, PERSONAS['log-storage'].oid)).resolves.toEqual([]);
  });

  it('surfaces a refusal as the ARM error it is', async () => {
    const refused = new ArmAssignmentPort(clientFor('dave'), { subscriptionId: SUBSCRIPTION });
    const error = await refused.create({ name: randomUUID(), scope: HSM, roleId: ROLES.reader, principalId: PERSONAS.dave.oid }).catch((e: unknown) => e);
    expect(isArmError(error, 'AuthorizationFailed')).toBe(true);
  });
});

describe('ARM emulator state', () => {
  it('keeps assignments and its CA across a restart with the same data folder, and seeds only the first time', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'arm-state-'));
    try {
      const first = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, seed: ARM_SEED, dataDir });
      const name = randomUUID();
      const client = createArmAuthorizationClient({ endpoint: first.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: first.caPem });
      await client.roleAssignments.create(HSM, name, { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, ROLES.reader), principalId: PERSONAS.alice.oid });
      await first.close();

      const second = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, seed: { roleAssignments: [] }, dataDir });
      try {
        expect(second.caPem).toBe(first.caPem);
        expect(second.assignments().map((a) => a.name).sort()).toEqual([name, '19f641ca-b33f-50e1-aee1-2f7bd1a12ef0', 'dd12e8bd-875c-5cc7-9926-88ccddf01ea4'].sort());
        const again = createArmAuthorizationClient({ endpoint: second.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: second.caPem });
        await expect(again.roleAssignments.get(HSM, name)).resolves.toMatchObject({ principalId: PERSONAS.alice.oid, principalType: 'User' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a seed for another subscription', async () => {
    await expect(startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: randomUUID(), seed: ARM_SEED })).rejects.toThrow(/describes subscription/);
  });
});
