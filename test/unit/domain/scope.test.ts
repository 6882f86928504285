import { normalizeScope, normalizeScopePattern, scopeMatchesPattern } from '../../../shared/domain/scope';

describe('normalizeScope', () => {
  it.each([
    ['/', '/'],
    ['/keys', '/keys'],
    ['/keys/app-signing-key', '/keys/app-signing-key'],
    ['/keys/App-Signing-Key', '/keys/app-signing-key'],
    ['/keys/k1', '/keys/k1'],
    [`/keys/${'a'.repeat(127)}`, `/keys/${'a'.repeat(127)}`],
  ])('accepts %s', (raw, scope) => {
    expect(normalizeScope(raw)).toEqual({ ok: true, scope });
  });

  it.each([
    ['', /empty/],
    ['keys', /start with/],
    ['/keys/', /trailing slash/],
    ['//', /empty segment/],
    ['//keys', /empty segment/],
    ['/keys//k1', /empty segment/],
    ['/keys/../', /trailing slash|'\.'/],
    ['/keys/..', /'\.\.'|'\.'/],
    ['/keys/.', /'\.'/],
    ['/./keys', /'\.'/],
    ['/keys/a%2Fb', /percent/],
    ['/keys%2Fk1', /percent/],
    ['/keys/%2e%2e', /percent/],
    ['/keys\\k1', /backslash/],
    ['\\keys', /backslash/],
    ['/keys/k1/extra', /must be/],
    ['/secrets/s1', /must be/],
    ['/Keys/k1', /must be/],
    ['/keys/k_1', /not a valid key name/],
    ['/keys/k.1', /not a valid key name/],
    [`/keys/${'a'.repeat(128)}`, /too long|not a valid key name/],
    ['/keys/k 1', /whitespace/],
    ['/keys/k1\n', /whitespace|control/],
    ['/keys/ké', /non-ASCII/],
    ['/keys/*', /not a valid key name/],
    [`/${'x'.repeat(200)}`, /too long/],
  ])('refuses %j', (raw, detail) => {
    const result = normalizeScope(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.detail).toMatch(detail);
  });

  it('refuses non-strings', () => {
    expect(normalizeScope(undefined).ok).toBe(false);
    expect(normalizeScope(42).ok).toBe(false);
  });
});

describe('patterns', () => {
  it('normalizeScopePattern accepts exact scopes and /keys/*', () => {
    expect(normalizeScopePattern('/keys/*')).toEqual({ ok: true, scope: '/keys/*' });
    expect(normalizeScopePattern('/')).toEqual({ ok: true, scope: '/' });
    expect(normalizeScopePattern('/keys/K1')).toEqual({ ok: true, scope: '/keys/k1' });
    expect(normalizeScopePattern('/keys/k*').ok).toBe(false);
    expect(normalizeScopePattern('/*').ok).toBe(false);
    expect(normalizeScopePattern('/keys/**').ok).toBe(false);
  });

  it.each([
    ['/keys/*', '/keys/k1', true],
    ['/keys/*', '/keys/app-signing-key', true],
    ['/keys/*', '/keys', false],
    ['/keys/*', '/', false],
    ['/keys/*', '/keys/a/b', false],
    ['/keys/*', '/keys/', false],
    ['/', '/', true],
    ['/', '/keys', false],
    ['/', '/keys/k1', false],
    ['/keys', '/keys', true],
    ['/keys', '/keys/k1', false],
    ['/keys/k1', '/keys/k1', true],
    ['/keys/k1', '/keys/k2', false],
  ])('%s matches %s: %s', (pattern, scope, expected) => {
    expect(scopeMatchesPattern(pattern, scope)).toBe(expected);
  });
});
