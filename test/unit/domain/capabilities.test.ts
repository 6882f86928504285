import { capabilitiesOf, capabilityMatrix, dataActionCovers } from '../../../shared/domain/capabilities';
import type { KeyAccess } from '../../../shared/domain/reports';
import { OID, G, contosoPolicy } from './fixtures';

const P = 'Microsoft.KeyVault/managedHsm/';
/** Data actions of the built-in roles as a real HSM lists them (see the recordings). */
const CRYPTO_USER = ['roleDefinitions/read/action', 'roleAssignments/read/action', 'keys/read/action', 'keys/write/action', 'keys/delete', 'keys/create', 'keys/import/action', 'keys/release/action', 'keys/backup/action', 'keys/restore/action', 'keys/encrypt/action', 'keys/decrypt/action', 'keys/wrap/action', 'keys/unwrap/action', 'keys/sign/action', 'keys/verify/action', 'keys/derive/action', 'rng/action'].map((a) => P + a);
const ADMINISTRATOR = ['roleAssignments/delete/action', 'roleAssignments/read/action', 'roleAssignments/write/action', 'roleDefinitions/read/action', 'roleDefinitions/write/action', 'roleDefinitions/delete/action', 'securitydomain/download/action', 'backup/start/action', 'backup/status/action', 'restore/start/action', 'restore/status/action'].map((a) => P + a);
const ENCRYPTION_USER = ['keys/read/action', 'keys/wrap/action', 'keys/unwrap/action'].map((a) => P + a);
const AUDITOR = ['roleAssignments/read/action', 'roleDefinitions/read/action', 'keys/read/action', 'keys/deletedKeys/read/action'].map((a) => P + a);

describe('capabilitiesOf', () => {
  it('derives each capability from the data actions, naming the actions that give it', () => {
    expect(capabilitiesOf(CRYPTO_USER)).toEqual({
      sign: [`${P}keys/sign/action`], decrypt: [`${P}keys/decrypt/action`], wrap: [`${P}keys/wrap/action`, `${P}keys/unwrap/action`],
      backup: [`${P}keys/backup/action`], export: [`${P}keys/release/action`],
    });
    expect(Object.keys(capabilitiesOf(ADMINISTRATOR))).toEqual(['manage-roles', 'backup']);
    expect(Object.keys(capabilitiesOf(ENCRYPTION_USER))).toEqual(['wrap']);
    expect(capabilitiesOf(AUDITOR)).toEqual({});
  });

  it('honours wildcards and notDataActions, case-insensitively', () => {
    expect(Object.keys(capabilitiesOf([`${P}keys/*`]))).toEqual(['sign', 'decrypt', 'wrap', 'backup', 'export']);
    expect(Object.keys(capabilitiesOf([`${P}keys/*`], [`${P}keys/export/action`, `${P}KEYS/RELEASE/action`]))).toEqual(['sign', 'decrypt', 'wrap', 'backup']);
    expect(Object.keys(capabilitiesOf(['*']))).toHaveLength(6);
    expect(dataActionCovers(`${P}keys/sign/action`, `${P}keys/signature/action`)).toBe(false);
    expect(dataActionCovers('Microsoft.KeyVault/managedHsm/keys/s?gn/action', `${P}keys/sign/action`)).toBe(false);
  });
});

describe('capabilityMatrix', () => {
  const policy = contosoPolicy();
  const key: KeyAccess = {
    key: 'release-signing-key',
    access: [
      { principalId: G.securityTeam, role: 'Managed HSM Administrator', roleId: 'a290', assignedAt: '/', assignmentName: 'n1', dataActions: ADMINISTRATOR, basis: 'standing', source: 'inventory' },
      { principalId: OID.appVm, principal: 'app-vm', role: 'Managed HSM Crypto User', roleId: '21db', assignedAt: '/keys/release-signing-key', assignmentName: 'n2', dataActions: CRYPTO_USER, basis: 'just-in-time', expiresAt: '2026-12-02T11:00:00.000Z', requestId: 'r1', source: 'inventory' },
      { principalId: OID.dave, principal: 'dave', role: 'Managed HSM Crypto User', roleId: '21db', assignedAt: '/keys/release-signing-key', assignmentName: 'n3', dataActions: CRYPTO_USER, basis: 'drift', driftKind: 'unexpected', source: 'inventory' },
      { principalId: '00000000-0000-0000-0000-00000000abcd', role: 'Managed HSM Crypto Auditor', roleId: '2c18', assignedAt: '/', assignmentName: 'n4', dataActions: AUDITOR, basis: 'drift', source: 'inventory' },
    ],
  };

  it('expands a group to the members the policy lists, and keeps the source of each capability', () => {
    const matrix = capabilityMatrix(policy, key);
    const names = matrix.holders.map((h) => h.name);
    expect(names).toEqual(['00000000-0000-0000-0000-00000000abcd', 'app-vm (managed identity)', 'Dave DevOps', 'Sam Security', 'Sara Security', 'Sean Security']);
    const sam = matrix.holders.find((h) => h.name === 'Sam Security')!;
    expect(sam.cells['manage-roles']).toEqual([expect.objectContaining({ basis: 'standing', viaGroup: 'Contoso Security Team', role: 'Managed HSM Administrator' })]);
    expect(sam.cells.sign).toEqual([]);
    expect(sam.canGrantItself).toBe(true);
    const appVm = matrix.holders.find((h) => h.principalId === OID.appVm)!;
    expect(appVm.cells.sign).toEqual([expect.objectContaining({ basis: 'just-in-time', expiresAt: '2026-12-02T11:00:00.000Z', requestId: 'r1' })]);
    expect(appVm.canGrantItself).toBe(false);
    const dave = matrix.holders.find((h) => h.principalId === OID.dave)!;
    expect(dave.cells.decrypt).toEqual([expect.objectContaining({ basis: 'drift', driftKind: 'unexpected' })]);
    const unknown = matrix.holders[0]!;
    expect(Object.values(unknown.cells).every((c) => c.length === 0)).toBe(true);
    expect(unknown.sources).toHaveLength(1);
  });

  it('keeps a group whose members the policy does not list as a row of its own', () => {
    const matrix = capabilityMatrix({ ...policy, principals: { ...policy.principals, 'security-team': { ...policy.principals['security-team']!, members: [] } } }, key);
    const group = matrix.holders.find((h) => h.principalId === G.securityTeam)!;
    expect(group).toMatchObject({ name: 'Contoso Security Team', type: 'Group', unexpandedGroup: true, canGrantItself: true });
  });
});
