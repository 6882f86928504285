// Keeps out scope traversal: no spelling of a scope (dot segments, encodings, backslashes, lookalikes, NUL, wildcards, ARM tricks) yields access broader than the policy allows.
import { PERSONAS } from '../../dev/personas';
import { CONTOSO_SUBSCRIPTION_ID } from '../../dev/stack';
import { APP_VM, problemOf, settledState, type StackState } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();

const KEY = '/keys/app-signing-key';
/** Spellings of a data plane scope that must never pass, each a known way to smuggle a broader or another scope. */
const HSM_SPELLINGS: readonly string[] = [
  '/keys/../', '/keys/..', '/keys/./', '/keys/.', '/..', '/./keys', `${KEY}/..`, `${KEY}/../..`, `${KEY}/.`,
  '/keys/%2e%2e', '/keys/%2e%2e/', '/keys/.%2e', '/keys%2F..', '/keys%2f', `${KEY}%2F..`, '/keys/%252e%252e', '/keys/%c0%ae%c0%ae', `${KEY}%00`,
  '/keys\\..', '\\keys\\app-signing-key', `${KEY}\\..`,
  '//keys/app-signing-key', '/keys//app-signing-key', '//', `${KEY}/`, '/keys/', `${KEY}.`, `${KEY}..`,
  '/keys/\uff41pp-signing-key', '/keys/app\u2010signing-key', '/keys/\uff0e\uff0e', '/keys/\u2024\u2024', `${KEY}\u200b`, '/keys/\u212aey',
  `${KEY}\u0000`, `${KEY}\n`, ` ${KEY}`, `${KEY} `, `${KEY}\t`,
  `/keys/${'a'.repeat(128)}`, `/keys/${'a'.repeat(5000)}`,
  '/KEYS/app-signing-key', '/Keys', '/KEYS',
  '/keys/*', '/keys/**', '/keys/*/', `${KEY}*`, '/keys/?', '/*',
  '/keys/a/b', `${KEY}/versions/1`, `${KEY}/providers/Microsoft.Authorization/roleAssignments/x`, '/deletedkeys/app-signing-key', '/subscriptions/../keys',
  `${KEY}?x=1`, `${KEY}#x`, `${KEY};/`, '/keys;/..', `${KEY},/`,
  '', 'keys/app-signing-key', 'app-signing-key', '/', '/keys',
];

const SUBSCRIPTION = `/subscriptions/${CONTOSO_SUBSCRIPTION_ID}`;
const HSM_RESOURCE = `${SUBSCRIPTION}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM`;
/** Management plane scopes: parents of the allowed resource, its children, lookalikes and malformed ids. */
const ARM_SPELLINGS: readonly string[] = [
  SUBSCRIPTION, `${SUBSCRIPTION}/resourceGroups/contoso-security-rg`, `${HSM_RESOURCE}/..`, `${HSM_RESOURCE}/../ContosoMHSM`, `${HSM_RESOURCE}/`,
  `${HSM_RESOURCE}//`, `${HSM_RESOURCE}%2f..`, `${HSM_RESOURCE}\\..`, `${HSM_RESOURCE}.`, `${HSM_RESOURCE} `, `${HSM_RESOURCE}/keys/x`,
  `${HSM_RESOURCE}/providers/Microsoft.Authorization/roleAssignments/x`, `${SUBSCRIPTION}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/*`,
  '/providers/Microsoft.Management/managementGroups/root', '/subscriptions/11111111-0000-0000-0000-00000000c0de/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM',
  `${SUBSCRIPTION}/resourceGroups/contoso-security-rg/providers/Microsoft.KeyVault/managedHSMs/ContosoMHSM2`, '/subscriptions', '/subscriptions/',
];

const SCOPE_REFUSALS = ['malformed-scope', 'scope-not-allowed'];

let before: StackState;
let hsmWritesBefore: number;

const hsmWrites = (): number => stack().stack.hsm.requests().filter((r) => r.method !== 'GET').length;

beforeAll(async () => {
  before = await settledState(stack());
  hsmWritesBefore = hsmWrites();
});

async function submit(persona: string, body: Record<string, unknown>): Promise<Response> {
  return stack().api('/api/requests', { persona, method: 'POST', body, headers: { 'content-type': 'application/json' } });
}

describe('scope traversal', () => {
  it(`refuses ${HSM_SPELLINGS.length} spellings of a data plane scope, for a one-key rule, an any-key rule and a rule without approval`, async () => {
    expect(HSM_SPELLINGS.length).toBeGreaterThanOrEqual(34);
    const requesters: Array<[string, Record<string, unknown>]> = [
      ['dave', { role: 'Crypto User', principalId: APP_VM, duration: 'PT1H', justification: 'traversal' }],
      ['sam', { role: 'Crypto User', duration: 'PT1H', justification: 'traversal' }],
      // Granted without approval: the rule a traversal would hurt most.
      ['alice', { role: 'Crypto Auditor', duration: 'PT1H', justification: 'traversal' }],
    ];
    for (const [persona, base] of requesters) {
      for (const scope of HSM_SPELLINGS) {
        const refusal = await problemOf(await submit(persona, { ...base, scope }));
        const seen = { persona, role: base.role, scope: JSON.stringify(scope).slice(0, 60) };
        expect({ ...seen, status: refusal.status, contentType: refusal.contentType }).toEqual({ ...seen, status: expect.any(Number), contentType: 'application/problem+json' });
        expect({ ...seen, refusedAs4xx: refusal.status >= 400 && refusal.status < 500, scopeRefusal: SCOPE_REFUSALS.includes(refusal.code as string) }).toEqual({ ...seen, refusedAs4xx: true, scopeRefusal: true });
      }
    }
    expect(await settledState(stack())).toEqual(before);
    expect(hsmWrites()).toBe(hsmWritesBefore);
  });

  it(`refuses ${ARM_SPELLINGS.length} management plane scope tricks`, async () => {
    for (const scope of ARM_SPELLINGS) {
      const refusal = await problemOf(await submit('dave', { role: 'Managed HSM Contributor', scope, duration: 'PT1H', justification: 'traversal', ticket: 'CHG-1' }));
      expect({ scope, status: refusal.status, code: refusal.code, contentType: refusal.contentType }).toEqual({ scope, status: refusal.code === 'malformed-scope' ? 400 : 403, code: expect.stringMatching(/^(malformed-scope|scope-not-allowed)$/), contentType: 'application/problem+json' });
    }
    expect(await settledState(stack())).toEqual(before);
  });

  it('a case variant of an allowed scope is the same scope: the grant is exactly the one allowed, never broader', async () => {
    const hsmVariant = await submit('dave', { role: 'Crypto User', scope: '/keys/RELEASE-Signing-KEY', principalId: APP_VM, duration: 'PT1H', justification: 'case variant' });
    const armVariant = await submit('dave', { role: 'Managed HSM Contributor', scope: HSM_RESOURCE.toUpperCase(), duration: 'PT1H', justification: 'case variant', ticket: 'CHG-7' });
    for (const [response, canonical] of [[hsmVariant, '/keys/release-signing-key'], [armVariant, HSM_RESOURCE]] as const) {
      if (response.status !== 201) {
        // Refusing the spelling is as good as canonicalising it.
        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
        continue;
      }
      const request = (await response.json()) as { id: string; scope: string };
      expect(request.scope).toBe(canonical);
      const approved = await stack().api(`/api/requests/${request.id}/decisions`, { persona: 'sam', method: 'POST', body: { decision: 'approve' }, headers: { 'content-type': 'application/json' } });
      expect(approved.status).toBe(200);
      expect(((await approved.json()) as { status: string }).status).toBe('Active');
    }
    const hsmGranted = stack().stack.hsm.assignments().filter((a) => !before.hsmAssignments.includes(JSON.stringify(a)));
    expect(hsmGranted.map((a) => [a.properties.principalId, a.properties.scope])).toEqual(hsmVariant.status === 201 ? [[APP_VM, '/keys/release-signing-key']] : []);
    const armGranted = stack().stack.arm.assignments().filter((a) => !before.armAssignments.includes(JSON.stringify(a)));
    expect(armGranted.map((a) => [a.properties.principalId, a.properties.scope.toLowerCase()])).toEqual(armVariant.status === 201 ? [[PERSONAS.dave.oid, HSM_RESOURCE.toLowerCase()]] : []);
  });
});
