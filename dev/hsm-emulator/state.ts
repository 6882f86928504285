import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CURVES } from './crypto';
import { readJsonState, writeJsonAtomically } from '../emulator-common/state';
import { AssignmentIndex } from './assignmentIndex';
import {
  BUILT_IN_ROLES,
  ROLE_DEFINITION_PREFIX,
  isGuid,
  isKeyName,
  isValidScope,
  roleGuidFromId,
  type RoleDefinition,
  type StoredAssignment,
} from './model';

/** The key types of a Managed HSM; all are held in the HSM (`RSA-HSM`, `EC-HSM`, `oct-HSM` on the wire). */
export type KeyKind = 'RSA' | 'EC' | 'oct';

/** What a key is: its type and its size (RSA, oct) or curve (EC). */
export interface KeyShape {
  kty: KeyKind;
  keySize?: number;
  curve?: string;
}

export interface StoredKeyVersion {
  version: string;
  /** Absent in state written before other types existed: RSA 2048. */
  kty?: KeyKind;
  keySize?: number;
  curve?: string;
  /** RSA and EC material, made on first use: a seed of thousands of keys starts at once. */
  privateKeyPem?: string;
  /** The AES key of an oct key, base64. */
  secret?: string;
  keyOps: string[];
  created: number;
  updated: number;
  expires?: number;
  /** `nbf`: not usable before (seconds). */
  notBefore?: number;
  enabled: boolean;
}

export interface StoredKey {
  name: string;
  versions: StoredKeyVersion[];
  tags?: Record<string, string>;
}

export interface HsmStateData {
  roleDefinitions: RoleDefinition[];
  roleAssignments: StoredAssignment[];
  keys: StoredKey[];
}

/**
 * The seed file: what the HSM holds when it first starts. Roles may be named by their role name
 * ("Managed HSM Crypto User"), their short name ("Crypto User") or their GUID.
 */
export interface HsmSeed {
  roleDefinitions?: Array<{ name: string; roleName: string; description?: string; dataActions: string[]; notDataActions?: string[] }>;
  roleAssignments?: Array<{ name: string; scope: string; role: string; principalId: string; comment?: string }>;
  /** `created` backdates the current version (for rotation reports). */
  keys?: Array<{ name: string; expires?: string; created?: string; keyOps?: string[]; kty?: KeyKind; keySize?: number; curve?: string }>;
}

/** The operations each key type can do, which are also its default `key_ops`. */
export const KEY_OPS_OF: Record<KeyKind, readonly string[]> = {
  RSA: ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  EC: ['sign', 'verify'],
  // What a real HSM gives an oct-HSM key when the create names none (the recorded answer's order).
  oct: ['deriveKey', 'wrapKey', 'verify', 'sign', 'unwrapKey', 'encrypt', 'decrypt'],
};
export const DEFAULT_KEY_OPS = [...KEY_OPS_OF.RSA];
const RSA_2048: KeyShape = { kty: 'RSA', keySize: 2048 };

export function kindOf(version: StoredKeyVersion): KeyKind {
  return version.kty ?? 'RSA';
}

/** The version's RSA or EC private key (PEM), generated the first time it is needed. */
export function materialOf(version: StoredKeyVersion): string {
  if (!version.privateKeyPem) {
    const { privateKey } = kindOf(version) === 'EC'
      ? generateKeyPairSync('ec', { namedCurve: CURVES[version.curve ?? 'P-256'].openssl })
      : generateKeyPairSync('rsa', { modulusLength: version.keySize ?? 2048 });
    version.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }
  return version.privateKeyPem;
}

/** The version's AES key, generated the first time it is needed. */
export function secretOf(version: StoredKeyVersion): Buffer {
  version.secret ??= randomBytes((version.keySize ?? 256) / 8).toString('base64');
  return Buffer.from(version.secret, 'base64');
}

export function newKeyVersion(keyOps?: string[], expires?: Date, options: { lazy?: boolean; created?: Date; shape?: KeyShape } = {}): StoredKeyVersion {
  const now = Math.floor(Date.now() / 1000);
  const shape = options.shape ?? RSA_2048;
  const version: StoredKeyVersion = {
    version: randomBytes(16).toString('hex'),
    kty: shape.kty,
    ...(shape.keySize !== undefined ? { keySize: shape.keySize } : {}),
    ...(shape.curve !== undefined ? { curve: shape.curve } : {}),
    keyOps: keyOps ?? [...KEY_OPS_OF[shape.kty]],
    created: now,
    updated: now,
    ...(expires ? { expires: Math.floor(expires.getTime() / 1000) } : {}),
    enabled: true,
  };
  if (!options.lazy) {
    if (shape.kty === 'oct') secretOf(version);
    else materialOf(version);
  }
  if (options.created) version.created = version.updated = Math.floor(options.created.getTime() / 1000);
  return version;
}

export function resolveRoleGuid(role: string, customRoles: readonly RoleDefinition[]): string | undefined {
  const all = [...BUILT_IN_ROLES, ...customRoles];
  const wanted = role.trim().toLowerCase();
  const found = all.find((definition) => {
    const roleName = definition.properties.roleName.toLowerCase();
    return definition.name.toLowerCase() === roleGuidFromId(wanted) || roleName === wanted || roleName === `managed hsm ${wanted}`;
  });
  return found?.name;
}

export function stateFromSeed(seed: HsmSeed): HsmStateData {
  const roleDefinitions: RoleDefinition[] = (seed.roleDefinitions ?? []).map((custom) => {
    if (!isGuid(custom.name)) throw new Error(`Seed role definition '${custom.roleName}' needs a GUID name`);
    return {
      id: `${ROLE_DEFINITION_PREFIX}${custom.name}`,
      name: custom.name,
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: {
        assignableScopes: ['/'],
        description: custom.description ?? '',
        permissions: [{ actions: [], notActions: [], dataActions: custom.dataActions, notDataActions: custom.notDataActions ?? [] }],
        roleName: custom.roleName,
        type: 'CustomRole',
      },
    };
  });
  const roleAssignments = (seed.roleAssignments ?? []).map((assignment): StoredAssignment => {
    const guid = resolveRoleGuid(assignment.role, roleDefinitions);
    if (!guid) throw new Error(`Seed assignment ${assignment.name}: unknown role '${assignment.role}'`);
    if (!isGuid(assignment.name) || !isGuid(assignment.principalId)) throw new Error(`Seed assignment ${assignment.name}: name and principalId must be GUIDs`);
    if (!isValidScope(assignment.scope)) throw new Error(`Seed assignment ${assignment.name}: invalid scope '${assignment.scope}'`);
    return { name: assignment.name, scope: assignment.scope, roleDefinitionId: `${ROLE_DEFINITION_PREFIX}${guid}`, principalId: assignment.principalId };
  });
  const keys = (seed.keys ?? []).map((key): StoredKey => {
    if (!isKeyName(key.name)) throw new Error(`Seed key '${key.name}' has an invalid name`);
    const shape: KeyShape = { kty: key.kty ?? 'RSA', ...(key.keySize !== undefined ? { keySize: key.keySize } : {}), ...(key.curve !== undefined ? { curve: key.curve } : {}) };
    return { name: key.name, versions: [newKeyVersion(key.keyOps, key.expires ? new Date(key.expires) : undefined, { lazy: true, shape, ...(key.created ? { created: new Date(key.created) } : {}) })] };
  });
  return { roleDefinitions, roleAssignments, keys };
}

/** State kept in one JSON file, replaced atomically after every change so a crash never leaves half a write. */
export class HsmStateStore {
  readonly data: HsmStateData;
  /** `data.roleAssignments`, indexed: every change of an assignment goes through it. */
  readonly assignments: AssignmentIndex;

  private constructor(data: HsmStateData, private readonly file: string | undefined) {
    this.data = data;
    this.assignments = new AssignmentIndex(data.roleAssignments);
  }

  static open(options: { file?: string; seed?: HsmSeed }): HsmStateStore {
    const kept = readJsonState<HsmStateData>(options.file);
    if (kept) return new HsmStateStore(kept, options.file);
    const store = new HsmStateStore(stateFromSeed(options.seed ?? {}), options.file);
    store.save();
    return store;
  }

  save(): void {
    if (this.file) writeJsonAtomically(this.file, this.data);
  }
}
