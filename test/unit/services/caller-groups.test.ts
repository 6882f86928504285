import { CallerGroups } from '../../../shared/services/callerGroups';
import { DirectoryError, type GroupDirectory } from '../../../shared/services/directoryPorts';
import type { LogFields, ServiceLog } from '../../../shared/services/ports';

const USER = '5424e0a9-6ba3-45e2-9d82-85a9cc74171d';
const GROUP = '76891f9e-0de4-4e47-a3fd-e29f364921cd';

function recordingLog(): ServiceLog & { lines: Array<{ level: string; message: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  const add = (level: string) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, info: add('info'), warn: add('warn'), error: add('error') };
}

function directoryAnswering(answer: () => Promise<readonly string[]>): GroupDirectory & { calls: number } {
  const directory = {
    calls: 0,
    memberGroups: async () => {
      directory.calls += 1;
      return answer();
    },
    membersOf: async () => [],
  };
  return directory;
}

describe('CallerGroups', () => {
  let now = Date.parse('2026-12-02T10:00:00Z');
  const clock = { now: () => new Date(now) };

  it('keeps the token\'s groups when the token has no overage, without asking the directory', async () => {
    const directory = directoryAnswering(async () => [GROUP]);
    const groups = await new CallerGroups({ directory, clock }).groupsOf({ principalId: USER, groups: ['x'] }, recordingLog());
    expect(groups).toEqual(['x']);
    expect(directory.calls).toBe(0);
  });

  it('asks the directory in an overage, remembers the answer for a few minutes, then asks again', async () => {
    const directory = directoryAnswering(async () => [GROUP.toUpperCase()]);
    const callerGroups = new CallerGroups({ directory, clock, ttlMs: 60_000 });
    const caller = { principalId: USER, groups: [], groupOverage: 'distributed-claim' as const };
    expect(await callerGroups.groupsOf(caller, recordingLog())).toEqual([GROUP]);
    now += 59_000;
    expect(await callerGroups.groupsOf(caller, recordingLog())).toEqual([GROUP]);
    expect(directory.calls).toBe(1);
    now += 2_000;
    await callerGroups.groupsOf(caller, recordingLog());
    expect(directory.calls).toBe(2);
  });

  it('asks once for a burst of one caller\'s requests', async () => {
    let release: (groups: string[]) => void = () => undefined;
    const directory = directoryAnswering(() => new Promise((resolve) => { release = resolve; }));
    const callerGroups = new CallerGroups({ directory, clock });
    const caller = { principalId: USER, groups: [], groupOverage: 'hasgroups' as const };
    const both = Promise.all([callerGroups.groupsOf(caller, recordingLog()), callerGroups.groupsOf(caller, recordingLog())]);
    release([GROUP]);
    expect(await both).toEqual([[GROUP], [GROUP]]);
    expect(directory.calls).toBe(1);
  });

  it('fails closed when the directory cannot answer: no groups, an error line that says why, nothing remembered', async () => {
    let fail = true;
    const directory = directoryAnswering(async () => {
      if (fail) throw new DirectoryError('Listing the groups: HTTP 403 Authorization_RequestDenied', 403, 'Authorization_RequestDenied');
      return [GROUP];
    });
    const callerGroups = new CallerGroups({ directory, clock });
    const caller = { principalId: USER, groups: [], groupOverage: 'distributed-claim' as const };
    const log = recordingLog();
    expect(await callerGroups.groupsOf(caller, log)).toEqual([]);
    expect(log.lines).toEqual([expect.objectContaining({ level: 'error', message: expect.stringContaining('HTTP 403 Authorization_RequestDenied') })]);
    expect(log.lines[0].message).toContain('no group-based rights');
    expect(log.lines[0].fields).toMatchObject({ principalId: USER, status: 403, code: 'Authorization_RequestDenied' });
    fail = false;
    expect(await callerGroups.groupsOf(caller, recordingLog())).toEqual([GROUP]);
  });

  it('fails closed on anything else the directory throws', async () => {
    const directory = directoryAnswering(async () => { throw new TypeError('socket hang up'); });
    const log = recordingLog();
    expect(await new CallerGroups({ directory, clock }).groupsOf({ principalId: USER, groups: [], groupOverage: 'hasgroups' }, log)).toEqual([]);
    expect(log.lines[0]).toMatchObject({ level: 'error', message: expect.stringContaining('socket hang up') });
  });

  it('says so when no directory is configured', async () => {
    const log = recordingLog();
    expect(await new CallerGroups({ directory: undefined, clock }).groupsOf({ principalId: USER, groups: [], groupOverage: 'hasgroups' }, log)).toEqual([]);
    expect(log.lines[0]).toMatchObject({ level: 'error', message: expect.stringContaining('no directory is configured') });
  });

  it('keeps at most maxEntries principals, dropping the oldest', async () => {
    const directory = directoryAnswering(async () => [GROUP]);
    const callerGroups = new CallerGroups({ directory, clock, maxEntries: 2 });
    const ids = ['00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000003'];
    for (const id of ids) await callerGroups.groupsOf({ principalId: id, groups: [], groupOverage: 'hasgroups' }, recordingLog());
    await callerGroups.groupsOf({ principalId: ids[2], groups: [], groupOverage: 'hasgroups' }, recordingLog());
    expect(directory.calls).toBe(3);
    await callerGroups.groupsOf({ principalId: ids[0], groups: [], groupOverage: 'hasgroups' }, recordingLog());
    expect(directory.calls).toBe(4);
  });
});
