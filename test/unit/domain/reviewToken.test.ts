import { reviewKeyId, signCsrfToken, signReviewToken, verifyCsrfToken, verifyReviewToken } from '../../../shared/domain/reviewToken';
import { NOW } from './fixtures';

const CURRENT = 'current-key-0123456789abcdefghijklmnopqrstuvwxyz';
const PREVIOUS = 'previous-key-0123456789abcdefghijklmnopqrstuvwxyz';
const ID = '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const later = (ms: number): Date => new Date(NOW.getTime() + ms);

describe('review link tokens', () => {
  it('name the request and its expiry, signed with the current key', () => {
    const token = signReviewToken(ID, later(3_600_000), [CURRENT, PREVIOUS]);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyReviewToken(token, [CURRENT, PREVIOUS], NOW)).toEqual({ ok: true, requestId: ID, expiresAt: later(3_600_000), keyId: reviewKeyId(CURRENT) });
  });

  it('keep working across a rotation while the previous key is still listed', () => {
    const old = signReviewToken(ID, later(3_600_000), [PREVIOUS]);
    expect(verifyReviewToken(old, [CURRENT, PREVIOUS], NOW)).toMatchObject({ ok: true, requestId: ID });
    expect(verifyReviewToken(old, [CURRENT], NOW)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it('expire', () => {
    const token = signReviewToken(ID, later(60_000), [CURRENT]);
    expect(verifyReviewToken(token, [CURRENT], later(59_000)).ok).toBe(true);
    expect(verifyReviewToken(token, [CURRENT], later(60_000))).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuse anything edited or made up', () => {
    const token = signReviewToken(ID, later(60_000), [CURRENT]);
    const [payload, signature] = token.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const other = Buffer.from(JSON.stringify({ ...claims, r: '00000000-0000-4000-8000-000000000000' })).toString('base64url');
    const longer = Buffer.from(JSON.stringify({ ...claims, e: (claims.e as number) + 86_400 })).toString('base64url');
    expect(verifyReviewToken(`${other}.${signature}`, [CURRENT], NOW)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyReviewToken(`${longer}.${signature}`, [CURRENT], NOW)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyReviewToken(`${payload}.${signature.slice(0, -2)}`, [CURRENT], NOW)).toEqual({ ok: false, reason: 'bad-signature' });
    for (const bad of [undefined, '', 'x', `${payload}.`, `${payload}.${signature}.x`, 'a+b.c', `${'a'.repeat(600)}.b`, `${Buffer.from('[]').toString('base64url')}.abc`]) {
      expect(verifyReviewToken(bad, [CURRENT], NOW)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(verifyReviewToken(token, ['another-key-0123456789abcdefghijklmnopqrstuvwxyz'], NOW)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it('accept only the signature as issued, not another spelling that decodes to the same bytes', () => {
    const token = signReviewToken(ID, later(60_000), [CURRENT]);
    const [payload, signature] = token.split('.') as [string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sameBytes = [...alphabet]
      .map((last) => signature.slice(0, -1) + last)
      .filter((spelling) => spelling !== signature && Buffer.from(spelling, 'base64url').equals(Buffer.from(signature, 'base64url')));
    // 256 bits in 43 characters leave the last one two unused bits: three other spellings.
    expect(sameBytes).toHaveLength(3);
    for (const spelling of sameBytes) expect(verifyReviewToken(`${payload}.${spelling}`, [CURRENT], NOW)).toEqual({ ok: false, reason: 'bad-signature' });
  });
});

describe('review form CSRF tokens', () => {
  const nonce = 'browser-cookie-nonce-0123456789';
  it('bind the signed-in principal, the request and the browser cookie', () => {
    const token = signCsrfToken('5424E0A9-6BA3-45E2-9D82-85A9CC74171D', ID, nonce, [CURRENT]);
    expect(verifyCsrfToken(token, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', ID, nonce, [CURRENT, PREVIOUS])).toBe(true);
    expect(verifyCsrfToken(token, 'f2382c12-65b1-460c-b2e7-2d66701431c0', ID, nonce, [CURRENT])).toBe(false);
    expect(verifyCsrfToken(token, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', '00000000-0000-4000-8000-000000000000', nonce, [CURRENT])).toBe(false);
    expect(verifyCsrfToken(token, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', ID, 'another-cookie-nonce-0123456789', [CURRENT])).toBe(false);
    expect(verifyCsrfToken(token, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', ID, undefined, [CURRENT])).toBe(false);
    expect(verifyCsrfToken(null, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', ID, nonce, [CURRENT])).toBe(false);
    expect(verifyCsrfToken(token, '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', ID, nonce, [PREVIOUS])).toBe(false);
  });
});
