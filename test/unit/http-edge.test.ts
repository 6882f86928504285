import { bearerChallenge } from '../../shared/adapters/bearerChallenge';
import { CsrfProtection } from '../../shared/services/csrf';
import { SharedProbe } from '../../functions/health';

const AUDIENCE = 'api://hsm-access-governor';
const NOW = new Date('2030-01-01T10:00:00Z');
const unsigned = (claims: Record<string, unknown>): string => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
const good = { aud: AUDIENCE, iss: 'https://sts.windows.net/a7f8a5ce-8fe6-4690-942d-d7a0682c5867/', tid: 'a7f8a5ce-8fe6-4690-942d-d7a0682c5867', exp: NOW.getTime() / 1000 + 600 };

describe('bearerChallenge', () => {
  it.each([
    ['an expired token', { ...good, exp: NOW.getTime() / 1000 - 1 }, /expired at 2030-01-01T09:59:59.000Z/],
    ['a token not valid yet', { ...good, nbf: NOW.getTime() / 1000 + 60 }, /not valid before/],
    ['another audience', { ...good, aud: 'https://managedhsm.azure.net' }, /audience 'https:\/\/managedhsm.azure.net', but this API expects 'api:\/\/hsm-access-governor'/],
    ['no audience', { ...good, aud: undefined }, /audience \(none\)/],
    ['another issuer', { ...good, iss: 'https://evil.example/' }, /issuer 'https:\/\/evil.example\/' is not Microsoft Entra ID/],
    ['claims that look right', good, /signature does not verify, or its issuer .* \(tenant a7f8a5ce-8fe6-4690-942d-d7a0682c5867\) is not this service's tenant/],
  ])('%s', (_name, claims, why) => {
    const challenge = bearerChallenge(`Bearer ${unsigned(claims)}`, AUDIENCE, NOW);
    expect(challenge.code).toBe('invalid-token');
    expect(challenge.detail).toMatch(why);
    expect(challenge.header).toMatch(/^Bearer realm="api:\/\/hsm-access-governor", scope="api:\/\/hsm-access-governor\/.default", error="invalid_token", error_description="[^"\\]+"$/);
  });

  it('no Authorization header: a challenge without an error', () => {
    expect(bearerChallenge(null, AUDIENCE, NOW)).toEqual({ code: 'unauthenticated', header: 'Bearer realm="api://hsm-access-governor", scope="api://hsm-access-governor/.default"', detail: expect.stringContaining(AUDIENCE) });
  });

  it('quotes and control characters from a token never break the header', () => {
    const challenge = bearerChallenge(`Bearer ${unsigned({ ...good, aud: 'x"\\\ny' })}`, AUDIENCE, NOW);
    expect(challenge.header).toMatch(/error_description="[^"\\\n]+"$/);
  });
});

describe('CsrfProtection.crossSite', () => {
  const csrf = new CsrfProtection({ keys: ['k'.repeat(32)], publicBaseUrl: 'https://governor.contoso.com', newNonce: () => 'n'.repeat(24) });
  const own = 'http://127.0.0.1:7071';
  it.each([
    [null, null, false],
    [own, 'same-origin', false],
    ['https://governor.contoso.com', null, false],
    [null, 'none', false],
    ['http://127.0.0.1:9999', null, true],
    ['null', null, true],
    [null, 'same-site', true],
    [null, 'cross-site', true],
    [own, 'cross-site', true],
  ])('Origin %s, Sec-Fetch-Site %s: cross-site %s', (origin, fetchSite, refused) => {
    expect(csrf.crossSite({ origin, fetchSite, ownOrigin: own }) !== undefined).toBe(refused);
  });

  it('verifies only the token of this principal, purpose and cookie, and nothing without a key', () => {
    const nonce = csrf.nonce(undefined);
    expect(nonce.fresh).toBe(true);
    const token = csrf.token('p1', 'api', nonce.value);
    expect(csrf.verify(token, 'p1', 'api', nonce.value)).toBe(true);
    expect(csrf.verify(token, 'p2', 'api', nonce.value)).toBe(false);
    expect(csrf.verify(token, 'p1', 'request-1', nonce.value)).toBe(false);
    expect(csrf.verify(token, 'p1', 'api', 'another-nonce-0123456789')).toBe(false);
    expect(new CsrfProtection({ keys: [], newNonce: () => 'x' }).verify(token, 'p1', 'api', nonce.value)).toBe(false);
    expect(csrf.nonce(nonce.value)).toEqual({ value: nonce.value, fresh: false });
    expect(csrf.nonce('short').fresh).toBe(true);
  });
});

describe('SharedProbe', () => {
  it('runs one probe for concurrent callers and reuses its answer until it is stale', async () => {
    let now = 0;
    let runs = 0;
    let finish: (value: number) => void = () => undefined;
    const probe = new SharedProbe(() => { runs++; return new Promise<number>((resolve) => { finish = resolve; }); }, (value) => (value > 0 ? 5000 : 1000), () => now);
    const waiting = [probe.get(), probe.get(), probe.get()];
    expect(runs).toBe(1);
    finish(1);
    expect(await Promise.all(waiting)).toEqual([1, 1, 1]);
    now = 4999;
    expect(await probe.get()).toBe(1);
    expect(runs).toBe(1);
    now = 5000;
    const fresh = probe.get();
    expect(runs).toBe(2);
    finish(0);
    expect(await fresh).toBe(0);
    now = 5999;
    expect(await probe.get()).toBe(0);
    now = 6000;
    void probe.get();
    expect(runs).toBe(3);
  });
});
