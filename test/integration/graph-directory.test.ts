import { request as httpsRequest } from 'node:https';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { startGraphEmulator, type GraphEmulator } from '../../dev/graph-emulator';
import { GROUPS, PERSONAS } from '../../dev/personas';
import { GraphDirectory, GRAPH_SCOPE } from '../../shared/adapters/graph';
import { DirectoryError } from '../../shared/services/directoryPorts';

/** The app's Graph adapter against the local Microsoft Graph, over HTTPS with tokens of the local identity provider. */

let idp: IdentityProvider;
let graph: GraphEmulator;
const APP = PERSONAS['hsm-governor'].oid;
const READ_MEMBERS_ONLY = PERSONAS['app-vm'].oid;

beforeAll(async () => {
  idp = await startIdentityProvider({ port: 0 });
  graph = await startGraphEmulator({
    entra: { issuer: idp.issuer, jwk: idp.publicJwk },
    applicationPermissions: { [APP]: ['GroupMember.Read.All', 'User.Read.All'], [READ_MEMBERS_ONLY]: ['GroupMember.Read.All'] },
  });
}, 60_000);

afterAll(async () => {
  await graph?.close();
  await idp?.close();
});

afterEach(() => graph.setFaults({}));

const directoryAs = (persona: string, pageSize?: number): GraphDirectory =>
  new GraphDirectory({ endpoint: graph.url, scope: GRAPH_SCOPE, caPem: graph.caPem, credential: new DevPersonaCredential(idp.url, persona), maxRetries: 0, ...(pageSize ? { pageSize } : {}) });

function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${graph.url}${path}`, { ca: graph.caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Microsoft Graph membership calls against the local stand-in', () => {
  it('refuses a call without a valid bearer token with 401, as Graph does', async () => {
    const anonymous = await rawGet(`/v1.0/users/${PERSONAS.sam.oid}/transitiveMemberOf`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
    const hsmToken = await idp.issueToken('hsm-governor', { audience: 'https://managedhsm.azure.net' });
    const wrongAudience = await rawGet(`/v1.0/users/${PERSONAS.sam.oid}/transitiveMemberOf`, { authorization: `Bearer ${hsmToken}` });
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.body).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: expect.stringContaining('Invalid audience') } });
  });

  it('lists a persona\'s security groups', async () => {
    await expect(directoryAs('hsm-governor').memberGroups(PERSONAS.sam.oid)).resolves.toEqual([GROUPS.securityTeam.oid]);
    await expect(directoryAs('hsm-governor').memberGroups(PERSONAS['break-glass'].oid)).resolves.toEqual([]);
  });

  it('follows @odata.nextLink through a user in hundreds of groups, nested ones included, and keeps only security groups', async () => {
    const dana = PERSONAS.dana.oid;
    const many = Array.from({ length: 250 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    for (const id of many) graph.putGroup({ id, displayName: `Project ${id.slice(-3)}`, members: [dana] });
    const outer = 'aaaaaaaa-0000-4000-8000-000000000001';
    graph.putGroup({ id: outer, displayName: 'All engineering', members: [GROUPS.appDevOps.oid] });
    graph.putGroup({ id: 'bbbbbbbb-0000-4000-8000-000000000002', displayName: 'Dana and friends (Microsoft 365)', securityEnabled: false, mailEnabled: true, members: [dana] });
    const before = graph.requests().length;
    const groups = await directoryAs('hsm-governor', 100).memberGroups(dana);
    expect(new Set(groups)).toEqual(new Set([GROUPS.appDevOps.oid, outer, ...many]));
    const pages = graph.requests().slice(before).filter((r) => r.path === `/v1.0/users/${dana}/transitiveMemberOf`);
    expect(pages.map((r) => r.status)).toEqual([200, 200, 200]);

    const raw = await rawGet(`/v1.0/users/${dana}/transitiveMemberOf?$select=id&$top=100`, { authorization: `Bearer ${await idp.issueToken('hsm-governor', { audience: 'https://graph.microsoft.com' })}` });
    expect(raw.body['@odata.nextLink']).toEqual(expect.stringContaining(`${graph.url}/v1.0/users/${dana}/transitiveMemberOf?`));
    expect((raw.body.value as unknown[])[0]).toEqual({ '@odata.type': '#microsoft.graph.group', id: expect.any(String) });
    expect(raw.headers['content-type']).toMatch(/^application\/json;odata\.metadata=minimal/);
  });

  it('lists a group\'s users transitively, with names when the app may read users', async () => {
    const nested = 'cccccccc-0000-4000-8000-000000000003';
    graph.putGroup({ id: nested, displayName: 'Security and auditors', members: [GROUPS.securityTeam.oid, PERSONAS.alice.oid, PERSONAS['app-vm'].oid] });
    const members = await directoryAs('hsm-governor', 2).membersOf(nested);
    expect(members).toEqual(expect.arrayContaining([
      { id: PERSONAS.sam.oid, displayName: 'Sam Security', userPrincipalName: 'sam@contoso.example' },
      { id: PERSONAS.alice.oid, displayName: 'Alice Auditor', userPrincipalName: 'alice@contoso.example' },
    ]));
    expect(members.map((m) => m.id).sort()).toEqual([PERSONAS.alice.oid, PERSONAS.sam.oid, PERSONAS.sara.oid, PERSONAS.sean.oid].sort());
    // With GroupMember.Read.All alone, Graph shows users it may not read with their id only.
    await expect(directoryAs('app-vm').membersOf(GROUPS.appAuditors.oid)).resolves.toEqual([{ id: PERSONAS.alice.oid }]);
  });

  it('says why when Graph refuses: no permission, no such user, Graph unavailable', async () => {
    await expect(directoryAs('dave').memberGroups(PERSONAS.sam.oid)).rejects.toMatchObject({ status: 403, code: 'Authorization_RequestDenied', reason: expect.stringContaining('GroupMember.Read.All') });
    await expect(directoryAs('hsm-governor').memberGroups(PERSONAS['app-vm'].oid)).rejects.toMatchObject({ status: 404, code: 'Request_ResourceNotFound' });
    graph.setFaults({ unavailable: 1 });
    const failure = await directoryAs('hsm-governor').memberGroups(PERSONAS.sam.oid).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DirectoryError);
    expect(failure).toMatchObject({ status: 503, code: 'ServiceUnavailable' });
  });
});
