import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import { startArmEmulator, type ArmEmulator } from '../../dev/arm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createArmAuthorizationClient } from '../../shared/adapters/arm-rbac';

/** Conformance of the ARM emulator where real recordings and the REST specification show ARM's answers. */

const SUBSCRIPTION = '00000000-0000-0000-0000-00000000c0de';
const SUBSCRIPTION_SCOPE = `/subscriptions/${SUBSCRIPTION}`;
const RESOURCE_GROUP = `${SUBSCRIPTION_SCOPE}/resourceGroups/contoso-security-rg`;
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
const ELIGIBILITY = '7d0b1f6e-2a39-4f0e-9c41-1d2e3f4a5b60';

let idp: IdentityProvider;
let arm: ArmEmulator;

beforeAll(async () => {
  idp = await startIdentityProvider();
  arm = await startArmEmulator({
    issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION,
    seed: {
      roleAssignments: [{ name: randomUUID(), scope: SUBSCRIPTION_SCOPE, role: 'Owner', principalId: PERSONAS['break-glass'].oid }],
      roleEligibilities: [{ name: ELIGIBILITY, scope: RESOURCE_GROUP, role: 'Contributor', principalId: PERSONAS.dave.oid }],
    },
  });
});

afterAll(async () => {
  await arm.close();
  await idp.close();
});

const clientFor = (persona: string): AuthorizationManagementClient =>
  createArmAuthorizationClient({ endpoint: arm.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, persona), caPem: arm.caPem, retryOptions: { maxRetries: 0 } });

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const collected: T[] = [];
  for await (const item of items) collected.push(item);
  return collected;
}

async function raw(method: string, path: string, persona: string | undefined, body?: unknown): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: { error?: { code: string; message: string } } & Record<string, unknown> }> {
  const token = persona ? await idp.issueToken(persona, { audience: 'https://management.azure.com' }) : undefined;
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: arm.port, path, method, ca: arm.caPem, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(text ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

const customRole = (roleName: string) => ({
  roleName, description: 'Reads the HSM resource', roleType: 'CustomRole',
  permissions: [{ actions: ['Microsoft.KeyVault/managedHSMs/read'], notActions: [] }],
  assignableScopes: [RESOURCE_GROUP],
});

describe('role definitions', () => {
  it('refuses a write or delete by a caller without rights with 403 AuthorizationFailed, before looking at the body', async () => {
    const id = randomUUID();
    await expect(clientFor('dave').roleDefinitions.createOrUpdate(SUBSCRIPTION_SCOPE, id, customRole('Dave role'))).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    const badBody = await raw('PUT', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/${id}?api-version=2022-04-01`, 'dave', { nonsense: true });
    expect(badBody.status).toBe(403);
    await expect(clientFor('dave').roleDefinitions.delete(SUBSCRIPTION_SCOPE, CONTRIBUTOR)).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
  });

  it('writes, reads, updates and deletes a custom role for a caller who may, stamped with who and when', async () => {
    const owner = clientFor('break-glass');
    const id = randomUUID();
    const created = await owner.roleDefinitions.createOrUpdate(SUBSCRIPTION_SCOPE, id, customRole('HSM resource reader'));
    expect(created).toMatchObject({ name: id, roleType: 'CustomRole', roleName: 'HSM resource reader', assignableScopes: [RESOURCE_GROUP], createdBy: PERSONAS['break-glass'].oid, updatedBy: PERSONAS['break-glass'].oid });
    expect(created.createdOn).toBeInstanceOf(Date);
    const read = await owner.roleDefinitions.get(RESOURCE_GROUP, id);
    expect(read.roleName).toBe('HSM resource reader');
    const updated = await owner.roleDefinitions.createOrUpdate(SUBSCRIPTION_SCOPE, id, { ...customRole('HSM resource reader'), description: 'changed' });
    expect(updated.description).toBe('changed');
    expect(updated.createdOn).toEqual(created.createdOn);
    await expect(owner.roleDefinitions.createOrUpdate(SUBSCRIPTION_SCOPE, randomUUID(), customRole('HSM resource reader'))).rejects.toMatchObject({ statusCode: 409, code: 'RoleDefinitionWithSameNameExists' });
    const deleted = await owner.roleDefinitions.delete(SUBSCRIPTION_SCOPE, id);
    expect(deleted.name).toBe(id);
    await expect(owner.roleDefinitions.get(RESOURCE_GROUP, id)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('answers 400 InvalidRoleDefinitionId for a name that is not a GUID, and built-ins carry createdOn and updatedOn', async () => {
    const notGuid = await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/Contributor?api-version=2022-04-01`, 'break-glass');
    expect(notGuid.status).toBe(400);
    expect(notGuid.body.error?.code).toBe('InvalidRoleDefinitionId');
    const reader = await clientFor('break-glass').roleDefinitions.get(SUBSCRIPTION_SCOPE, READER);
    expect(reader).toMatchObject({ createdOn: expect.any(Date), updatedOn: expect.any(Date), createdBy: null, updatedBy: null });
  });
});

describe('api-versions, headers and throttling', () => {
  it('accepts the api-versions in use per resource type and refuses others', async () => {
    for (const version of ['2022-04-01', '2022-05-01-preview', '2018-01-01-preview']) {
      expect((await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/${READER}?api-version=${version}`, 'break-glass')).status).toBe(200);
    }
    for (const version of ['2020-10-01', '2022-04-01-preview', '2024-09-01-preview']) {
      expect((await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignmentSchedules?api-version=${version}`, 'break-glass')).status).toBe(200);
    }
    const refused = await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignmentSchedules?api-version=2022-04-01`, 'break-glass');
    expect(refused.status).toBe(400);
    expect(refused.body.error?.code).toBe('InvalidApiVersionParameter');
  });

  it('counts the subscription budget down in x-ms-ratelimit-remaining-subscription-* headers', async () => {
    const first = await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`, 'break-glass');
    const second = await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`, 'break-glass');
    expect(Number(second.headers['x-ms-ratelimit-remaining-subscription-reads'])).toBe(Number(first.headers['x-ms-ratelimit-remaining-subscription-reads']) - 1);
    const write = await raw('DELETE', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`, 'break-glass');
    expect(write.headers['x-ms-ratelimit-remaining-subscription-deletes']).toMatch(/^\d+$/);
  });

  it('throttles on demand with 429 SubscriptionRequestsThrottled and Retry-After', async () => {
    arm.setFaults({ next: ['throttle'], retryAfterSeconds: 7 });
    const throttled = await raw('GET', `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01`, 'break-glass');
    arm.setFaults({});
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('7');
    expect(throttled.body.error?.code).toBe('SubscriptionRequestsThrottled');
  });
});

describe('PIM', () => {
  const activation = (duration = 'PT1H') => ({
    principalId: PERSONAS.dave.oid, roleDefinitionId: `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`,
    requestType: 'SelfActivate', linkedRoleEligibilityScheduleId: ELIGIBILITY, justification: 'incident 42',
    scheduleInfo: { startDateTime: new Date(), expiration: { type: 'AfterDuration', duration } },
  } as const);

  it('self-activates an eligible assignment, lists it asTarget() and by assignedTo(), and self-deactivates it', async () => {
    const dave = clientFor('dave');
    const name = randomUUID();
    // Before activation Dave may list only his own.
    await expect(all(dave.roleAssignmentScheduleRequests.listForScope(RESOURCE_GROUP))).rejects.toMatchObject({ statusCode: 403 });
    expect(await all(dave.roleEligibilitySchedules.listForScope(RESOURCE_GROUP, { filter: 'asTarget()' }))).toEqual([expect.objectContaining({ name: ELIGIBILITY, principalId: PERSONAS.dave.oid })]);
    const request = await dave.roleAssignmentScheduleRequests.create(RESOURCE_GROUP, name, activation());
    expect(request).toMatchObject({ requestType: 'SelfActivate', status: 'Provisioned', requestorId: PERSONAS.dave.oid, scope: RESOURCE_GROUP });
    expect(arm.assignments().some((a) => a.properties.principalId === PERSONAS.dave.oid && a.properties.scope === RESOURCE_GROUP)).toBe(true);
    const mine = await all(dave.roleAssignmentSchedules.listForScope(RESOURCE_GROUP, { filter: 'asTarget()' }));
    expect(mine).toEqual([expect.objectContaining({ assignmentType: 'Activated', principalId: PERSONAS.dave.oid, linkedRoleEligibilityScheduleId: expect.stringMatching(new RegExp(`${ELIGIBILITY}$`)) })]);
    const byAdmin = await all(clientFor('break-glass').roleAssignmentScheduleRequests.listForScope(SUBSCRIPTION_SCOPE, { filter: `assignedTo('${PERSONAS.dave.oid}')` }));
    expect(byAdmin.map((r) => r.name)).toContain(name);
    const ended = await dave.roleAssignmentScheduleRequests.create(RESOURCE_GROUP, randomUUID(), { ...activation(), requestType: 'SelfDeactivate' });
    expect(ended.status).toBe('Revoked');
    expect(arm.assignments().some((a) => a.properties.principalId === PERSONAS.dave.oid)).toBe(false);
  });

  it('refuses activation without an eligible assignment, for another principal, and beyond eight hours', async () => {
    await expect(clientFor('dana').roleAssignmentScheduleRequests.create(RESOURCE_GROUP, randomUUID(), { ...activation(), principalId: PERSONAS.dana.oid }))
      .rejects.toMatchObject({ statusCode: 400, code: 'RoleAssignmentDoesNotExist' });
    await expect(clientFor('dana').roleAssignmentScheduleRequests.create(RESOURCE_GROUP, randomUUID(), activation())).rejects.toMatchObject({ statusCode: 403 });
    await expect(clientFor('dave').roleAssignmentScheduleRequests.create(RESOURCE_GROUP, randomUUID(), activation('PT9H')))
      .rejects.toMatchObject({ statusCode: 400, code: 'RoleAssignmentRequestPolicyValidationFailed' });
  });

  it('cancels a request whose schedule has not started, and refuses to cancel one in effect', async () => {
    const owner = clientFor('break-glass');
    const later = randomUUID();
    await owner.roleAssignmentScheduleRequests.create(RESOURCE_GROUP, later, {
      principalId: PERSONAS.alice.oid, roleDefinitionId: `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/${READER}`, requestType: 'AdminAssign',
      scheduleInfo: { startDateTime: new Date(Date.now() + 86_400_000), expiration: { type: 'AfterDuration', duration: 'PT1H' } },
    });
    await owner.roleAssignmentScheduleRequests.cancel(RESOURCE_GROUP, later);
    expect((await owner.roleAssignmentScheduleRequests.get(RESOURCE_GROUP, later)).status).toBe('Canceled');
    const now = randomUUID();
    await owner.roleAssignmentScheduleRequests.create(RESOURCE_GROUP, now, {
      principalId: PERSONAS.alice.oid, roleDefinitionId: `${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleDefinitions/${READER}`, requestType: 'AdminAssign',
      scheduleInfo: { startDateTime: new Date(), expiration: { type: 'AfterDuration', duration: 'PT1H' } },
    });
    await expect(owner.roleAssignmentScheduleRequests.cancel(RESOURCE_GROUP, now)).rejects.toMatchObject({ statusCode: 400 });
  });

  it('takes the subscription scope in the form /providers/Microsoft.Subscription/subscriptions/{id}', async () => {
    const listed = await raw('GET', `/providers/Microsoft.Subscription${SUBSCRIPTION_SCOPE}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests?api-version=2020-10-01&$filter=${encodeURIComponent('asTarget()')}`, 'dave');
    expect(listed.status).toBe(200);
    expect(Array.isArray(listed.body.value)).toBe(true);
  });
});
