/**
 * What a Managed HSM role lets its holder do with a key, in the words people ask in: can they
 * sign, decrypt, wrap, manage roles, back up or export? Derived from the role definition's data
 * actions (wildcards and notDataActions honoured), never from its name.
 */
import type { AccessBasis, EffectiveAccess, KeyAccess } from './reports';
import type { Policy, PrincipalDefinition } from './policy/types';

export type Capability = 'sign' | 'decrypt' | 'wrap' | 'manage-roles' | 'backup' | 'export';

const PREFIX = 'Microsoft.KeyVault/managedHsm/';

export interface CapabilityDefinition {
  readonly id: Capability;
  readonly label: string;
  /** Any of these data actions gives the capability. */
  readonly dataActions: readonly string[];
}

export const CAPABILITIES: readonly CapabilityDefinition[] = Object.freeze([
  { id: 'sign', label: 'Sign', dataActions: [`${PREFIX}keys/sign/action`] },
  { id: 'decrypt', label: 'Decrypt', dataActions: [`${PREFIX}keys/decrypt/action`] },
  { id: 'wrap', label: 'Wrap or unwrap', dataActions: [`${PREFIX}keys/wrap/action`, `${PREFIX}keys/unwrap/action`] },
  // Writing role assignments, or the definition of a role one holds, is granting oneself anything.
  { id: 'manage-roles', label: 'Manage roles', dataActions: [`${PREFIX}roleAssignments/write/action`, `${PREFIX}roleDefinitions/write/action`] },
  { id: 'backup', label: 'Back up', dataActions: [`${PREFIX}keys/backup/action`, `${PREFIX}backup/start/action`] },
  { id: 'export', label: 'Export or release', dataActions: [`${PREFIX}keys/export/action`, `${PREFIX}keys/release/action`] },
] as const);

/** Whether a role's data action pattern (`*` matches any run of characters) covers `action`; case-insensitive, as Azure compares them. */
export function dataActionCovers(pattern: string, action: string): boolean {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*');
  return new RegExp(`^${source}$`, 'i').test(action);
}

/** The data actions of a role that give each capability (absent: the role does not give it). */
export function capabilitiesOf(dataActions: readonly string[], notDataActions: readonly string[] = []): Partial<Record<Capability, string[]>> {
  const out: Partial<Record<Capability, string[]>> = {};
  for (const capability of CAPABILITIES) {
    const granted = capability.dataActions.filter((action) => dataActions.some((p) => dataActionCovers(p, action)) && !notDataActions.some((p) => dataActionCovers(p, action)));
    if (granted.length > 0) out[capability.id] = granted;
  }
  return out;
}

/** One grant that gives a holder capabilities on the key. */
export interface CapabilitySource {
  readonly role: string;
  readonly assignedAt: string;
  readonly basis: AccessBasis;
  readonly expiresAt?: string;
  readonly requestId?: string;
  readonly driftKind?: string;
  /** Set when the holder has it through a group. */
  readonly viaGroup?: string;
  readonly dataActions: readonly string[];
  readonly capabilities: readonly Capability[];
  /** A grant the service's records show running whose assignment the last inventory predates. */
  readonly afterInventory: boolean;
}

/** A row of the matrix: a person, workload or group and, per capability, the grants that give it. */
export interface CapabilityHolder {
  readonly principalId: string;
  readonly name: string;
  readonly type?: PrincipalDefinition['type'];
  /** For a group whose members the policy does not list: the group itself is the row. */
  readonly unexpandedGroup: boolean;
  readonly cells: Readonly<Record<Capability, readonly CapabilitySource[]>>;
  readonly sources: readonly CapabilitySource[];
  /** It can write role assignments or definitions: it can grant itself every capability. */
  readonly canGrantItself: boolean;
}

export interface KeyCapabilities {
  readonly key: string;
  readonly holders: readonly CapabilityHolder[];
}

/**
 * The access report's rows of a key as a matrix: one row per holder, with a group's assignment
 * given to each member the policy lists (and to the group itself when it lists none).
 */
export function capabilityMatrix(policy: Policy, key: KeyAccess): KeyCapabilities {
  const byId = new Map(Object.values(policy.principals).map((p) => [p.objectId.toLowerCase(), p]));
  const byAlias = new Map(Object.values(policy.principals).map((p) => [p.alias, p]));
  const name = (id: string, fallback?: string): string => byId.get(id.toLowerCase())?.displayName ?? fallback ?? byId.get(id.toLowerCase())?.alias ?? id;
  const rows = new Map<string, { principalId: string; name: string; type?: PrincipalDefinition['type']; unexpandedGroup: boolean; sources: CapabilitySource[] }>();
  const add = (principalId: string, holderName: string, type: PrincipalDefinition['type'] | undefined, unexpandedGroup: boolean, source: CapabilitySource): void => {
    const id = principalId.toLowerCase();
    const row = rows.get(id) ?? { principalId: id, name: holderName, ...(type ? { type } : {}), unexpandedGroup, sources: [] };
    row.sources.push(source);
    rows.set(id, row);
  };
  for (const access of key.access) {
    const source = sourceOf(access);
    const principal = byId.get(access.principalId.toLowerCase());
    const members = principal?.type === 'Group' ? principal.members.map((alias) => byAlias.get(alias)).filter((m): m is PrincipalDefinition => m !== undefined) : [];
    if (members.length === 0) {
      add(access.principalId, name(access.principalId, access.principal), principal?.type, principal?.type === 'Group', source);
      continue;
    }
    const viaGroup = name(access.principalId, access.principal);
    for (const member of members) add(member.objectId, name(member.objectId), member.type, false, { ...source, viaGroup });
  }
  const holders = [...rows.values()].map((row): CapabilityHolder => {
    const cells = Object.fromEntries(CAPABILITIES.map((c) => [c.id, row.sources.filter((s) => s.capabilities.includes(c.id))])) as Record<Capability, CapabilitySource[]>;
    return { ...row, cells, canGrantItself: cells['manage-roles'].length > 0 };
  });
  return { key: key.key, holders: holders.sort((a, b) => a.name.localeCompare(b.name)) };
}

function sourceOf(access: EffectiveAccess): CapabilitySource {
  return {
    role: access.role, assignedAt: access.assignedAt, basis: access.basis,
    ...(access.expiresAt ? { expiresAt: access.expiresAt } : {}), ...(access.requestId ? { requestId: access.requestId } : {}), ...(access.driftKind ? { driftKind: access.driftKind } : {}),
    dataActions: access.dataActions, capabilities: Object.keys(capabilitiesOf(access.dataActions)) as Capability[], afterInventory: access.source === 'running-grant',
  };
}
