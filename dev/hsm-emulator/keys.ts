import { createPrivateKey, createPublicKey, privateEncrypt, publicDecrypt, constants, timingSafeEqual } from 'node:crypto';
import { DATA_ACTION_PREFIX, isKeyName } from './model';
import { badParameter, hsmError, ok, type Caller, type EmulatorResponse } from './responses';
import type { LocalRbac } from './rbac';
import { DEFAULT_KEY_OPS, materialOf, newKeyVersion, type HsmStateStore, type StoredKey, type StoredKeyVersion } from './state';

/** PKCS#1 v1.5 DigestInfo prefixes: RSnnn signs a digest the caller already computed. */
const DIGEST_INFO: Record<string, { prefix: Buffer; length: number }> = {
  RS256: { prefix: Buffer.from('3031300d060960864801650304020105000420', 'hex'), length: 32 },
  RS384: { prefix: Buffer.from('3041300d060960864801650304020205000430', 'hex'), length: 48 },
  RS512: { prefix: Buffer.from('3051300d060960864801650304020305000440', 'hex'), length: 64 },
};

const base64url = (buffer: Buffer): string => buffer.toString('base64url');

/** Keys, enough to show what a data-plane grant does: create, read, list, sign and verify. */
export class KeyOperations {
  constructor(
    private readonly store: HsmStateStore,
    private readonly rbac: LocalRbac,
  ) {}

  private find(name: string): StoredKey | undefined {
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
    const jwk = createPublicKey(createPrivateKey(materialOf(version))).export({ format: 'jwk' });
    return {
      key: { kid: `${baseUrl}/keys/${key.name}/${version.version}`, kty: 'RSA-HSM', key_ops: version.keyOps, n: jwk.n, e: jwk.e },
      attributes: this.attributes(version),
    };
  }

  /** What a key list shows of a key: no key material, so listing thousands of keys stays cheap. */
  private attributes(version: StoredKeyVersion): Record<string, unknown> {
    return {
        enabled: version.enabled,
        created: version.created,
        updated: version.updated,
        ...(version.expires !== undefined ? { exp: version.expires } : {}),
        recoveryLevel: 'CustomizedRecoverable+Purgeable',
        recoverableDays: 7,
        exportable: false,
    };
  }

  create(caller: Caller, baseUrl: string, name: string, body: unknown): EmulatorResponse {
    if (!isKeyName(name)) return badParameter(`Invalid key name: ${name}`);
    const refused = this.guard(caller, 'keys/create', `/keys/${name}`);
    if (refused) return refused;
    const request = (body ?? {}) as { kty?: unknown; key_size?: unknown; key_ops?: unknown; attributes?: { exp?: unknown } };
    if (request.kty !== 'RSA' && request.kty !== 'RSA-HSM') return badParameter(`Unsupported key type: ${String(request.kty)} (the emulator creates RSA keys)`);
    if (request.key_size !== undefined && request.key_size !== 2048) return badParameter('The emulator creates RSA 2048 keys');
    const keyOps = Array.isArray(request.key_ops) ? (request.key_ops as string[]) : DEFAULT_KEY_OPS;
    const expires = typeof request.attributes?.exp === 'number' ? new Date(request.attributes.exp * 1000) : undefined;
    const version = newKeyVersion(keyOps, expires);
    let key = this.find(name);
    if (key) key.versions.push(version);
    else {
      key = { name, versions: [version] };
      this.store.data.keys.push(key);
    }
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

  sign(caller: Caller, baseUrl: string, name: string, versionName: string | undefined, body: unknown): EmulatorResponse {
    const refused = this.guard(caller, 'keys/sign/action', `/keys/${name}`);
    if (refused) return refused;
    const key = this.find(name);
    const version = key && this.version(key, versionName);
    if (!key || !version) return keyNotFound(name, versionName);
    const unusable = this.unusable(version, 'sign');
    if (unusable) return unusable;
    const request = (body ?? {}) as { alg?: unknown; value?: unknown };
    const digest = this.digest(request.alg, request.value);
    if ('status' in digest) return digest;
    const signature = privateEncrypt({ key: materialOf(version), padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([digest.info.prefix, digest.value]));
    return ok({ kid: `${baseUrl}/keys/${key.name}/${version.version}`, value: base64url(signature) });
  }

  verify(caller: Caller, name: string, versionName: string | undefined, body: unknown): EmulatorResponse {
    const refused = this.guard(caller, 'keys/verify/action', `/keys/${name}`);
    if (refused) return refused;
    const key = this.find(name);
    const version = key && this.version(key, versionName);
    if (!key || !version) return keyNotFound(name, versionName);
    const request = (body ?? {}) as { alg?: unknown; digest?: unknown; value?: unknown };
    const digest = this.digest(request.alg, request.digest);
    if ('status' in digest) return digest;
    if (typeof request.value !== 'string') return badParameter('value (the signature) is required');
    const expected = Buffer.concat([digest.info.prefix, digest.value]);
    let recovered: Buffer;
    try {
      recovered = publicDecrypt({ key: createPublicKey(materialOf(version)), padding: constants.RSA_PKCS1_PADDING }, Buffer.from(request.value, 'base64url'));
    } catch {
      return ok({ value: false });
    }
    return ok({ value: recovered.length === expected.length && timingSafeEqual(recovered, expected) });
  }

  private unusable(version: StoredKeyVersion, operation: string): EmulatorResponse | undefined {
    if (!version.enabled) return hsmError(403, 'Forbidden', 'Operation is not allowed on a disabled key.');
    if (version.expires !== undefined && version.expires * 1000 < Date.now()) return hsmError(403, 'Forbidden', 'Operation is not allowed on an expired key.');
    if (!version.keyOps.includes(operation)) return hsmError(403, 'Forbidden', `Operation ${operation} is not allowed on this key.`);
    return undefined;
  }

  private digest(alg: unknown, value: unknown): { info: { prefix: Buffer; length: number }; value: Buffer } | EmulatorResponse {
    const info = typeof alg === 'string' ? DIGEST_INFO[alg] : undefined;
    if (!info) return badParameter(`Unsupported algorithm: ${String(alg)} (the emulator signs with RS256, RS384 and RS512)`);
    if (typeof value !== 'string') return badParameter('The digest is required');
    const digest = Buffer.from(value, 'base64url');
    if (digest.length !== info.length) return badParameter(`The digest for ${String(alg)} must be ${info.length} bytes`);
    return { info, value: digest };
  }
}

function keyNotFound(name: string, version: string | undefined): EmulatorResponse {
  return hsmError(404, 'KeyNotFound', `A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`);
}
