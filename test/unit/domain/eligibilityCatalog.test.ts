import { eligibilityCatalog, evaluateRequest, explainEligibility, explainedRefusal, type Refusal } from '../../../shared/domain';
import { KeyListCache, KEY_LIST_TTL_MS } from '../../../shared/services/eligibility';
import { CALLERS, NOW, OID, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const KEYS = ['app-signing-key', 'release-signing-key', 'storage-cmk'];

describe('the eligibility catalog', () => {
  it('gives a security team member /keys/* as the HSM\'s keys, themselves as grantee, and the approvers by name', () => {
    const rule = eligibilityCatalog(policy, CALLERS.sam, () => KEYS, []).find((r) => r.id === 'security-crypto-user')!;
    expect(rule.scopes).toEqual(KEYS.map((key) => ({ scope: `/keys/${key}`, key })));
    expect(rule.keysListed).toBe(true);
    expect(rule.grantees).toEqual([{ objectId: OID.sam, alias: 'sam', displayName: 'Sam Security', type: 'User' }]);
    expect(rule.approval).toEqual({ count: 1, approvers: [expect.objectContaining({ alias: 'security-team', displayName: 'Contoso Security Team', type: 'Group' })] });
  });

  it('says when the key list is missing instead of inventing keys, and lists only the caller\'s open requests under the rule', () => {
    const open = { id: '00000000-0000-4000-8000-000000000001', status: 'Pending', ruleId: 'release-signing', role: 'Managed HSM Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm } as never;
    const ended = { ...(open as object), id: '00000000-0000-4000-8000-000000000002', status: 'Expired' } as never;
    const rules = eligibilityCatalog(policy, CALLERS.dave, () => undefined, [open, ended]);
    const release = rules.find((r) => r.id === 'release-signing')!;
    expect(release.grantees.map((g) => g.alias)).toEqual(['app-vm']);
    expect(release.requests.map((r) => r.id)).toEqual(['00000000-0000-4000-8000-000000000001']);
    expect(eligibilityCatalog(policy, CALLERS.sam, () => undefined, []).find((r) => r.id === 'security-crypto-user')!.keysListed).toBe(false);
  });
});

describe('the explanation', () => {
  it('names the caller\'s groups and, rule by rule, what each allows', () => {
    const refused = explainEligibility(policy, CALLERS.dave, { role: 'Crypto User', scope: '/keys/release-signing-key' });
    expect(refused.allowed).toBe(false);
    expect(refused.summary).toMatch(/^you are in Contoso App DevOps; /);
    expect(refused.summary).toContain('rule release-signing allows app-vm only');
    const allowed = explainEligibility(policy, CALLERS.dave, { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: OID.appVm });
    expect(allowed.allowed).toBe(true);
    expect(allowed.rules.find((r) => r.rule === 'release-signing')?.words).toBe('rule release-signing allows it for up to PT8H, with 1 approval from Contoso Security Team, with a justification');
  });

  it('is what a refusal of whom, what or where says, and leaves other refusals alone', () => {
    const input = { role: 'Crypto User', scope: '/keys/release-signing-key' };
    const refusal = evaluateRequest(policy, CALLERS.dave, input, NOW) as Refusal;
    expect(refusal.code).toBe('forbidden-principal');
    expect(explainedRefusal(policy, CALLERS.dave, input, refusal)).toBe(refusal);
    const wrongKey = { role: 'Crypto User', scope: '/keys/app-signing-key', principalId: OID.appVm };
    const explained = explainedRefusal(policy, CALLERS.dave, wrongKey, evaluateRequest(policy, CALLERS.dave, wrongKey, NOW) as Refusal);
    expect(explained.detail).toContain(`Why: ${explainEligibility(policy, CALLERS.dave, wrongKey).summary}`);
  });
});

describe('the key list cache', () => {
  it('lists once per period and again after a failure', async () => {
    const cache = new KeyListCache();
    let calls = 0;
    const list = async (): Promise<string[]> => (++calls === 2 ? Promise.reject(new Error('HSM busy')) : KEYS);
    await cache.keys('h', list, 0);
    await cache.keys('h', list, KEY_LIST_TTL_MS - 1);
    expect(calls).toBe(1);
    await expect(cache.keys('h', list, KEY_LIST_TTL_MS)).rejects.toThrow('HSM busy');
    await cache.keys('h', list, KEY_LIST_TTL_MS + 1);
    expect(calls).toBe(3);
  });
});
