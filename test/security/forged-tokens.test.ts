// Keeps out forged bearer tokens: alg none, HS256 keyed with the public key, another key, expired, not yet valid, wrong audience, issuer or tenant, tampered, truncated, huge.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import { PERSONAS } from '../../dev/personas';
import { problemOf, settledState, submitted, SELF_KEY_REQUEST, tokenForge, type StackState, type TokenForge } from '../helpers/security';
import { useStack } from '../helpers/stack';

const stack = useStack();
const OTHER_TENANT = '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
/** A refused credential: `unauthenticated`, or `invalid-token` where the answer also says why the token was refused. */
const REFUSED = expect.stringMatching(/^(unauthenticated|invalid-token)$/);

const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

let forge: TokenForge;
let pending: string;
let before: StackState;

beforeAll(async () => {
  forge = await tokenForge(stack());
  pending = await submitted(stack(), 'dave');
  before = await settledState(stack());
});

/** Every forgery of a token for sam (an HSM administrator and approver), each wrong in one respect. */
async function forgeries(): Promise<Array<[string, string]>> {
  const sam = forge.claims('sam');
  const now = Math.floor(Date.now() / 1000);
  const valid = await forge.sign(sam);
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const attackerJwk = await exportJWK(attacker.publicKey);
  const signedByAttacker = (claims: JWTPayload, extraHeader: Record<string, unknown> = {}): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: forge.publicJwk.kid as string, ...extraHeader }).sign(attacker.privateKey);
  const publicPem = createPublicKey({ key: forge.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const withClaims = (changes: JWTPayload): Promise<string> => forge.sign({ ...sam, ...changes });
  const without = (claim: string): Promise<string> => {
    const rest: JWTPayload = { ...sam };
    delete rest[claim];
    return forge.sign(rest);
  };
  return [
    ['alg none', `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.`],
    ['alg None, signature kept', `${b64url({ alg: 'None', typ: 'JWT' })}.${payload}.${signature}`],
    ['HS256 keyed with the public key (PEM)', await new SignJWT(sam).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: forge.publicJwk.kid as string }).sign(Buffer.from(publicPem as string))],
    ['HS256 keyed with the public modulus', await new SignJWT(sam).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(Buffer.from(forge.publicJwk.n as string, 'base64url'))],
    ['signed with another key under the same kid', await signedByAttacker(sam)],
    ['another key, embedded as jwk in the header', await signedByAttacker(sam, { jwk: attackerJwk })],
    ['another key, fetched from a jku', await signedByAttacker(sam, { jku: 'https://evil.example/keys' })],
    ['expired', await withClaims({ iat: now - 7200, nbf: now - 7200, exp: now - 600 })],
    ['not yet valid', await withClaims({ nbf: now + 3600, exp: now + 7200 })],
    ['wrong audience (the HSM)', await withClaims({ aud: 'https://managedhsm.azure.net' })],
    ['wrong audience (a lookalike)', await withClaims({ aud: 'api://hsm-access-governor-dev' })],
    ['audience list without this API', await withClaims({ aud: ['https://management.azure.com', 'api://other'] })],
    ['no audience', await without('aud')],
    ['wrong issuer (another tenant)', await withClaims({ iss: `https://sts.windows.net/${OTHER_TENANT}/`, tid: OTHER_TENANT })],
    ['wrong issuer (a lookalike host)', await withClaims({ iss: 'https://sts.windows.net.evil.example/' })],
    ['no issuer', await without('iss')],
    ['no expiry', await without('exp')],
    ['junk before the signature', `${header}.${payload}.!!${signature}`],
    ['junk after the token', `${header}.${payload}.${signature}.extra`],
    ['no object id', await without('oid')],
    ['tampered payload: oid of break-glass', `${header}.${b64url({ ...sam, oid: PERSONAS['break-glass'].oid })}.${signature}`],
    ['tampered payload: another group', `${header}.${b64url({ ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), groups: ['76891f9e-0de4-4e47-a3fd-e29f364921cd', 'f9622bb7-ad63-49bc-82c8-56fbba780d83'] })}.${signature}`],
    ['tampered header: alg RS512', `${b64url({ alg: 'RS512', typ: 'JWT', kid: forge.publicJwk.kid })}.${payload}.${signature}`],
    ['tampered signature', `${header}.${payload}.${signature.slice(0, -6)}${signature.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`],
    ['truncated signature', `${header}.${payload}.${signature.slice(0, signature.length / 2)}`],
    ['no signature segment', `${header}.${payload}`],
    ['one segment', header],
    ['four segments', `${valid}.${signature}`],
    ['signature not base64url', `${header}.${payload}.!!!!////++++`],
    ['JWE-shaped', `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.${payload}.${payload}.${payload}.${signature}`],
    ['huge, with another key', await signedByAttacker({ ...sam, padding: 'x'.repeat(9000) })],
    ['garbage', 'not-a-jwt'],
    ['empty', ''],
  ];
}

describe('forged bearer tokens', () => {
  it('a valid token works: the calls below are refused for the token alone', async () => {
    const token = await forge.sign(forge.claims('sam'));
    expect((await stack().api('/api/audit', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('every forgery is refused with 401 and changes nothing', async () => {
    for (const [what, token] of await forgeries()) {
      const authorization = `Bearer ${token}`;
      const calls: Array<[string, string, unknown]> = [
        ['GET', '/api/audit', undefined],
        ['GET', '/api/requests', undefined],
        ['POST', '/api/requests', SELF_KEY_REQUEST],
        ['POST', `/api/requests/${pending}/decisions`, { decision: 'approve' }],
        ['POST', `/api/requests/${pending}/cancel`, {}],
        ['POST', '/api/reconcile?mode=apply', {}],
      ];
      for (const [method, path, body] of calls) {
        const response = await stack().api(path, { method, headers: { authorization, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
        expect({ what, call: `${method} ${path}`, ...(await problemOf(response)) }).toEqual({ what, call: `${method} ${path}`, status: 401, contentType: 'application/problem+json', code: REFUSED });
      }
    }
    expect(await settledState(stack())).toEqual(before);
    const request = (await (await stack().api(`/api/requests/${pending}`, { persona: 'dave' })).json()) as { status: string; decisions: unknown[] };
    expect(request).toMatchObject({ status: 'Pending', decisions: [] });
  });

  it('a token too large for any header is refused before anything runs', async () => {
    const huge = await forge.sign({ ...forge.claims('sam'), padding: 'x'.repeat(40_000) });
    const response = await stack().api('/api/requests', { method: 'POST', headers: { authorization: `Bearer ${huge}`, 'content-type': 'application/json' }, body: SELF_KEY_REQUEST });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(await settledState(stack())).toEqual(before);
  });

  it('a token anywhere but the Authorization header is not a credential', async () => {
    const token = await forge.sign(forge.claims('sam'));
    const places: Array<[string, string, Record<string, string>]> = [
      ['query access_token', `/api/audit?access_token=${token}`, {}],
      ['query code', `/api/audit?code=${token}`, {}],
      ['cookie', '/api/audit', { cookie: `AppServiceAuthSession=${token}` }],
      ['Basic scheme', '/api/audit', { authorization: `Basic ${Buffer.from(`sam:${token}`).toString('base64')}` }],
      ['x-ms-token-aad-access-token', '/api/audit', { 'x-ms-token-aad-access-token': token }],
    ];
    for (const [what, path, headers] of places) {
      expect({ what, ...(await problemOf(await stack().api(path, { headers }))) }).toMatchObject({ what, status: 401, code: REFUSED });
    }
  });
});
