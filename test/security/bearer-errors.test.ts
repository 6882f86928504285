// Keeps refused tokens from failing silently: every 401 says, in WWW-Authenticate and the problem, why a token was not accepted.
import { generateKeyPair, SignJWT } from 'jose';
import { PERSONAS, TENANT_ID } from '../../dev/personas';
import { useStack } from '../helpers/stack';

const stack = useStack();

async function refusal(authorization?: string): Promise<{ status: number; challenge: string; code: string; detail: string }> {
  const response = await stack().api('/api/requests', { ...(authorization ? { headers: { authorization } } : {}) });
  const body = (await response.json()) as { code: string; detail: string };
  return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', code: body.code, detail: body.detail };
}

/** A token for the API's audience, signed by a key of another issuer (not the dev identity provider's). */
async function foreignToken(issuer: string, tenantId: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tid: tenantId, oid: PERSONAS.dave.oid, groups: [...PERSONAS.dave.groups] })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'another-issuers-key' })
    .setIssuer(issuer).setAudience('api://hsm-access-governor').setIssuedAt(now).setExpirationTime(now + 3600)
    .sign(privateKey);
}

const invalidToken = (why: RegExp) => expect.objectContaining({
  status: 401,
  code: 'invalid-token',
  challenge: expect.stringMatching(new RegExp(`^Bearer realm="api://hsm-access-governor", scope="api://hsm-access-governor/\\.default", error="invalid_token", error_description="[^"]*${why.source}`)),
  detail: expect.stringMatching(why),
});

describe('401 answers that say why', () => {
  it('without a token: a Bearer challenge naming the audience', async () => {
    expect(await refusal()).toEqual({
      status: 401, code: 'unauthenticated', challenge: 'Bearer realm="api://hsm-access-governor", scope="api://hsm-access-governor/.default"', detail: expect.stringContaining('api://hsm-access-governor'),
    });
  });

  it('an expired token', async () => {
    const token = await stack().stack.idp.issueToken('dave', { audience: 'api://hsm-access-governor', lifetimeSeconds: -600 });
    expect(await refusal(`Bearer ${token}`)).toEqual(invalidToken(/expired at \d{4}-\d\d-\d\dT/));
  });

  it('a token for another audience names the expected one', async () => {
    const token = await stack().tokenFor('dave', 'hsm');
    expect(await refusal(`Bearer ${token}`)).toEqual(invalidToken(/audience 'https:\/\/managedhsm\.azure\.net', but this API expects 'api:\/\/hsm-access-governor'/));
  });

  it('a token with a bad signature', async () => {
    const [head, payload, signature] = (await stack().tokenFor('dave')).split('.') as [string, string, string];
    const tampered = `${head}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await refusal(`Bearer ${tampered}`)).toEqual(invalidToken(/signature does not verify/));
  });

  it('a token of another issuer or tenant', async () => {
    const otherTenant = '0b7c4f2e-3a51-4d9e-8f60-7c2d1e9a4b35';
    const foreign = await foreignToken(`https://sts.windows.net/${otherTenant}/`, otherTenant);
    expect(await refusal(`Bearer ${foreign}`)).toEqual(invalidToken(new RegExp(`tenant ${otherTenant}\\) is not this service's tenant`)));
    const notEntra = await foreignToken('https://accounts.example.com', TENANT_ID);
    expect(await refusal(`Bearer ${notEntra}`)).toEqual(invalidToken(/issuer 'https:\/\/accounts\.example\.com' is not Microsoft Entra ID/));
    expect(TENANT_ID).not.toBe(otherTenant);
  });

  it('something that is not a token, or not Bearer', async () => {
    expect(await refusal('Bearer not-a-jwt')).toEqual(invalidToken(/not a JSON Web Token/));
    expect(await refusal('Basic ZGF2ZTpzZWNyZXQ=')).toEqual(invalidToken(/not 'Bearer <token>'/));
  });

  it('a valid token still works', async () => {
    expect((await stack().api('/api/requests', { persona: 'dave' })).status).toBe(200);
  });
});
