import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { startHsmEmulator, type HsmEmulator } from '../../dev/hsm-emulator';
import { DevPersonaCredential } from '../../dev/idp/credential';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS } from '../../dev/personas';
import { createHsmAccessControlClient, roleDefinitionIdFor } from '../../shared/adapters/hsm-rbac';

/** The key types and operations of a Managed HSM through the real @azure/keyvault-keys clients, each gated by its data action. */

const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const SERVICE_ENCRYPTION_USER = '33413926-3206-4cdd-b39a-83574fe37a17';

let idp: IdentityProvider;
let hsm: HsmEmulator;

const options = (): { disableChallengeResourceVerification: true; tlsOptions: { ca: string }; retryOptions: { maxRetries: number } } =>
  ({ disableChallengeResourceVerification: true, tlsOptions: { ca: hsm.caPem }, retryOptions: { maxRetries: 0 } });
const keys = (persona: string): KeyClient => new KeyClient(hsm.url, new DevPersonaCredential(idp.url, persona), options());
const crypto = (keyId: string, persona: string): CryptographyClient => new CryptographyClient(keyId, new DevPersonaCredential(idp.url, persona), options());
const rbac = () => createHsmAccessControlClient({ url: hsm.url, credential: new DevPersonaCredential(idp.url, 'sam'), caPem: hsm.caPem });

beforeAll(async () => {
  idp = await startIdentityProvider();
  hsm = await startHsmEmulator({
    issuer: idp.issuer, jwk: idp.publicJwk, tenantId: idp.tenantId,
    seed: {
      roleAssignments: [
        { name: randomUUID(), scope: '/', role: 'Managed HSM Administrator', principalId: PERSONAS.sam.oid },
        { name: randomUUID(), scope: '/keys', role: 'Managed HSM Crypto User', principalId: PERSONAS.sara.oid },
      ],
    },
  });
});

afterAll(async () => {
  await hsm.close();
  await idp.close();
});

describe('key types', () => {
  it('creates oct-HSM keys of 128, 192 and 256 bits that encrypt, decrypt, wrap and unwrap', async () => {
    for (const keySize of [128, 192, 256] as const) {
      const key = await keys('sara').createOctKey(`aes-${keySize}`, { keySize });
      expect(key.keyType).toBe('oct-HSM');
      expect(key.keyOperations).toEqual(expect.arrayContaining(['decrypt', 'encrypt', 'unwrapKey', 'wrapKey']));
      const client = crypto(key.id as string, 'sara');
      const plaintext = Buffer.from(`secret for ${keySize}`);
      const gcm = `A${keySize}GCM` as const;
      const encrypted = await client.encrypt({ algorithm: gcm, plaintext, additionalAuthenticatedData: Buffer.from('aad') });
      expect(encrypted.iv).toHaveLength(12);
      expect(encrypted.authenticationTag).toHaveLength(16);
      const decrypted = await client.decrypt({ algorithm: gcm, ciphertext: encrypted.result, iv: encrypted.iv as Uint8Array, authenticationTag: encrypted.authenticationTag as Uint8Array, additionalAuthenticatedData: Buffer.from('aad') });
      expect(Buffer.from(decrypted.result).toString()).toBe(`secret for ${keySize}`);
      const cbc = `A${keySize}CBCPAD` as const;
      const iv = randomBytes(16);
      const cbcEncrypted = await client.encrypt({ algorithm: cbc, plaintext, iv });
      expect(Buffer.from((await client.decrypt({ algorithm: cbc, ciphertext: cbcEncrypted.result, iv })).result).toString()).toBe(`secret for ${keySize}`);
      const cek = randomBytes(32);
      const wrapped = await client.wrapKey(`A${keySize}KW`, cek);
      expect(Buffer.from((await client.unwrapKey(`A${keySize}KW`, wrapped.result)).result)).toEqual(cek);
    }
  });

  it('creates EC-HSM keys on each curve that sign a digest and verify the signature', async () => {
    const curves = [['P-256', 'ES256', 'sha256'], ['P-384', 'ES384', 'sha384'], ['P-521', 'ES512', 'sha512'], ['P-256K', 'ES256K', 'sha256']] as const;
    for (const [curve, algorithm, hash] of curves) {
      const key = await keys('sara').createEcKey(`ec-${curve.toLowerCase()}`, { curve });
      expect(key.keyType).toBe('EC-HSM');
      expect(key.key?.crv).toBe(curve);
      const client = crypto(key.id as string, 'sara');
      const digest = createHash(hash).update(`release ${curve}`).digest();
      const signed = await client.sign(algorithm, digest);
      expect((await client.verify(algorithm, digest, signed.result)).result).toBe(true);
      expect((await client.verify(algorithm, createHash(hash).update('other').digest(), signed.result)).result).toBe(false);
    }
  });

  it('creates RSA-HSM keys of 2048, 3072 and 4096 bits that sign with RS and PS, and encrypt and wrap with OAEP and PKCS#1 v1.5', async () => {
    for (const keySize of [2048, 3072, 4096]) {
      const key = await keys('sara').createRsaKey(`rsa-${keySize}`, { keySize });
      expect(key.key?.n).toHaveLength(keySize / 8);
      const client = crypto(key.id as string, 'sara');
      for (const algorithm of ['RS256', 'PS256', 'PS512'] as const) {
        const digest = createHash(algorithm.endsWith('512') ? 'sha512' : 'sha256').update('artefact').digest();
        const signed = await client.sign(algorithm, digest);
        expect((await client.verify(algorithm, digest, signed.result)).result).toBe(true);
      }
      for (const algorithm of ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const) {
        const encrypted = await client.encrypt({ algorithm, plaintext: Buffer.from('payload') });
        expect(Buffer.from((await client.decrypt({ algorithm, ciphertext: encrypted.result })).result).toString()).toBe('payload');
        const cek = randomBytes(32);
        expect(Buffer.from((await client.unwrapKey(algorithm, (await client.wrapKey(algorithm, cek)).result)).result)).toEqual(cek);
      }
    }
  });

  it('refuses key types, sizes and algorithms a Managed HSM does not have with 400 BadParameter', async () => {
    await expect(keys('sara').createKey('odd', 'oct-HSM', { keySize: 512 })).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
    await expect(keys('sara').createKey('odd', 'EC', { curve: 'P-224' as never })).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
    const aes = await keys('sara').getKey('aes-256');
    await expect(crypto(aes.id as string, 'sara').wrapKey('A128KW', randomBytes(32))).rejects.toMatchObject({ statusCode: 400, code: 'BadParameter' });
  });
});

describe('data actions', () => {
  it('lets a Crypto Service Encryption User wrap and unwrap with a key but not encrypt or sign with it', async () => {
    const key = await keys('sara').createRsaKey('wrapping-key', { keySize: 2048 });
    await rbac().createRoleAssignment('/keys/wrapping-key', randomUUID(), roleDefinitionIdFor(SERVICE_ENCRYPTION_USER), PERSONAS['log-storage'].oid);
    const client = crypto(key.id as string, 'log-storage');
    const cek = randomBytes(32);
    const wrapped = await client.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await client.unwrapKey('RSA-OAEP-256', wrapped.result)).result)).toEqual(cek);
    await expect(client.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: wrapped.result })).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/keys\/decrypt\/action/) });
    await expect(client.sign('RS256', randomBytes(32))).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/keys\/sign\/action/) });
  });

  it('refuses a role assignment at /keys/{name} for a key that does not exist with 404 KeyNotFound', async () => {
    await expect(rbac().createRoleAssignment('/keys/no-such-key', randomUUID(), roleDefinitionIdFor(CRYPTO_USER), PERSONAS['app-vm'].oid)).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
    expect(hsm.assignments().some((assignment) => assignment.properties.scope === '/keys/no-such-key')).toBe(false);
  });
});

describe('faults', () => {
  it('acts, then drops the reply: the retried create and delete meet work already done and still end as asked', async () => {
    const name = randomUUID();
    hsm.setFaults({ next: ['actThenDrop'] });
    await rbac().createRoleAssignment('/', name, roleDefinitionIdFor(CRYPTO_USER), PERSONAS['app-vm'].oid);
    expect(hsm.assignments().filter((assignment) => assignment.name === name)).toHaveLength(1);
    const puts = hsm.requests().filter((record) => record.method === 'PUT' && record.path.endsWith(name) && record.status !== 401);
    expect(puts[0]).toMatchObject({ fault: 'actThenDrop', status: -1, actedStatus: 201 });
    expect(puts.length).toBeGreaterThanOrEqual(2);
    expect(puts[1].fault).toBeUndefined();

    hsm.setFaults({ next: ['actThenDrop'] });
    await rbac().deleteRoleAssignment('/', name);
    expect(hsm.assignments().map((assignment) => assignment.name)).not.toContain(name);
    const deletes = hsm.requests().filter((record) => record.method === 'DELETE' && record.path.endsWith(name) && record.status !== 401);
    expect(deletes[0]).toMatchObject({ fault: 'actThenDrop', status: -1, actedStatus: 200 });
  });
});
