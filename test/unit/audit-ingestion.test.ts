import { auditBlobName, usageReport, type HsmAuditRecord } from '../../shared/domain';
import { AuditIngestionService } from '../../shared/services/auditIngestion';
import { grant, MemoryBlobs, MemoryEvidenceStore, RecordingReactions } from '../helpers/evidenceFakes';

const HSM_ID = '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/RESOURCEGROUPS/CONTOSO/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSO-HSM';
const BLOB = auditBlobName(HSM_ID, new Date('2030-01-01T10:00:00Z'));
const APP_VM = '2c564836-0f4a-4ada-9cc4-6b2363d7a09e';
const DAVE = '118a1582-3083-4290-99fa-f8a33f52b810';
const SERVICE = '0f7c5b3e-0000-4000-8000-000000000001';
const SAM = '5424e0a9-6ba3-45e2-9d82-85a9cc74171d';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

function line(operationName: string, principal: string | undefined, status: number, path: string, time: string): string {
  const identity = principal ? JSON.stringify({ claim: { http_schemas_microsoft_com_identity: { claims: { objectidentifier: principal } } } }) : undefined;
  return `${JSON.stringify({ time, resourceId: HSM_ID, operationName, category: 'AuditEvent', resultType: status < 400 ? 'Success' : 'Failure', httpStatusCode: status, identity, requestUri: `https://contoso-hsm.managedhsm.azure.net${path}?api-version=7.4`, correlationId: `c-${time}` })}\n`;
}
const sign = (principal: string, status: number, time: string): string => line('KeySign', principal, status, '/keys/release-signing-key//sign', time);

function setup(grants = [grant({ id: 'g-used' }), grant({ id: 'g-unused', principalId: DAVE, ruleId: 'dave-rule' })], maxChunkBytes?: number) {
  const blobs = new MemoryBlobs();
  const store = new MemoryEvidenceStore();
  const reactions = new RecordingReactions();
  const service = new AuditIngestionService({ reader: blobs, store, reactions, log: silent, context: { grants: async () => grants, standing: [], hsm: 'contoso-hsm', serviceObjectId: SERVICE }, ...(maxChunkBytes ? { maxChunkBytes } : {}) });
  return { blobs, store, reactions, service, grants };
}

describe('audit log ingestion', () => {
  it('counts three signatures under the grant with first and last use; the other grant stays unused', async () => {
    const { blobs, store, service, grants } = setup();
    for (const minute of ['10', '11', '12']) blobs.append(BLOB, sign(APP_VM, 200, `2030-01-01T10:${minute}:00.000Z`));
    expect(await service.ingest(BLOB)).toMatchObject({ records: 3 });
    const report = usageReport(grants, await store.uses());
    expect(report.grants.find((g) => g.id === 'g-used')).toMatchObject({ used: true, firstUseAfterMs: 10 * 60_000, operations: [{ operation: 'KeySign', key: 'release-signing-key', count: 3, firstUse: '2030-01-01T10:10:00.000Z', lastUse: '2030-01-01T10:12:00.000Z' }] });
    expect(report.grants.find((g) => g.id === 'g-unused')).toMatchObject({ used: false, operations: [] });
    expect(report).toMatchObject({ used: 1, unused: 1 });
    expect(report.rules.find((r) => r.ruleId === 'release-signing')?.suggestion).toBe('grants last PT8H (median) but are used within PT12M: consider a default duration of PT15M');
    // With the policy's default durations it is the rule's default that is compared.
    const byDefault = usageReport(grants, await store.uses(), { 'release-signing': 4 * 3_600_000 });
    expect(byDefault.rules.find((r) => r.ruleId === 'release-signing')).toMatchObject({ defaultDurationMs: 4 * 3_600_000, suggestion: 'the default duration is PT4H but grants are used within PT12M: consider a default duration of PT15M' });
    expect(usageReport(grants, await store.uses(), { 'release-signing': 20 * 60_000 }).rules.find((r) => r.ruleId === 'release-signing')?.suggestion).toBeUndefined();
  });

  it('reads an appended blob from its checkpoint and leaves a half-written line for the next read', async () => {
    const { blobs, store, service } = setup();
    blobs.append(BLOB, sign(APP_VM, 200, '2030-01-01T10:10:00.000Z'));
    const second = sign(APP_VM, 200, '2030-01-01T10:20:00.000Z');
    blobs.append(BLOB, second.slice(0, 30));
    expect(await service.ingest(BLOB)).toMatchObject({ records: 1 });
    blobs.append(BLOB, second.slice(30));
    expect(await service.ingest(BLOB)).toMatchObject({ records: 1 });
    expect(await service.ingest(BLOB)).toMatchObject({ records: 0 });
    expect(await store.uses('g-used')).toHaveLength(2);
  });

  it('redoes a step whose checkpoint was never moved (a crash) without counting anything twice', async () => {
    const { blobs, store, service } = setup();
    blobs.append(BLOB, sign(APP_VM, 200, '2030-01-01T10:10:00.000Z') + sign(APP_VM, 200, '2030-01-01T10:11:00.000Z'));
    const advance = store.advance.bind(store);
    store.advance = async () => { throw new Error('killed before the checkpoint'); };
    await expect(service.ingest(BLOB)).rejects.toThrow('killed');
    store.advance = advance;
    await service.ingest(BLOB);
    expect(await store.uses('g-used')).toHaveLength(2);
  });

  it('reads a large blob in bounded pieces, each moving the checkpoint', async () => {
    const { blobs, store, service } = setup(undefined, 600);
    for (let i = 0; i < 10; i++) blobs.append(BLOB, sign(APP_VM, 200, `2030-01-01T10:${String(10 + i)}:00.000Z`));
    expect(await service.ingest(BLOB)).toMatchObject({ records: 10 });
    expect(store.checkpoints.get(BLOB)?.version).toBeGreaterThan(1);
    expect(await store.uses('g-used')).toHaveLength(10);
  });

  it('reports refusals per principal and key, and a persistent one once', async () => {
    const { blobs, store, reactions, service } = setup([]);
    for (const minute of ['10', '11', '12', '13']) blobs.append(BLOB, sign(APP_VM, 403, `2030-01-01T10:${minute}:00.000Z`));
    await service.ingest(BLOB);
    expect(await store.refusalCount(APP_VM, 'release-signing-key')).toBe(4);
    blobs.append(BLOB, sign(APP_VM, 403, '2030-01-01T10:14:00.000Z'));
    await service.ingest(BLOB);
    expect(reactions.calls.filter((c) => c.what === 'persistent-refusals')).toEqual([{ what: 'persistent-refusals', onceKey: `evidence|refusals|${APP_VM}|release-signing-key`, detail: { principalId: APP_VM, key: 'release-signing-key', count: 4 } }]);
  });

  it('sees a role assignment written by anyone but the service, and use outside any grant', async () => {
    const { blobs, reactions, service } = setup([]);
    const path = '/keys/release-signing-key/providers/Microsoft.Authorization/roleAssignments/x1';
    blobs.append(BLOB, line('RoleAssignmentCreate', SAM, 201, path, '2030-01-01T10:10:00.000Z'));
    blobs.append(BLOB, line('RoleAssignmentCreate', SERVICE, 201, path, '2030-01-01T10:11:00.000Z'));
    blobs.append(BLOB, line('RoleAssignmentDelete', SAM, 403, path, '2030-01-01T10:12:00.000Z'));
    blobs.append(BLOB, sign(DAVE, 200, '2030-01-01T10:13:00.000Z'));
    await service.ingest(BLOB);
    expect(reactions.calls.map((c) => [c.what, (c.detail as HsmAuditRecord).principalId])).toEqual([['assignment-change', SAM], ['outside-any-grant', DAVE]]);
  });

  it('leaves blobs outside the AuditEvent layout alone', async () => {
    const { blobs, service } = setup();
    blobs.append('other/PT1H.json', sign(APP_VM, 200, '2030-01-01T10:10:00.000Z'));
    expect(await service.ingest('other/PT1H.json')).toMatchObject({ records: 0 });
  });
});
