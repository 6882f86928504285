import { createPrivateKey, createPublicKey } from 'node:crypto';
import {
  AES_ENCRYPTIONS, AES_KEY_WRAPS, CURVES, CryptoRefusal, EC_SIGNATURES, RSA_ENCRYPTIONS, RSA_SIGNATURES,
  aesDecrypt, aesEncrypt, aesWrap, ecSign, ecVerify, rsaDecrypt, rsaEncrypt, rsaSign, rsaVerify,
} from './crypto';
import { DATA_ACTION_PREFIX, isKeyName } from './model';
import { badParameter, hsmError, ok, type Caller, type EmulatorResponse } from './responses';
import type { LocalRbac } from './rbac';
import { KEY_OPS_OF, kindOf, materialOf, newKeyVersion, secretOf, type HsmStateStore, type KeyKind, type KeyShape, type StoredKey, type StoredKeyVersion } from './state';

const base64url = (buffer: Buffer): string => buffer.toString('base64url');

/** The operations of `POST /keys/{name}/{version}/{operation}`: the key op each needs and the data action that allows it. */
export const KEY_OPERATIONS = {
  sign: { keyOp: 'sign', dataAction: 'keys/sign/action' },
  verify: { keyOp: 'verify', dataAction: 'keys/verify/action' },
  encrypt: { keyOp: 'encrypt', dataAction: 'keys/encrypt/action' },
  decrypt: { keyOp: 'decrypt', dataAction: 'keys/decrypt/action' },
  wrapkey: { keyOp: 'wrapKey', dataAction: 'keys/wrap/action' },
  unwrapkey: { keyOp: 'unwrapKey', dataAction: 'keys/unwrap/action' },
} as const;
export type KeyOperation = keyof typeof KEY_OPERATIONS;

const WIRE_KTY: Record<KeyKind, string> = { RSA: 'RSA-HSM', EC: 'EC-HSM', oct: 'oct-HSM' };
const SIZES: Record<Exclude<KeyKind, 'EC'>, readonly number[]> = { RSA: [2048, 3072, 4096], oct: [128, 192, 256] };

/** The algorithms each key type takes, per operation. */
const ALGORITHMS: Record<KeyKind, Record<'sign' | 'encrypt' | 'wrap', readonly string[]>> = {
  RSA: { sign: Object.keys(RSA_SIGNATURES), encrypt: RSA_ENCRYPTIONS, wrap: RSA_ENCRYPTIONS },
  EC: { sign: Object.keys(EC_SIGNATURES), encrypt: [], wrap: [] },
  oct: { sign: [], encrypt: Object.keys(AES_ENCRYPTIONS), wrap: Object.keys(AES_KEY_WRAPS) },
};

interface OperationBody {
  alg?: unknown;
  value?: unknown;
  digest?: unknown;
  iv?: unknown;
  tag?: unknown;
  aad?: unknown;
}

function bytes(value: unknown, name: string): Buffer {
  if (typeof value !== 'string' || value === '') throw new CryptoRefusal(`${name} is required (base64url)`);
  return Buffer.from(value, 'base64url');
}

const optionalBytes = (value: unknown): Buffer | undefined => (typeof value === 'string' && value !== '' ? Buffer.from(value, 'base64url') : undefined);

/** What a create asks for, checked as the HSM checks it; a refusal otherwise. */
function requestedShape(request: { kty?: unknown; key_size?: unknown; crv?: unknown }): KeyShape | EmulatorResponse {
  const kty = typeof request.kty === 'string' ? request.kty.replace(/-HSM$/, '') : undefined;
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'oct') return badParameter(`Invalid key type: ${String(request.kty)} (a Managed HSM creates RSA-HSM, EC-HSM and oct-HSM keys)`);
  if (kty === 'EC') {
    const curve = request.crv ?? 'P-256';
    if (typeof curve !== 'string' || !CURVES[curve]) return badParameter(`Invalid curve: ${String(curve)} (P-256, P-384, P-521, P-256K)`);
    return { kty, curve };
  }
  const size = request.key_size ?? (kty === 'RSA' ? 2048 : 256);
  if (typeof size !== 'number' || !SIZES[kty].includes(size)) return badParameter(`Invalid key size: '${String(size)}' (${kty} keys are ${SIZES[kty].join(', ')} bits)`);
  return { kty, keySize: size };
}

/** Keys as a Managed HSM holds them: RSA, EC and AES keys, each operation gated by its data action and the key's `key_ops`. */
export class KeyOperations {
  constructor(
    private readonly store: HsmStateStore,
    private readonly rbac: LocalRbac,
  ) {}

  find(name: string): StoredKey | undefined {
    return this.store.data.keys.find((key) => key.name.toLowerCase() === name.toLowerCase());
  }

  private version(key: StoredKey, version: string | undefined): StoredKeyVersion | undefined {
    if (!version) return key.versions[key.versions.length - 1];
    return key.versions.find((candidate) => candidate.version === version);
  }

  /** Key Vault's own 403 shape for key operations; the action and resource name what was refused. */
  private guard(caller: Caller, dataAction: string, scope: string): EmulatorResponse | undefined {
    if (this.rbac.isAllowed(caller, dataAction, scope)) return undefined;
    return hsmError(
      403,
      'Forbidden',
      `Caller is not authorized to perform action on resource.\r\nIf role assignments were recently changed, please wait several minutes for role assignments to become effective.\r\nCaller: oid=${caller.objectId}\r\nAction: '${DATA_ACTION_PREFIX}${dataAction}'\r\nResource: '${scope}'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC'`,
    );
  }

  bundle(baseUrl: string, key: StoredKey, version: StoredKeyVersion): unknown {
    const kind = kindOf(version);
    const common = { kid: `${baseUrl}/keys/${key.name}/${version.version}`, kty: WIRE_KTY[kind], key_ops: version.keyOps };
    const tags = key.tags ? { tags: key.tags } : {};
    if (kind === 'oct') return { key: common, attributes: this.attributes(version), ...tags };
    const jwk = createPublicKey(createPrivateKey(materialOf(version))).export({ format: 'jwk' });
    const material = kind === 'EC' ? { crv: version.curve ?? 'P-256', x: jwk.x, y: jwk.y } : { n: jwk.n, e: jwk.e };
    return { key: { ...common, ...material }, attributes: this.attributes(version), ...tags };
  }

  /** What a key list shows of a key: no key material, so listing thousands of keys stays cheap. */
  private attributes(version: StoredKeyVersion): Record<string, unknown> {
    return {
      enabled: version.enabled,
      created: version.created,
      updated: version.updated,
      ...(version.expires !== undefined ? { exp: version.expires } : {}),
      ...(version.notBefore !== undefined ? { nbf: version.notBefore } : {}),
      recoveryLevel: 'CustomizedRecoverable+Purgeable',
      recoverableDays: 7,
      exportable: false,
    };
  }

  create(caller: Caller, baseUrl: string, name: string, body: unknown): EmulatorResponse {
    if (!isKeyName(name)) return badParameter(`Invalid key name: ${name}`);
    const refused = this.guard(caller, 'keys/create', `/keys/${name}`);
    if (refused) return refused;
    const request = (body ?? {}) as { kty?: unknown; key_size?: unknown; crv?: unknown; key_ops?: unknown; attributes?: { exp?: unknown; nbf?: unknown }; tags?: unknown };
    const tags = request.tags;
    if (tags !== undefined && (typeof tags !== 'object' || tags === null || Array.isArray(tags) || !Object.values(tags).every((value) => typeof value === 'string'))) {
      return badParameter('tags must be an object of strings');
    }
    const shape = requestedShape(request);
    if ('status' in shape) return shape;
    const allowedOps = KEY_OPS_OF[shape.kty];
    if (request.key_ops !== undefined && (!Array.isArray(request.key_ops) || !request.key_ops.every((op) => allowedOps.includes(op as string)))) {
      return badParameter(`Invalid key_ops for ${WIRE_KTY[shape.kty]}: ${JSON.stringify(request.key_ops)} (allowed: ${allowedOps.join(', ')})`);
    }
    const keyOps = Array.isArray(request.key_ops) ? (request.key_ops as string[]) : undefined;
    const expires = typeof request.attributes?.exp === 'number' ? new Date(request.attributes.exp * 1000) : undefined;
    const version = newKeyVersion(keyOps, expires, { shape });
    if (typeof request.attributes?.nbf === 'number') version.notBefore = request.attributes.nbf;
    let key = this.find(name);
    if (key) key.versions.push(version);
    else {
      key = { name, versions: [version] };
      this.store.data.keys.push(key);
    }
    if (tags !== undefined) key.tags = tags as Record<string, string>;
    this.store.save();
    return ok(this.bundle(baseUrl, key, version));
  }

  get(caller: Caller, baseUrl: string, name: string, versionName: string | undefined): EmulatorResponse {
    const refused = this.guard(caller, 'keys/read/action', `/keys/${name}`);
    if (refused) return refused;
    const key = this.find(name);
    const version = key && this.version(key, versionName);
    if (!key || !version) return keyNotFound(name, versionName);
    return ok(this.bundle(baseUrl, key, version));
  }

  /** Every key, in order; `listItem` renders the ones on the page asked for. */
  list(caller: Caller): EmulatorResponse | StoredKey[] {
    const refused = this.guard(caller, 'keys/read/action', '/keys');
    return refused ?? this.store.data.keys;
  }

  listItem(baseUrl: string, key: StoredKey): unknown {
    const latest = key.versions[key.versions.length - 1];
    return { kid: `${baseUrl}/keys/${key.name}`, attributes: this.attributes(latest) };
  }

  /** sign, verify, encrypt, decrypt, wrapkey or unwrapkey: data action, key, key_ops, then the algorithm the key type takes. */
  operate(caller: Caller, baseUrl: string, operation: KeyOperation, name: string, versionName: string | undefined, body: unknown): EmulatorResponse {
    const { keyOp, dataAction } = KEY_OPERATIONS[operation];
    const refused = this.guard(caller, dataAction, `/keys/${name}`);
    if (refused) return refused;
    const key = this.find(name);
    const version = key && this.version(key, versionName);
    if (!key || !version) return keyNotFound(name, versionName);
    const unusable = this.unusable(version, keyOp);
    if (unusable) return unusable;
    const request = (body ?? {}) as OperationBody;
    const kind = kindOf(version);
    const family = operation === 'sign' || operation === 'verify' ? 'sign' : operation === 'encrypt' || operation === 'decrypt' ? 'encrypt' : 'wrap';
    const alg = typeof request.alg === 'string' ? request.alg : undefined;
    if (!alg || !ALGORITHMS[kind][family].includes(alg)) {
      return badParameter(`Unsupported algorithm ${String(request.alg)} for ${operation} with a ${WIRE_KTY[kind]} key (supported: ${ALGORITHMS[kind][family].join(', ')})`);
    }
    const kid = `${baseUrl}/keys/${key.name}/${version.version}`;
    try {
      return ok(this.compute(operation, kind, version, alg, request, kid));
    } catch (error) {
      if (error instanceof CryptoRefusal) return badParameter(error.message);
      throw error;
    }
  }

  private compute(operation: KeyOperation, kind: KeyKind, version: StoredKeyVersion, alg: string, request: OperationBody, kid: string): Record<string, unknown> {
    if (operation === 'sign') {
      const digest = bytes(request.value, 'value (the digest)');
      return { kid, value: base64url(kind === 'EC' ? ecSign(materialOf(version), alg, digest) : rsaSign(materialOf(version), alg, digest)) };
    }
    if (operation === 'verify') {
      const digest = bytes(request.digest, 'digest');
      const signature = bytes(request.value, 'value (the signature)');
      return { value: kind === 'EC' ? ecVerify(materialOf(version), alg, digest, signature) : rsaVerify(materialOf(version), alg, digest, signature) };
    }
    const input = bytes(request.value, 'value');
    if (kind === 'RSA') {
      const output = operation === 'encrypt' || operation === 'wrapkey' ? rsaEncrypt(materialOf(version), alg, input) : rsaDecrypt(materialOf(version), alg, input);
      return { kid, value: base64url(output) };
    }
    if (operation === 'wrapkey' || operation === 'unwrapkey') return { kid, value: base64url(aesWrap(secretOf(version), alg, input, operation === 'unwrapkey')) };
    const iv = optionalBytes(request.iv);
    const aad = optionalBytes(request.aad);
    if (operation === 'decrypt') return { kid, value: base64url(aesDecrypt(secretOf(version), alg, input, iv, optionalBytes(request.tag), aad)) };
    const result = aesEncrypt(secretOf(version), alg, input, iv, aad);
    return {
      kid,
      value: base64url(result.value),
      ...(result.iv ? { iv: base64url(result.iv) } : {}),
      ...(result.tag ? { tag: base64url(result.tag) } : {}),
      ...(result.aad ? { aad: base64url(result.aad) } : {}),
    };
  }

  private unusable(version: StoredKeyVersion, operation: string): EmulatorResponse | undefined {
    if (!version.enabled) return hsmError(403, 'Forbidden', 'Operation is not allowed on a disabled key.');
    if (version.expires !== undefined && version.expires * 1000 < Date.now()) return hsmError(403, 'Forbidden', 'Operation is not allowed on an expired key.');
    if (!version.keyOps.includes(operation)) return hsmError(403, 'Forbidden', `Operation ${operation} is not allowed on this key.`);
    return undefined;
  }
}

function keyNotFound(name: string, version: string | undefined): EmulatorResponse {
  return hsmError(404, 'KeyNotFound', `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`);
}
