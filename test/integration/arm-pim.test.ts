import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import { startArmEmulator, type ArmEmulator } from '../../dev/arm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { ARM_SEED, CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { ArmAssignmentPort, createArmAuthorizationClient, roleDefinitionIdFor } from '../../shared/adapters/arm-rbac';
import { HSM } from '../helpers/managementPlane';
import { sleep, waitUntil } from '../helpers/poll';

const SUBSCRIPTION = CONTOSO_SUBSCRIPTION_ID;
const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
/** PIM's shortest grant, five minutes, runs in one second of wall-clock time. */
const TIME_SCALE = 300;

let idp: IdentityProvider;
let arm: ArmEmulator;

function clientFor(persona: string, emulator: ArmEmulator = arm): AuthorizationManagementClient {
  return createArmAuthorizationClient({ endpoint: emulator.url, subscriptionId: SUBSCRIPTION, credential: new DevPersonaCredential(idp.url, persona), caPem: emulator.caPem, retryOptions: { maxRetries: 3, retryDelayInMs: 10 } });
}

function pimPort(client: AuthorizationManagementClient = clientFor('hsm-governor')): ArmAssignmentPort {
  return new ArmAssignmentPort(client, { subscriptionId: SUBSCRIPTION, mode: 'pim', justification: 'hsm-access-governor: approved request' });
}

function holds(emulator: ArmEmulator, principalId: string, roleGuid: string): boolean {
  return emulator.assignments().some((a) => a.properties.principalId === principalId && a.properties.roleDefinitionId.endsWith(roleGuid) && a.properties.scope === HSM);
}

beforeAll(async () => {
  idp = await startIdentityProvider();
  arm = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, seed: ARM_SEED, timeScale: TIME_SCALE });
});

afterAll(async () => {
  await arm.close();
  await idp.close();
});

describe('PIM role assignment schedule requests (2020-10-01)', () => {
  it('gives access on an AdminAssign request and takes it away at expiry with no call from the service', async () => {
    const port = pimPort();
    const grant = { name: randomUUID(), scope: HSM, roleId: READER, principalId: PERSONAS['app-vm'].oid, durationIso: 'PT5M' };
    const created = await port.create(grant);
    expect(created).toEqual({ outcome: 'created', hsmRequestId: arm.requests().find((r) => r.method === 'PUT' && r.path.endsWith(grant.name))?.requestId });
    expect(holds(arm, grant.principalId, READER)).toBe(true);

    const request = await clientFor('hsm-governor').roleAssignmentScheduleRequests.get(HSM, grant.name);
    expect(request).toMatchObject({
      name: grant.name,
      scope: HSM,
      requestType: 'AdminAssign',
      status: 'Provisioned',
      principalId: grant.principalId,
      principalType: 'ServicePrincipal',
      roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, READER),
      requestorId: PERSONAS['hsm-governor'].oid,
      justification: 'hsm-access-governor: approved request',
      scheduleInfo: { expiration: { type: 'AfterDuration', duration: 'PT5M' } },
    });
    const [schedule] = await (async () => {
      const found = [];
      for await (const s of clientFor('hsm-governor').roleAssignmentSchedules.listForScope(HSM, { filter: `principalId eq '${grant.principalId}'` })) found.push(s);
      return found;
    })();
    expect(schedule).toMatchObject({ name: request.targetRoleAssignmentScheduleId, assignmentType: 'Assigned', roleAssignmentScheduleRequestId: expect.stringMatching(new RegExp(`/${grant.name}$`)) });
    expect(schedule.endDateTime!.getTime() - schedule.startDateTime!.getTime()).toBe(5 * 60_000);

    await expect(port.create(grant)).resolves.toMatchObject({ outcome: 'existed' });
    await expect(port.listFor(HSM, grant.principalId)).resolves.toEqual([{ name: grant.name, scope: HSM, roleId: READER, principalId: grant.principalId }]);

    const started = Date.now();
    const gone = await waitUntil('the schedule to end', () => !holds(arm, grant.principalId, READER), { timeoutMs: 3000, intervalMs: 25 });
    expect(gone - started).toBeLessThan(1500);
    await expect(port.listFor(HSM, grant.principalId)).resolves.toEqual([]);
    await expect(port.remove(HSM, grant.name)).resolves.toEqual({ hsmRequestId: expect.any(String) });
  });

  it('removes a running grant with an AdminRemove aimed at its schedule, idempotently', async () => {
    const port = pimPort();
    const grant = { name: randomUUID(), scope: HSM, roleId: CONTRIBUTOR, principalId: PERSONAS.sara.oid, durationIso: 'PT1H' };
    await expect(port.create(grant)).resolves.toMatchObject({ outcome: 'created' });
    expect(holds(arm, grant.principalId, CONTRIBUTOR)).toBe(true);

    await expect(port.remove(HSM, grant.name)).resolves.toEqual({ hsmRequestId: expect.any(String) });
    expect(holds(arm, grant.principalId, CONTRIBUTOR)).toBe(false);
    const removals = [];
    for await (const request of clientFor('hsm-governor').roleAssignmentScheduleRequests.listForScope(HSM, { filter: `principalId eq '${grant.principalId}'` })) removals.push(request);
    expect(removals.map((r) => [r.requestType, r.status])).toEqual([
      ['AdminAssign', 'Provisioned'],
      ['AdminRemove', 'Revoked'],
    ]);
    // Removing it again only reads: nothing is left to end.
    const beforeAgain = arm.requests().length;
    await port.remove(HSM, grant.name);
    expect(arm.requests().slice(beforeAgain).filter((r) => r.method !== 'GET')).toEqual([]);
    await expect(port.listFor(HSM, grant.principalId)).resolves.toEqual([]);
  });

  it('reports access a standing assignment already gives as covered, and never removes that assignment', async () => {
    const standing = randomUUID();
    await clientFor('hsm-governor').roleAssignments.create(HSM, standing, { roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, READER), principalId: PERSONAS.alice.oid });
    const port = pimPort();
    const grant = { name: randomUUID(), scope: HSM, roleId: READER, principalId: PERSONAS.alice.oid, durationIso: 'PT1H' };
    await expect(port.create(grant)).resolves.toMatchObject({ outcome: 'covered' });
    const beforeRemove = arm.requests().length;
    await port.remove(HSM, grant.name);
    expect(arm.requests().slice(beforeRemove).filter((r) => r.method !== 'GET')).toEqual([]);
    await expect(port.listFor(HSM, PERSONAS.alice.oid)).resolves.toEqual([{ name: standing, scope: HSM, roleId: READER, principalId: PERSONAS.alice.oid }]);
    await clientFor('hsm-governor').roleAssignments.delete(HSM, standing);
  });

  it('applies the role settings: at least five minutes, an expiration, and the right to assign', async () => {
    const client = clientFor('hsm-governor');
    const base = { principalId: PERSONAS.sean.oid, roleDefinitionId: roleDefinitionIdFor(SUBSCRIPTION, READER), requestType: 'AdminAssign' };
    await expect(client.roleAssignmentScheduleRequests.create(HSM, randomUUID(), { ...base, scheduleInfo: { startDateTime: new Date(), expiration: { type: 'AfterDuration', duration: 'PT2S' } } })).rejects.toMatchObject({
      statusCode: 400,
      code: 'ActiveDurationTooShort',
    });
    await expect(client.roleAssignmentScheduleRequests.create(HSM, randomUUID(), { ...base, scheduleInfo: { expiration: { type: 'NoExpiration' } } })).rejects.toMatchObject({
      statusCode: 400,
      code: 'RoleAssignmentRequestPolicyValidationFailed',
    });
    await expect(pimPort(clientFor('dave')).create({ name: randomUUID(), scope: HSM, roleId: READER, principalId: PERSONAS.dave.oid, durationIso: 'PT1H' })).rejects.toMatchObject({
      statusCode: 403,
      code: 'AuthorizationFailed',
    });
    await expect(pimPort().create({ name: randomUUID(), scope: HSM, roleId: READER, principalId: PERSONAS.sean.oid })).rejects.toThrow(/needs a duration/);
    await expect(client.roleAssignmentScheduleRequests.get(HSM, randomUUID())).rejects.toMatchObject({ statusCode: 404 });
  });

  it('ends a grant whose time ran out while the emulator was down, at its next start', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'arm-pim-'));
    try {
      const first = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, seed: ARM_SEED, dataDir, timeScale: TIME_SCALE });
      const grant = { name: randomUUID(), scope: HSM, roleId: READER, principalId: PERSONAS.dana.oid, durationIso: 'PT5M' };
      await pimPort(clientFor('hsm-governor', first)).create(grant);
      expect(holds(first, grant.principalId, READER)).toBe(true);
      await first.close();
      await sleep(1100);

      const second = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId: SUBSCRIPTION, dataDir, timeScale: TIME_SCALE });
      try {
        expect(holds(second, grant.principalId, READER)).toBe(false);
        await expect(clientFor('hsm-governor', second).roleAssignmentScheduleRequests.get(HSM, grant.name)).resolves.toMatchObject({ status: 'Provisioned' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
