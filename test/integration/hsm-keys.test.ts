import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';

const SEED = join(__dirname, '..', '..', 'examples', 'contoso', 'hsm-seed.json');
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';

let idp: IdentityProvider;
let hsm: HsmEmulator;

function clientOptions(): { disableChallengeResourceVerification: true; tlsOptions: { ca: string }; retryOptions: { maxRetries: number } } {
  return { disableChallengeResourceVerification: true, tlsOptions: { ca: hsm.caPem }, retryOptions: { maxRetries: 0 } };
}

function keyClient(persona: string): KeyClient {
  return new KeyClient(hsm.url, new DevPersonaCredential(idp.url, persona), clientOptions());
}

function cryptoClient(keyId: string, persona: string): CryptographyClient {
  return new CryptographyClient(keyId, new DevPersonaCredential(idp.url, persona), clientOptions());
}

const digest = createHash('sha256').update('release 2026.11 artefact').digest();

beforeAll(async () => {
  idp = await startIdentityProvider();
  hsm = await startHsmEmulator({ issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId, seed: SEED });
});

afterAll(async () => {
  await hsm.close();
  await idp.close();
});

describe('keys through the real @azure/keyvault-keys client', () => {
  it('lets app-vm sign with its own key but not with release-signing-key until it holds Crypto User on it', async () => {
    const auditorView = keyClient('alice');
    const releaseKey = await auditorView.getKey('release-signing-key');
    const ownKey = await auditorView.getKey('app-signing-key');

    const signed = await cryptoClient(ownKey.id as string, 'app-vm').sign('RS256', digest);
    expect(signed.result).toHaveLength(256);

    await expect(cryptoClient(releaseKey.id as string, 'app-vm').sign('RS256', digest)).rejects.toMatchObject({ statusCode: 403 });

    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'hsm-governor'), caPem: hsm.caPem });
    const name = randomUUID();
    await rbac.createRoleAssignment('/keys/release-signing-key', name, roleDefinitionIdFor(CRYPTO_USER), PERSONAS['app-vm'].oid);
    const signature = await cryptoClient(releaseKey.id as string, 'app-vm').sign('RS256', digest);
    expect((await cryptoClient(releaseKey.id as string, 'app-vm').verify('RS256', digest, signature.result)).result).toBe(true);

    await rbac.deleteRoleAssignment('/keys/release-signing-key', name);
    await expect(cryptoClient(releaseKey.id as string, 'app-vm').sign('RS256', digest)).rejects.toMatchObject({ statusCode: 403 });
  });

  it('lists the seeded keys with their attributes and creates RSA 2048 keys for a Crypto User', async () => {
    const names: string[] = [];
    for await (const properties of keyClient('alice').listPropertiesOfKeys()) {
      names.push(properties.name);
      expect(properties.enabled).toBe(true);
      expect(properties.createdOn).toBeInstanceOf(Date);
    }
    expect(names.sort()).toEqual(['app-signing-key', 'release-signing-key', 'storage-cmk']);

    await expect(keyClient('dave').createRsaKey('dave-key', { keySize: 2048 })).rejects.toMatchObject({ statusCode: 403 });
    const rbac = createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });
    await rbac.createRoleAssignment('/keys', randomUUID(), roleDefinitionIdFor(CRYPTO_USER), PERSONAS.sara.oid);
    const expiresOn = new Date(Date.now() + 86_400_000);
    const created = await keyClient('sara').createRsaKey('sara-key', { keySize: 2048, expiresOn });
    expect(created.keyType).toBe('RSA-HSM');
    expect(created.properties.expiresOn?.getTime()).toBe(Math.floor(expiresOn.getTime() / 1000) * 1000);
    expect(created.key?.n).toHaveLength(256);
    const signature = await cryptoClient(created.id as string, 'sara').sign('RS256', digest);
    expect((await cryptoClient(created.id as string, 'sara').verify('RS256', digest, signature.result)).result).toBe(true);
    expect((await cryptoClient(created.id as string, 'sara').verify('RS256', createHash('sha256').update('other').digest(), signature.result)).result).toBe(false);
  });

  it('answers a request without a valid token with the challenge, and a token for another audience with 401', async () => {
    const anonymous = await getWithToken(`${hsm.url}/keys?api-version=7.6`, undefined);
    expect(anonymous.status).toBe(401);
    const wrongAudience = await idp.issueToken('sam', { audience: 'api://something-else' });
    expect((await getWithToken(`${hsm.url}/keys?api-version=7.6`, wrongAudience)).status).toBe(401);
  });
});

async function getWithToken(url: string, token: string | undefined): Promise<{ status: number }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: hsm.caPem, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}
