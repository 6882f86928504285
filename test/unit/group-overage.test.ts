import { callerFromPayload, personaPayload, principalHeaders } from '../../dev/host/easyAuth';
import { overageClaims } from '../../dev/idp/server';
import { PERSONAS, TENANT_ID } from '../../dev/personas';
import { groupOverageOf, principalFromHeaders } from '../../shared/adapters/easyAuth';

const OBJECT_ID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const TENANT = 'http://schemas.microsoft.com/identity/claims/tenantid';
const SAM = PERSONAS.sam;

function headersWith(claims: Array<{ typ: string; val: string }>): Record<string, string> {
  const principal = { auth_typ: 'aad', claims: [{ typ: OBJECT_ID, val: SAM.oid }, { typ: TENANT, val: TENANT_ID }, ...claims], name_typ: 'name', role_typ: 'roles' };
  return { 'x-ms-client-principal': Buffer.from(JSON.stringify(principal)).toString('base64'), 'x-ms-client-principal-id': SAM.oid };
}

describe('groups overage in the caller\'s claims', () => {
  it('reads _claim_names naming groups (a JWT past 200 groups) as a distributed claim', () => {
    const claims = [
      { typ: '_claim_names', val: '{"groups":"src1"}' },
      { typ: '_claim_sources', val: '{"src1":{"endpoint":"https://graph.windows.net/t/users/u/getMemberObjects"}}' },
    ];
    expect(groupOverageOf(claims)).toBe('distributed-claim');
    expect(principalFromHeaders(headersWith(claims))).toMatchObject({ principalId: SAM.oid, groups: [], groupOverage: 'distributed-claim' });
  });

  it('reads hasgroups true (the implicit flow past 5 groups), however .NET capitalises it', () => {
    expect(groupOverageOf([{ typ: 'hasgroups', val: 'true' }])).toBe('hasgroups');
    expect(groupOverageOf([{ typ: 'hasgroups', val: 'True' }])).toBe('hasgroups');
    expect(principalFromHeaders(headersWith([{ typ: 'hasgroups', val: 'true' }]))?.groupOverage).toBe('hasgroups');
  });

  it('is no overage without those markers, or with markers that say something else', () => {
    expect(groupOverageOf([{ typ: 'groups', val: 'a' }])).toBeUndefined();
    expect(groupOverageOf([{ typ: 'hasgroups', val: 'false' }])).toBeUndefined();
    expect(groupOverageOf([{ typ: '_claim_names', val: '{"roles":"src1"}' }])).toBeUndefined();
    expect(groupOverageOf([{ typ: '_claim_names', val: 'groups' }])).toBeUndefined();
    expect(groupOverageOf([{ typ: '_claim_names', val: '["groups"]' }])).toBeUndefined();
    const plain = principalFromHeaders(headersWith([{ typ: 'groups', val: SAM.groups[0] }]));
    expect(plain).toEqual({ principalId: SAM.oid, name: SAM.oid, upn: SAM.oid, groups: [SAM.groups[0]], tenantId: TENANT_ID });
    expect(plain).not.toHaveProperty('groupOverage');
  });

  it.each(['distributed-claim', 'hasgroups'] as const)('finds a %s overage in a bearer token and a sign-in session alike, as App Service passes them on', (form) => {
    const payload = { ...personaPayload('sam', Math.floor(Date.now() / 1000) + 600), groups: undefined, ...overageClaims(form, SAM.oid) };
    for (const via of ['bearer', 'session'] as const) {
      const caller = callerFromPayload(payload, via);
      expect(caller).toBeDefined();
      const principal = principalFromHeaders(principalHeaders(caller!));
      expect(principal).toMatchObject({ principalId: SAM.oid, groups: [], groupOverage: form });
    }
  });
});
