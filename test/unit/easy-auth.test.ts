import { identify, principalFromHeaders } from '../../shared/adapters/easyAuth';
import { ConfigurationError, loadConfig } from '../../shared/adapters/config';

const OID = '5424e0a9-6ba3-45e2-9d82-85a9cc74171d';
const TENANT = 'a7f8a5ce-8fe6-4690-942d-d7a0682c5867';
const GROUP_A = '76891f9e-0de4-4e47-a3fd-e29f364921cd';
const GROUP_B = '32aa04a7-4444-4715-9a60-d45fcccbabb5';
const OBJECT_ID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const TENANT_ID = 'http://schemas.microsoft.com/identity/claims/tenantid';
const NAME_TYPE = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name';

function encode(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64');
}

function principal(claims: Array<{ typ: string; val: string }>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { auth_typ: 'aad', claims, name_typ: NAME_TYPE, role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role', ...extra };
}

const samClaims = [
  { typ: OBJECT_ID, val: OID },
  { typ: TENANT_ID, val: TENANT },
  { typ: 'name', val: 'Sam Security' },
  { typ: 'preferred_username', val: 'sam@contoso.example' },
  { typ: 'groups', val: GROUP_A },
  { typ: 'groups', val: GROUP_B },
  { typ: NAME_TYPE, val: 'sam@contoso.example' },
];

function headersFor(body: unknown, id = OID): Record<string, string> {
  return {
    'x-ms-client-principal': encode(body),
    'x-ms-client-principal-id': id,
    'x-ms-client-principal-name': 'sam@contoso.example',
    'x-ms-client-principal-idp': 'aad',
  };
}

describe('principalFromHeaders', () => {
  it('reads the caller from the App Service headers', () => {
    expect(principalFromHeaders(headersFor(principal(samClaims)))).toEqual({
      principalId: OID, name: 'Sam Security', upn: 'sam@contoso.example', groups: [GROUP_A, GROUP_B], tenantId: TENANT,
    });
  });

  it('accepts a fetch Headers object and header names in any case', () => {
    const headers = new Headers(headersFor(principal(samClaims)));
    expect(principalFromHeaders(headers)?.principalId).toBe(OID);
    const upper = Object.fromEntries(Object.entries(headersFor(principal(samClaims))).map(([k, v]) => [k.toUpperCase(), v]));
    expect(principalFromHeaders(upper)?.principalId).toBe(OID);
  });

  it('returns undefined without the headers', () => {
    expect(principalFromHeaders({})).toBeUndefined();
    expect(principalFromHeaders({ 'x-ms-client-principal': encode(principal(samClaims)) })).toBeUndefined();
    expect(principalFromHeaders({ 'x-ms-client-principal-id': OID })).toBeUndefined();
  });

  it('refuses bad base64 and bad JSON', () => {
    const good = headersFor(principal(samClaims));
    expect(principalFromHeaders({ ...good, 'x-ms-client-principal': '%%%not base64%%%' })).toBeUndefined();
    expect(principalFromHeaders({ ...good, 'x-ms-client-principal': `${good['x-ms-client-principal']}!` })).toBeUndefined();
    expect(principalFromHeaders({ ...good, 'x-ms-client-principal': encode('{"auth_typ":"aad",') })).toBeUndefined();
    expect(principalFromHeaders({ ...good, 'x-ms-client-principal': encode('[1,2]') })).toBeUndefined();
    expect(principalFromHeaders({ ...good, 'x-ms-client-principal': encode('null') })).toBeUndefined();
  });

  it('refuses a principal of the wrong shape', () => {
    expect(principalFromHeaders(headersFor(principal(samClaims, { auth_typ: 'google' })))).toBeUndefined();
    expect(principalFromHeaders(headersFor({ auth_typ: 'aad', claims: 'nope' }))).toBeUndefined();
    expect(principalFromHeaders(headersFor(principal([...samClaims, { typ: 'groups', val: 42 } as never])))).toBeUndefined();
  });

  it('requires x-ms-client-principal-id to equal the object id claim', () => {
    expect(principalFromHeaders(headersFor(principal(samClaims), '118a1582-3083-4290-99fa-f8a33f52b810'))).toBeUndefined();
    expect(principalFromHeaders(headersFor(principal(samClaims), OID.toUpperCase()))?.principalId).toBe(OID);
  });

  it('requires exactly one well-formed object id and tenant id', () => {
    const without = (typ: string): Array<{ typ: string; val: string }> => samClaims.filter((c) => c.typ !== typ);
    expect(principalFromHeaders(headersFor(principal(without(OBJECT_ID))))).toBeUndefined();
    expect(principalFromHeaders(headersFor(principal(without(TENANT_ID))))).toBeUndefined();
    expect(principalFromHeaders(headersFor(principal([...samClaims, { typ: OBJECT_ID, val: '118a1582-3083-4290-99fa-f8a33f52b810' }])))).toBeUndefined();
    expect(principalFromHeaders(headersFor(principal([{ typ: OBJECT_ID, val: 'sam' }, { typ: TENANT_ID, val: TENANT }]), 'sam'))).toBeUndefined();
  });

  it('falls back to the name claim type and the principal-name header for the upn, and to the upn for the name', () => {
    const minimal = [{ typ: OBJECT_ID, val: OID }, { typ: TENANT_ID, val: TENANT }, { typ: NAME_TYPE, val: 'app-vm' }];
    expect(principalFromHeaders(headersFor(principal(minimal)))).toEqual({ principalId: OID, name: 'app-vm', upn: 'app-vm', groups: [], tenantId: TENANT });
    const bare = [{ typ: OBJECT_ID, val: OID }, { typ: TENANT_ID, val: TENANT }];
    expect(principalFromHeaders(headersFor(principal(bare)))?.upn).toBe('sam@contoso.example');
  });

  it('drops duplicate groups', () => {
    const claims = [...samClaims, { typ: 'groups', val: GROUP_A }];
    expect(principalFromHeaders(headersFor(principal(claims)))?.groups).toEqual([GROUP_A, GROUP_B]);
  });
});

describe('identify: the service tenant only', () => {
  it('is a caller of the service tenant (compared case-insensitively), wrong-tenant for another, anonymous without headers', () => {
    expect(identify(headersFor(principal(samClaims)), TENANT.toUpperCase())).toMatchObject({ kind: 'caller', principal: { principalId: OID, tenantId: TENANT } });
    const foreign = samClaims.map((c) => (c.typ === TENANT_ID ? { ...c, val: '0b2d7f3e-5c1a-4e8b-9f60-3d2c1b0a9e8f' } : c));
    expect(identify(headersFor(principal(foreign)), TENANT)).toEqual({ kind: 'wrong-tenant', tenantId: '0b2d7f3e-5c1a-4e8b-9f60-3d2c1b0a9e8f' });
    expect(identify({}, TENANT)).toEqual({ kind: 'anonymous' });
  });

  it('the app refuses to start without a valid AZURE_TENANT_ID, and names it', () => {
    const env = { AzureWebJobsStorage: 'UseDevelopmentStorage=true', HSM_URL: 'https://contoso.managedhsm.azure.net' };
    const problems = (settings: Record<string, string>): string[] => {
      try {
        loadConfig(settings);
      } catch (error) {
        return (error as ConfigurationError).problems;
      }
      return [];
    };
    expect(problems(env)).toEqual([expect.stringMatching(/^AZURE_TENANT_ID is not set/)]);
    expect(problems({ ...env, AZURE_TENANT_ID: 'contoso.onmicrosoft.com' })).toEqual(['AZURE_TENANT_ID must be the Entra tenant id (a GUID)']);
    expect(loadConfig({ ...env, AZURE_TENANT_ID: TENANT.toUpperCase() }).tenantId).toBe(TENANT);
  });
});
