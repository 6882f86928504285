import type { AccessRequest } from '../../../shared/domain/lifecycle';
import { accessReport, azureRbacGrants, keysReport } from '../../../shared/domain/reports';
import { NOW, OID, contosoPolicy } from './fixtures';

const DAY = 86_400_000;
const at = (days: number): string => new Date(NOW.getTime() + days * DAY).toISOString();

describe('keysReport', () => {
  it('sorts keys into expiring soon, expired, without expiry and not rotated', () => {
    const report = keysReport([
      { name: 'b-soon', createdOn: at(-10), expiresOn: at(5.5) },
      { name: 'a-sooner', createdOn: at(-10), expiresOn: at(1) },
      { name: 'later', createdOn: at(-10), expiresOn: at(90) },
      { name: 'gone', createdOn: at(-10), expiresOn: at(-1) },
      { name: 'forever', createdOn: at(-400) },
    ], 30, 365 * DAY, NOW);
    expect(report.expiringSoon).toEqual([{ name: 'a-sooner', expiresOn: at(1), daysLeft: 1 }, { name: 'b-soon', expiresOn: at(5.5), daysLeft: 5 }]);
    expect(report.expired).toEqual([{ name: 'gone', expiresOn: at(-1) }]);
    expect(report.withoutExpiry).toEqual(['forever']);
    expect(report.notRotated).toEqual([{ name: 'forever', createdOn: at(-400), ageDays: 400 }]);
    expect(report).toMatchObject({ expiringWithinDays: 30, rotationPeriodDays: 365 });
  });
});

describe('accessReport', () => {
  const policy = contosoPolicy();
  const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
  const grant = {
    id: 'g1', hsm: 'contoso-hsm', status: 'Active', role: 'Managed HSM Crypto User', roleId: CRYPTO_USER, scope: '/keys/release-signing-key', principalId: OID.appVm,
    requestedBy: OID.dave, duration: 'PT1H', durationMs: 3_600_000, justification: 'r', ruleId: 'x', approvalsRequired: 1, createdAt: at(0), pendingUntil: at(1),
    decisions: [], grantedAt: at(0), expiresAt: new Date(NOW.getTime() + 3_600_000).toISOString(), assignmentName: 'a-new', history: [],
    extensions: [], totalDurationMs: 3_600_000, totalDuration: 'PT1H',
  } as AccessRequest;
  const input = {
    policy, hsm: 'contoso-hsm', keys: [{ name: 'release-signing-key' }, { name: 'app-signing-key' }], assignments: [],
    roleDefinitions: [{ id: CRYPTO_USER, roleName: 'Managed HSM Crypto User', dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'] }], items: [], now: NOW,
  };

  it('lists a running grant whose assignment the inventory predates, as such', () => {
    const report = accessReport({ ...input, requests: [grant] });
    expect(report.find((k) => k.key === 'release-signing-key')?.access).toEqual([expect.objectContaining({ principal: 'app-vm', basis: 'just-in-time', source: 'running-grant', requestId: 'g1', assignedAt: '/keys/release-signing-key' })]);
    expect(report.find((k) => k.key === 'app-signing-key')?.access).toEqual([]);
    // Ended grants and the management plane's are not the HSM's access.
    expect(accessReport({ ...input, requests: [{ ...grant, status: 'Revoked' }, { ...grant, id: 'g2', plane: 'azure-rbac' }] }).flatMap((k) => k.access)).toEqual([]);
    expect(azureRbacGrants(policy, [{ ...grant, id: 'g2', plane: 'azure-rbac', role: 'Managed HSM Contributor' }], NOW)).toEqual([expect.objectContaining({ requestId: 'g2', principal: 'app-vm', role: 'Managed HSM Contributor' })]);
  });
});
