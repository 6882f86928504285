import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { startArmEmulator, type ArmEmulator, type ArmSeed } from '../../dev/arm-emulator';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';

/**
 * Conformance: the REST API specification's examples for Microsoft.Authorization, replayed in order
 * against the ARM emulator seeded with what each assumes exists. Each must get the documented
 * status, and every field the documented answer has (at the top and in `properties`).
 */
const EXAMPLES = join(__dirname, '..', 'fixtures', 'arm-recordings', 'rest-api-examples');

interface Example {
  parameters: Record<string, unknown> & { scope: string; 'api-version': string; parameters?: unknown; $filter?: string };
  responses: Record<string, { body?: Record<string, unknown> }>;
}

const read = (name: string): Example => JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8')) as Example;

/** The operation an example documents: its method and the path under its scope. */
const OPERATIONS: Record<string, { method: string; path: (p: Example['parameters']) => string }> = {
  PutRoleAssignmentScheduleRequest: { method: 'PUT', path: (p) => `roleAssignmentScheduleRequests/${String(p.roleAssignmentScheduleRequestName)}` },
  GetRoleAssignmentScheduleRequestByName: { method: 'GET', path: (p) => `roleAssignmentScheduleRequests/${String(p.roleAssignmentScheduleRequestName)}` },
  GetRoleAssignmentScheduleRequestByScope: { method: 'GET', path: () => 'roleAssignmentScheduleRequests' },
  CancelRoleAssignmentScheduleRequestByName: { method: 'POST', path: (p) => `roleAssignmentScheduleRequests/${String(p.roleAssignmentScheduleRequestName)}/cancel` },
  RoleAssignments_CreateForSubscription: { method: 'PUT', path: (p) => `roleAssignments/${String(p.roleAssignmentName)}` },
};

let idp: IdentityProvider;

beforeAll(async () => {
  idp = await startIdentityProvider();
});

afterAll(async () => {
  await idp.close();
});

function call(arm: ArmEmulator, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: arm.port, method, path, ca: arm.caPem, headers: { authorization: `Bearer ${token}`, ...(text ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

function pathOf(name: string, example: Example): string {
  const { parameters } = example;
  const query = new URLSearchParams({ 'api-version': parameters['api-version'], ...(parameters.$filter ? { $filter: parameters.$filter } : {}) });
  return `/${parameters.scope}/providers/Microsoft.Authorization/${OPERATIONS[name].path(parameters)}?${query.toString()}`;
}

/** The documented fields the answer lacks, at the top and in `properties` (of the first item of a list). */
function missingFields(documented: Record<string, unknown> | undefined, answer: Record<string, unknown>): string[] {
  if (!documented) return [];
  const [doc, got] = Array.isArray(documented.value) ? [documented.value[0] as Record<string, unknown>, (answer.value as Array<Record<string, unknown>> | undefined)?.[0] ?? {}] : [documented, answer];
  const top = Object.keys(doc).filter((key) => !(key in got));
  const properties = Object.keys((doc.properties as object | undefined) ?? {}).filter((key) => !(key in ((got.properties as object | undefined) ?? {})));
  return [...top, ...properties.map((key) => `properties.${key}`)];
}

async function replay(arm: ArmEmulator, token: string, name: string, example: Example = read(name)): Promise<void> {
  const answer = await call(arm, token, OPERATIONS[name].method, pathOf(name, example), example.parameters.parameters);
  // An example may document several answers (201 created, 200 updated): the one given must be among them.
  expect({ name, status: Object.keys(example.responses).includes(String(answer.status)) }).toEqual({ name, status: true });
  expect({ name, missing: missingFields(example.responses[String(answer.status)]?.body, answer.body) }).toEqual({ name, missing: [] });
}

const PIM_SUBSCRIPTION = 'dfa2a084-766f-4003-8ae1-c4aeb893a99f';
const PIM_PRINCIPAL = 'a3bb8764-cb92-4276-9d2a-ca1e895e55ea';

/** What the PIM examples assume: their subscription, the role they name, and the principal's eligible assignment. */
const pimSeed = (): ArmSeed => ({
  principals: [{ objectId: PIM_PRINCIPAL, type: 'User', displayName: 'User Account' }],
  roleDefinitions: [{ name: 'c8d4ff99-41c3-41a8-9f60-21dfdad59608', roleName: 'Contributor (example)', actions: ['*'], notActions: ['Microsoft.Authorization/*/Write'], assignableScopes: [`/subscriptions/${PIM_SUBSCRIPTION}`] }],
  roleEligibilities: [{ name: 'b1477448-2cc6-4ceb-93b4-54a202a89413', scope: `/subscriptions/${PIM_SUBSCRIPTION}`, role: 'c8d4ff99-41c3-41a8-9f60-21dfdad59608', principalId: PIM_PRINCIPAL }],
});

async function withArm(subscriptionId: string, seed: ArmSeed, body: (arm: ArmEmulator) => Promise<void>): Promise<void> {
  const arm = await startArmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, subscriptionId, seed });
  try {
    await body(arm);
  } finally {
    await arm.close();
  }
}

it('replays the PIM examples: SelfActivate of an eligible assignment, then the request by name and by assignedTo()', async () => {
  const token = await idp.issueToken('dave', { audience: 'https://management.azure.com', claims: { oid: PIM_PRINCIPAL } });
  await withArm(PIM_SUBSCRIPTION, pimSeed(), async (arm) => {
    for (const name of ['PutRoleAssignmentScheduleRequest', 'GetRoleAssignmentScheduleRequestByName', 'GetRoleAssignmentScheduleRequestByScope']) await replay(arm, token, name);
  });
});

it('replays the cancel example on the request it names, made with a start still to come', async () => {
  const token = await idp.issueToken('dave', { audience: 'https://management.azure.com', claims: { oid: PIM_PRINCIPAL } });
  await withArm(PIM_SUBSCRIPTION, pimSeed(), async (arm) => {
    const activation = read('PutRoleAssignmentScheduleRequest');
    const properties = (activation.parameters.parameters as { properties: { scheduleInfo: { startDateTime: string } } }).properties;
    properties.scheduleInfo.startDateTime = new Date(Date.now() + 86_400_000).toISOString();
    await replay(arm, token, 'PutRoleAssignmentScheduleRequest', activation);
    await replay(arm, token, 'CancelRoleAssignmentScheduleRequestByName');
  });
});

it('replays the role assignment example at a subscription for a caller who may assign there', async () => {
  const subscription = 'a925f2f7-5c63-4b7b-8799-25a5f97bc3b2';
  const owner = '0f35c3a6-2a4c-4a0f-9b8e-1a2b3c4d5e6f';
  const token = await idp.issueToken('sam', { audience: 'https://management.azure.com', claims: { oid: owner } });
  await withArm(subscription, {
    principals: [{ objectId: 'ce2ce14e-85d7-4629-bdbc-454d0519d987', type: 'User' }],
    roleDefinitions: [{ name: '0b5fe924-9a61-425c-96af-cfe6e287ca2d', roleName: 'Example role', actions: ['Microsoft.Resources/subscriptions/read'], assignableScopes: [`/subscriptions/${subscription}`] }],
    roleAssignments: [{ name: '5d8a3b1e-0c2f-4e6a-9b7d-3f1e2d4c5b6a', scope: `/subscriptions/${subscription}`, role: 'Owner', principalId: owner }],
  }, async (arm) => {
    await replay(arm, token, 'RoleAssignments_CreateForSubscription');
  });
});
