import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditBlobName, completeLines, parseAuditBlobName, parseAuditLine, type HsmAuditRecord } from '../../../shared/domain';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'hsm-audit-logs');
const HSM_ID = '/SUBSCRIPTIONS/A1BA9AAA-0000-0000-0000-000000000000/RESOURCEGROUPS/CONTOSO-RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSO-HSM';

function recordOf(line: string): HsmAuditRecord {
  const parsed = parseAuditLine(line);
  if (!('record' in parsed)) throw new Error(`refused: ${parsed.refused}`);
  return parsed.record;
}

/** A record shaped as the public sample, for another operation. */
function sampleLike(overrides: Record<string, unknown>): string {
  const sample = JSON.parse(readFileSync(join(FIXTURES, 'microsoft-docs-backup-create.jsonl'), 'utf8')) as Record<string, unknown>;
  return JSON.stringify({ ...sample, ...overrides });
}

describe('AuditEvent records', () => {
  it('reads the sample record of Microsoft\'s Managed HSM logging page field by field', () => {
    const record = recordOf(readFileSync(join(FIXTURES, 'microsoft-docs-backup-create.jsonl'), 'utf8').trim());
    expect(record).toMatchObject({
      time: '2020-08-31T19:52:39.763Z',
      operationName: 'BackupCreate',
      resultType: 'Success',
      httpStatusCode: 202,
      principalId: 'b1c52bf0-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
      appId: '04b07795-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
      upn: 'admin@contoso.com',
      correlationId: '8806614c-ebc3-11ea-9e9b-00155db778ad',
      requestUri: 'https://ContosoMHSM.managedhsm.azure.net/backup',
      kind: 'other',
    });
    expect(record.resourceId).toMatch(/\/MANAGEDHSMS\/CONTOSOMHSM$/);
  });

  it('classifies key operations by name and key, and role-assignment calls by path and verb', () => {
    const sign = recordOf(sampleLike({ operationName: 'KeySign', httpStatusCode: 200, requestUri: 'https://contoso.managedhsm.azure.net/keys/Release-Signing-Key//sign?api-version=7.4' }));
    expect(sign).toMatchObject({ kind: 'key-operation', keyName: 'release-signing-key', scope: '/keys/release-signing-key' });
    const put = recordOf(sampleLike({ operationName: 'RoleAssignmentCreate', httpStatusCode: 201, requestUri: 'https://contoso.managedhsm.azure.net/keys/k1/providers/Microsoft.Authorization/roleAssignments/abc?api-version=7.4' }));
    expect(put).toMatchObject({ kind: 'role-assignment-write', scope: '/keys/k1', assignmentName: 'abc' });
    const del = recordOf(sampleLike({ operationName: 'RoleAssignmentDelete', requestUri: 'https://contoso.managedhsm.azure.net///providers/Microsoft.Authorization/roleAssignments/abc?api-version=7.4' }));
    expect(del).toMatchObject({ kind: 'role-assignment-delete', scope: '/' });
    const list = recordOf(sampleLike({ operationName: 'RoleAssignmentList', requestUri: 'https://contoso.managedhsm.azure.net///providers/Microsoft.Authorization/roleAssignments?api-version=7.4' }));
    expect(list.kind).toBe('other');
  });

  it('takes the identity as an object too, and an unauthenticated call has no principal', () => {
    expect(recordOf(sampleLike({ identity: { claim: { oid: 'ABC' } } })).principalId).toBe('abc');
    expect(recordOf(sampleLike({ identity: undefined, httpStatusCode: 401 })).principalId).toBeUndefined();
  });

  it('refuses what is not an AuditEvent record, with a reason', () => {
    expect(parseAuditLine('{not json')).toEqual({ refused: 'not JSON' });
    expect(parseAuditLine('[1]')).toEqual({ refused: 'not a JSON object' });
    expect(parseAuditLine(sampleLike({ time: 'yesterday' }))).toEqual({ refused: 'no valid time' });
    expect(parseAuditLine(sampleLike({ category: 'AzurePolicyEvaluationDetails' }))).toEqual({ refused: 'category AzurePolicyEvaluationDetails is not AuditEvent' });
  });
});

describe('PT1H.json blobs', () => {
  it('names an hour\'s blob as Azure Monitor does and reads it back', () => {
    const name = auditBlobName(HSM_ID, new Date('2026-12-02T09:41:07Z'));
    expect(name).toBe(`resourceId=${HSM_ID}/y=2026/m=12/d=02/h=09/m=00/PT1H.json`);
    expect(parseAuditBlobName(name)).toEqual({ resourceId: HSM_ID, hour: '2026-12-02T09:00:00Z' });
    expect(parseAuditBlobName('resourceId=/SUBSCRIPTIONS/x/y=2026/PT1H.json')).toBeUndefined();
  });

  it('hands out complete lines only, with their byte offsets, leaving a line being appended for later', () => {
    const bytes = new TextEncoder().encode('{"a":"é"}\n{"b":2}\r\n{"c":');
    const { lines, consumed } = completeLines(bytes, 100);
    expect(lines).toEqual([{ offset: 100, text: '{"a":"é"}' }, { offset: 111, text: '{"b":2}' }]);
    expect(consumed).toBe(20);
  });
});
