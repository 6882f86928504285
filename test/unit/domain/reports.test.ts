import { keysReport } from '../../../shared/domain/reports';
import { NOW } from './fixtures';

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
