import { BUILT_IN_ROLES, resolveRole, roleDefinitionIdFor, roleGuidFromDefinitionId, type RoleInfo } from '../../../shared/domain/roles';

describe('roles', () => {
  it('has the nine built-in roles, three of which can write role assignments', () => {
    expect(BUILT_IN_ROLES).toHaveLength(9);
    expect(BUILT_IN_ROLES.filter((r) => r.canWriteRoleAssignments).map((r) => r.alias).sort()).toEqual(['Administrator', 'Crypto Officer', 'Policy Administrator']);
    expect(new Set(BUILT_IN_ROLES.map((r) => r.id)).size).toBe(9);
  });

  it.each([
    ['Managed HSM Crypto User', '21dbd100-6940-42c2-9190-5d6cb909625b'],
    ['crypto user', '21dbd100-6940-42c2-9190-5d6cb909625b'],
    ['Crypto Service Release User', '21dbd100-6940-42c2-9190-5d6cb909625c'],
    ['21DBD100-6940-42C2-9190-5D6CB909625C', '21dbd100-6940-42c2-9190-5d6cb909625c'],
    ['Administrator', 'a290e904-7015-4bba-90c8-60543313cdb4'],
    ['Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/515eb02d-2335-4d2d-92f2-b1cbdf9c3778', '515eb02d-2335-4d2d-92f2-b1cbdf9c3778'],
    ['/Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3'],
    ['  Crypto Auditor ', '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3'],
  ])('resolves %j', (text, id) => {
    expect(resolveRole(text)?.id).toBe(id);
  });

  it.each(['', 'Owner', 'Crypto', '00000000-0000-0000-0000-000000000000', 'Managed HSM'])('does not resolve %j', (text) => {
    expect(resolveRole(text)).toBeUndefined();
  });

  it('resolves custom roles after the built-ins', () => {
    const custom: RoleInfo = { id: '11111111-2222-3333-4444-555555555555', name: 'Contoso Key Rotator', alias: 'Rotator', canWriteRoleAssignments: false, builtIn: false };
    expect(resolveRole('rotator', [custom])).toBe(custom);
    expect(resolveRole('11111111-2222-3333-4444-555555555555', [custom])).toBe(custom);
    expect(resolveRole('Rotator')).toBeUndefined();
  });

  it('builds and parses role definition ids', () => {
    expect(roleDefinitionIdFor('21DBD100-6940-42C2-9190-5D6CB909625B')).toBe('Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b');
    expect(roleGuidFromDefinitionId(roleDefinitionIdFor('21dbd100-6940-42c2-9190-5d6cb909625b'))).toBe('21dbd100-6940-42c2-9190-5d6cb909625b');
    expect(roleGuidFromDefinitionId('something/else')).toBeUndefined();
  });
});
