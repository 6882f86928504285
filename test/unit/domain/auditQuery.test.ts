import { auditPageOf, instantIn, matchesAuditFilter, parseAuditQuery, wallTimeIn } from '../../../shared/domain/auditQuery';
import type { ChainedAuditRecord } from '../../../shared/domain/audit';
import { OID, contosoPolicy } from './fixtures';

const policy = contosoPolicy();
const query = (values: Record<string, string>) => parseAuditQuery((name) => values[name], policy);
const record = (seq: number, at: string, more: Partial<ChainedAuditRecord> = {}): ChainedAuditRecord => ({
  seq, at, actor: OID.dave, action: 'request.created', requestId: `r${seq}`, details: { scope: '/keys/release-signing-key', principalId: OID.appVm }, prevHash: '', hash: `h${seq}`, ...more,
});

describe('parseAuditQuery', () => {
  it('reads who by alias, key as its scope, and an instant with its offset', () => {
    expect(query({ who: 'alice', key: 'release-signing-key', action: 'request', from: '2026-12-02T10:00:00+01:00', limit: '20' })).toEqual({
      ok: true, limit: 20, filter: { who: OID.alice, scope: '/keys/release-signing-key', action: 'request', from: '2026-12-02T09:00:00.000Z' },
    });
  });

  it("reads a form's wall time in the viewer's time zone (UTC without one)", () => {
    expect(query({ from: '2026-07-01T10:00', to: '2026-12-02T10:00', tz: 'Europe/Berlin' })).toMatchObject({ filter: { from: '2026-07-01T08:00:00.000Z', to: '2026-12-02T09:00:00.000Z' } });
    expect(query({ from: '2026-12-02T10:00' })).toMatchObject({ filter: { from: '2026-12-02T10:00:00.000Z' } });
    expect(query({ from: '2026-12-02' })).toMatchObject({ filter: { from: '2026-12-02T00:00:00.000Z' } });
    expect(query({ from: '2026-12-02 10:00:00Z', to: '2026-12-02T12:00:00.5+00:00' })).toMatchObject({ filter: { from: '2026-12-02T10:00:00.000Z', to: '2026-12-02T12:00:00.500Z' } });
  });

  it.each([
    [{ from: 'yesterday' }, 'from and to must be ISO 8601'],
    [{ to: '2026-02-30T10:00' }, 'from and to must be ISO 8601'],
    [{ tz: 'Mars/Olympus' }, 'is not a time zone'],
    [{ key: '../x' }, 'key must be a key name'],
    [{ limit: '0' }, 'limit must be a whole number'],
    [{ limit: '501' }, 'limit must be a whole number'],
    [{ continuation: 'abc' }, 'continuation must be'],
    [{ who: 'x'.repeat(201) }, 'longer than 200'],
  ])('refuses %j', (values, words) => {
    const parsed = query(values as Record<string, string>);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.detail).toContain(words);
  });
});

describe('wallTimeIn and instantIn', () => {
  it('go back and forth across a daylight saving change', () => {
    expect(wallTimeIn('2026-03-29T00:30:00.000Z', 'Europe/Berlin')).toBe('2026-03-29T01:30');
    expect(wallTimeIn('2026-03-29T01:30:00.000Z', 'Europe/Berlin')).toBe('2026-03-29T03:30');
    expect(instantIn('2026-03-29T03:30', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z');
    expect(instantIn('2026-12-02T10:00', 'America/New_York')).toBe('2026-12-02T15:00:00.000Z');
  });
});

describe('matchesAuditFilter', () => {
  const r = record(1, '2026-12-02T10:00:00.000Z');
  it.each([
    [{}, true],
    [{ who: OID.dave }, true],
    [{ who: OID.appVm.toUpperCase() }, true],
    [{ who: OID.alice }, false],
    [{ action: 'request' }, true],
    [{ action: 'request.created' }, true],
    [{ action: 'request.c' }, false],
    [{ scope: '/keys/RELEASE-signing-key' }, true],
    [{ scope: '/keys/app-signing-key' }, false],
    [{ from: '2026-12-02T10:00:00.000Z' }, true],
    [{ to: '2026-12-02T10:00:00.000Z' }, false],
    [{ requestId: 'r2' }, false],
  ])('%j: %s', (filter, expected) => expect(matchesAuditFilter(r, filter)).toBe(expected));
});

describe('auditPageOf', () => {
  it('pages through the matching records with an offset continuation', () => {
    const records = [1, 2, 3, 4, 5].map((n) => record(n, `2026-12-02T10:0${n}:00.000Z`, n === 3 ? { details: {} } : {}));
    const first = auditPageOf(records, { scope: '/keys/release-signing-key' }, 2);
    expect(first.records.map((x) => x.seq)).toEqual([1, 2]);
    const second = auditPageOf(records, { scope: '/keys/release-signing-key' }, 2, first.continuation);
    expect(second).toEqual({ records: [records[3], records[4]] });
  });
});
