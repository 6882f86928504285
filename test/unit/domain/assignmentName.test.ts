import { validate, version } from 'uuid';
import { ASSIGNMENT_NAMESPACE, assignmentNameFor, assignmentStillJustified, leaseCovers, type Lease } from '../../../shared/domain/assignmentName';
import { NOW, OID } from './fixtures';

const ROLE = '21dbd100-6940-42c2-9190-5d6cb909625b';

describe('assignmentNameFor', () => {
  it('is a deterministic UUID v5', () => {
    const a = assignmentNameFor('req-1', 'contoso-hsm', '/keys/k1', OID.appVm, ROLE);
    expect(validate(a) && version(a)).toBe(5);
    expect(assignmentNameFor('req-1', 'contoso-hsm', '/keys/k1', OID.appVm.toUpperCase(), ROLE.toUpperCase())).toBe(a);
    expect(validate(ASSIGNMENT_NAMESPACE)).toBe(true);
  });

  type Args = [string, string, string, string, string];
  const variants: Array<[string, Args]> = [
    ['request', ['req-2', 'contoso-hsm', '/keys/k1', OID.appVm, ROLE]],
    ['hsm', ['req-1', 'other-hsm', '/keys/k1', OID.appVm, ROLE]],
    ['scope', ['req-1', 'contoso-hsm', '/keys/k2', OID.appVm, ROLE]],
    ['principal', ['req-1', 'contoso-hsm', '/keys/k1', OID.sam, ROLE]],
    ['role', ['req-1', 'contoso-hsm', '/keys/k1', OID.appVm, '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3']],
  ];
  it.each(variants)('changes with the %s', (_name, args) => {
    expect(assignmentNameFor(...args)).not.toBe(assignmentNameFor('req-1', 'contoso-hsm', '/keys/k1', OID.appVm, ROLE));
  });
});

describe('leases', () => {
  const key = { hsm: 'contoso-hsm', principalId: OID.appVm, roleId: ROLE, scope: '/keys/k1' };
  const lease = (requestId: string, expiresInMs: number, over: Partial<Lease> = {}): Lease => ({ ...key, requestId, expiresAt: new Date(NOW.getTime() + expiresInMs).toISOString(), ...over });

  it('leaseCovers: same access and still running', () => {
    expect(leaseCovers(lease('a', 1000), key, NOW)).toBe(true);
    expect(leaseCovers(lease('a', 0), key, NOW)).toBe(false);
    expect(leaseCovers(lease('a', 1000, { scope: '/keys/k2' }), key, NOW)).toBe(false);
    expect(leaseCovers(lease('a', 1000, { principalId: OID.appVm.toUpperCase() }), key, NOW)).toBe(true);
  });

  it('assignmentStillJustified: another running lease or a standing assignment', () => {
    const ending = { ...key, requestId: 'a' };
    expect(assignmentStillJustified(ending, [lease('a', 1000)], [], NOW)).toBeUndefined();
    expect(assignmentStillJustified(ending, [lease('a', 1000), lease('b', 60_000)], [], NOW)).toEqual({ kind: 'lease', requestId: 'b' });
    expect(assignmentStillJustified(ending, [lease('b', -1)], [], NOW)).toBeUndefined();
    expect(assignmentStillJustified(ending, [lease('b', 60_000, { roleId: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3' })], [], NOW)).toBeUndefined();
    expect(assignmentStillJustified(ending, [lease('b', 60_000, { hsm: 'other' })], [], NOW)).toBeUndefined();
    expect(assignmentStillJustified(ending, [], [key], NOW)).toEqual({ kind: 'standing' });
    expect(assignmentStillJustified(ending, [], [{ ...key, scope: '/' }], NOW)).toBeUndefined();
  });
});
