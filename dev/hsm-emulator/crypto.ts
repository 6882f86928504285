import { constants, createCipheriv, createDecipheriv, createECDH, createHash, createPrivateKey, createPublicKey, privateDecrypt, privateEncrypt, publicDecrypt, publicEncrypt, randomBytes, timingSafeEqual, type CipherGCMTypes, type KeyObject } from 'node:crypto';

/**
 * The cryptography of a Managed HSM's keys, on key material the emulator holds: RSA (PKCS#1 v1.5
 * and PSS signatures over a digest the caller computed, OAEP and PKCS#1 v1.5 encryption), EC
 * (ECDSA over a digest) and AES (GCM and CBC encryption, RFC 3394 key wrap). Node signs only what it
 * hashes itself, so signatures over a given digest are built from the raw RSA and EC operations.
 */

export class CryptoRefusal extends Error {}

const HASHES = { 32: 'sha256', 48: 'sha384', 64: 'sha512' } as const;
type DigestLength = keyof typeof HASHES;

/** PKCS#1 v1.5 DigestInfo prefixes, by digest length. */
const DIGEST_INFO: Record<DigestLength, Buffer> = {
  32: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  48: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  64: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export const RSA_SIGNATURES: Record<string, { digestLength: DigestLength; pss: boolean }> = {
  RS256: { digestLength: 32, pss: false }, RS384: { digestLength: 48, pss: false }, RS512: { digestLength: 64, pss: false },
  PS256: { digestLength: 32, pss: true }, PS384: { digestLength: 48, pss: true }, PS512: { digestLength: 64, pss: true },
};

/** The curves of a Managed HSM, with OpenSSL's names and their group orders. */
export const CURVES: Record<string, { openssl: string; order: bigint; bytes: number }> = {
  'P-256': { openssl: 'prime256v1', order: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'), bytes: 32 },
  'P-384': { openssl: 'secp384r1', order: BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'), bytes: 48 },
  'P-521': { openssl: 'secp521r1', order: BigInt('0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409'), bytes: 66 },
  'P-256K': { openssl: 'secp256k1', order: BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'), bytes: 32 },
};

export const EC_SIGNATURES: Record<string, { curve: string; digestLength: DigestLength }> = {
  ES256: { curve: 'P-256', digestLength: 32 }, ES384: { curve: 'P-384', digestLength: 48 }, ES512: { curve: 'P-521', digestLength: 64 }, ES256K: { curve: 'P-256K', digestLength: 32 },
};

function checkDigest(digest: Buffer, length: DigestLength, alg: string): void {
  if (digest.length !== length) throw new CryptoRefusal(`The digest for ${alg} must be ${length} bytes, not ${digest.length}`);
}

function modulusBytes(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 2048) / 8);
}

function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * seed.length < length; counter += 1) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(createHash(hash).update(seed).update(c).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** EMSA-PSS (RFC 8017 9.1) with a salt as long as the digest, as Key Vault's PSnnn use. */
function pssEncoded(digest: Buffer, hash: string, emBits: number, salt: Buffer): Buffer {
  const emLength = Math.ceil(emBits / 8);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLength - salt.length - h.length - 2), Buffer.from([1]), salt]);
  const mask = mgf1(h, db.length, hash);
  const masked = Buffer.from(db.map((byte, i) => byte ^ mask[i]));
  masked[0] &= 0xff >> (8 * emLength - emBits);
  return Buffer.concat([masked, h, Buffer.from([0xbc])]);
}

function pssSaltOf(encoded: Buffer, hash: string, hashLength: number, emBits: number): Buffer | undefined {
  if (encoded[encoded.length - 1] !== 0xbc) return undefined;
  const masked = encoded.subarray(0, encoded.length - hashLength - 1);
  const h = encoded.subarray(masked.length, encoded.length - 1);
  const mask = mgf1(h, masked.length, hash);
  const db = Buffer.from(masked.map((byte, i) => byte ^ mask[i]));
  db[0] &= 0xff >> (8 * encoded.length - emBits);
  const separator = db.length - hashLength - 1;
  if (separator < 0 || db[separator] !== 1 || db.subarray(0, separator).some((byte) => byte !== 0)) return undefined;
  return db.subarray(separator + 1);
}

export function rsaSign(privatePem: string, alg: string, digest: Buffer): Buffer {
  const scheme = RSA_SIGNATURES[alg];
  checkDigest(digest, scheme.digestLength, alg);
  const key = createPrivateKey(privatePem);
  if (!scheme.pss) return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[scheme.digestLength], digest]));
  const bits = (key.asymmetricKeyDetails?.modulusLength ?? 2048) - 1;
  const encoded = pssEncoded(digest, HASHES[scheme.digestLength], bits, randomBytes(scheme.digestLength));
  const block = Buffer.concat([Buffer.alloc(modulusBytes(key) - encoded.length), encoded]);
  return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, block);
}

export function rsaVerify(privatePem: string, alg: string, digest: Buffer, signature: Buffer): boolean {
  const scheme = RSA_SIGNATURES[alg];
  checkDigest(digest, scheme.digestLength, alg);
  const key = createPublicKey(privatePem);
  let recovered: Buffer;
  try {
    recovered = publicDecrypt({ key, padding: scheme.pss ? constants.RSA_NO_PADDING : constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
  if (!scheme.pss) {
    const expected = Buffer.concat([DIGEST_INFO[scheme.digestLength], digest]);
    return recovered.length === expected.length && timingSafeEqual(recovered, expected);
  }
  const bits = (key.asymmetricKeyDetails?.modulusLength ?? 2048) - 1;
  const encoded = recovered.subarray(recovered.length - Math.ceil(bits / 8));
  const salt = pssSaltOf(encoded, HASHES[scheme.digestLength], scheme.digestLength, bits);
  if (!salt) return false;
  return pssEncoded(digest, HASHES[scheme.digestLength], bits, salt).equals(encoded);
}

const toBigInt = (buffer: Buffer): bigint => BigInt(`0x${buffer.toString('hex') || '0'}`);

function toBuffer(value: bigint, bytes: number): Buffer {
  return Buffer.from(value.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** The x coordinate of scalar·G, computed by OpenSSL (an ECDH public key is exactly that). */
function xOfScalarTimesGenerator(curve: string, scalar: bigint): bigint {
  const { openssl, bytes } = CURVES[curve];
  const ecdh = createECDH(openssl);
  ecdh.setPrivateKey(toBuffer(scalar, bytes));
  return toBigInt(ecdh.getPublicKey().subarray(1, 1 + bytes));
}

/** The digest as ECDSA reads it: its leftmost bits, as many as the group order has. */
function digestScalar(digest: Buffer, order: bigint): bigint {
  const excess = digest.length * 8 - order.toString(2).length;
  return excess > 0 ? toBigInt(digest) >> BigInt(excess) : toBigInt(digest);
}

function ecPrivateScalar(privatePem: string): bigint {
  const jwk = createPrivateKey(privatePem).export({ format: 'jwk' });
  return toBigInt(Buffer.from(jwk.d as string, 'base64url'));
}

/** ECDSA over a given digest: r = x(k·G) mod n, s = k⁻¹(e + r·d) mod n, as r‖s (JWS form). */
export function ecSign(privatePem: string, alg: string, digest: Buffer): Buffer {
  const { curve, digestLength } = EC_SIGNATURES[alg];
  checkDigest(digest, digestLength, alg);
  const { order: n, bytes } = CURVES[curve];
  const d = ecPrivateScalar(privatePem);
  const e = digestScalar(digest, n);
  for (;;) {
    const k = (toBigInt(randomBytes(bytes + 8)) % (n - 1n)) + 1n;
    const r = xOfScalarTimesGenerator(curve, k) % n;
    const s = (modPow(k, n - 2n, n) * (e + r * d)) % n;
    if (r !== 0n && s !== 0n) return Buffer.concat([toBuffer(r, bytes), toBuffer(s, bytes)]);
  }
}

/** Holding the private scalar d, u1·G + u2·Q is (u1 + u2·d)·G: one multiplication of the generator. */
export function ecVerify(privatePem: string, alg: string, digest: Buffer, signature: Buffer): boolean {
  const { curve, digestLength } = EC_SIGNATURES[alg];
  checkDigest(digest, digestLength, alg);
  const { order: n, bytes } = CURVES[curve];
  if (signature.length !== 2 * bytes) return false;
  const r = toBigInt(signature.subarray(0, bytes));
  const s = toBigInt(signature.subarray(bytes));
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  const w = modPow(s, n - 2n, n);
  const t = ((digestScalar(digest, n) * w) % n + ((r * w) % n) * ecPrivateScalar(privatePem)) % n;
  return t !== 0n && xOfScalarTimesGenerator(curve, t) % n === r;
}

const OAEP_HASH: Record<string, string> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };
export const RSA_ENCRYPTIONS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'];

export function rsaEncrypt(privatePem: string, alg: string, plaintext: Buffer): Buffer {
  const key = createPublicKey(privatePem);
  return alg === 'RSA1_5'
    ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext)
    : publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[alg] }, plaintext);
}

/** PKCS#1 v1.5 decryption is refused by Node's own padding check, so it is undone here: 00 02 PS 00 M. */
export function rsaDecrypt(privatePem: string, alg: string, ciphertext: Buffer): Buffer {
  const key = createPrivateKey(privatePem);
  try {
    if (alg !== 'RSA1_5') return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[alg] }, ciphertext);
    const block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
    const separator = block.indexOf(0, 2);
    if (block[0] !== 0 || block[1] !== 2 || separator < 10) throw new Error('bad padding');
    return block.subarray(separator + 1);
  } catch {
    throw new CryptoRefusal('The ciphertext cannot be decrypted with this key');
  }
}

export const AES_ENCRYPTIONS: Record<string, { bits: number; mode: 'gcm' | 'cbc' | 'cbcpad' }> = {
  A128GCM: { bits: 128, mode: 'gcm' }, A192GCM: { bits: 192, mode: 'gcm' }, A256GCM: { bits: 256, mode: 'gcm' },
  A128CBC: { bits: 128, mode: 'cbc' }, A192CBC: { bits: 192, mode: 'cbc' }, A256CBC: { bits: 256, mode: 'cbc' },
  A128CBCPAD: { bits: 128, mode: 'cbcpad' }, A192CBCPAD: { bits: 192, mode: 'cbcpad' }, A256CBCPAD: { bits: 256, mode: 'cbcpad' },
};
export const AES_KEY_WRAPS: Record<string, number> = { A128KW: 128, A192KW: 192, A256KW: 256 };

export interface AesResult {
  value: Buffer;
  iv?: Buffer;
  tag?: Buffer;
  aad?: Buffer;
}

function checkAesKey(secret: Buffer, bits: number, alg: string): void {
  if (secret.length * 8 !== bits) throw new CryptoRefusal(`${alg} needs a ${bits}-bit key; this key has ${secret.length * 8} bits`);
}

/** GCM takes no IV from the caller: the HSM makes one (12 bytes) and returns it with the tag. */
export function aesEncrypt(secret: Buffer, alg: string, plaintext: Buffer, iv: Buffer | undefined, aad: Buffer | undefined): AesResult {
  const { bits, mode } = AES_ENCRYPTIONS[alg];
  checkAesKey(secret, bits, alg);
  if (mode === 'gcm') {
    const nonce = randomBytes(12);
    const cipher = createCipheriv(`aes-${bits}-gcm` as CipherGCMTypes, secret, nonce);
    if (aad) cipher.setAAD(aad);
    const value = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { value, iv: nonce, tag: cipher.getAuthTag(), ...(aad ? { aad } : {}) };
  }
  if (!iv || iv.length !== 16) throw new CryptoRefusal(`${alg} needs a 16-byte iv`);
  const cipher = createCipheriv(`aes-${bits}-cbc`, secret, iv);
  cipher.setAutoPadding(mode === 'cbcpad');
  try {
    return { value: Buffer.concat([cipher.update(plaintext), cipher.final()]), iv };
  } catch {
    throw new CryptoRefusal(`${alg} encrypts whole 16-byte blocks only; use ${alg}PAD for other lengths`);
  }
}

export function aesDecrypt(secret: Buffer, alg: string, ciphertext: Buffer, iv: Buffer | undefined, tag: Buffer | undefined, aad: Buffer | undefined): Buffer {
  const { bits, mode } = AES_ENCRYPTIONS[alg];
  checkAesKey(secret, bits, alg);
  if (!iv) throw new CryptoRefusal(`${alg} needs the iv`);
  try {
    if (mode === 'gcm') {
      if (!tag) throw new CryptoRefusal(`${alg} needs the authentication tag`);
      const decipher = createDecipheriv(`aes-${bits}-gcm` as CipherGCMTypes, secret, iv);
      decipher.setAuthTag(tag);
      if (aad) decipher.setAAD(aad);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    }
    const decipher = createDecipheriv(`aes-${bits}-cbc`, secret, iv);
    decipher.setAutoPadding(mode === 'cbcpad');
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch (error) {
    if (error instanceof CryptoRefusal) throw error;
    throw new CryptoRefusal('The ciphertext cannot be decrypted with this key');
  }
}

const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

export function aesWrap(secret: Buffer, alg: string, keyToWrap: Buffer, unwrap: boolean): Buffer {
  const bits = AES_KEY_WRAPS[alg];
  checkAesKey(secret, bits, alg);
  try {
    const cipher = unwrap ? createDecipheriv(`id-aes${bits}-wrap`, secret, KW_IV) : createCipheriv(`id-aes${bits}-wrap`, secret, KW_IV);
    return Buffer.concat([cipher.update(keyToWrap), cipher.final()]);
  } catch {
    throw new CryptoRefusal(unwrap ? 'The wrapped key cannot be unwrapped with this key' : `${alg} wraps keys of 16 bytes or more, in 8-byte blocks`);
  }
}
