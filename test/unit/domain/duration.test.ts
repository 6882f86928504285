import { formatIsoDuration, parseIsoDuration } from '../../../shared/domain/duration';

describe('parseIsoDuration', () => {
  it.each([
    ['PT1H', 3_600_000],
    ['PT1M', 60_000],
    ['PT30S', 30_000],
    ['PT1.5S', 1_500],
    ['PT0.001S', 1],
    ['PT0,5S', 500],
    ['P1D', 86_400_000],
    ['P1DT2H3M4S', 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_000],
    ['PT90M', 5_400_000],
    ['PT0S', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', 'P1DT', 'P1Y', 'P1M', 'P1W', 'P1Y2M', '-PT1H', 'PT-1H', 'pt1h', 'PT1.5H', 'PT1.5M', '1H', 'PT1H ', ' PT1H', 'PT1S1M', 'PTH', 'P1H', 'PT1H1H'])(
    'refuses %j',
    (text) => {
      expect(parseIsoDuration(text)).toBeUndefined();
    },
  );

  it('refuses non-strings', () => {
    expect(parseIsoDuration(3600 as unknown as string)).toBeUndefined();
    expect(parseIsoDuration(undefined)).toBeUndefined();
  });
});

describe('formatIsoDuration', () => {
  it.each([
    [0, 'PT0S'],
    [60_000, 'PT1M'],
    [3_600_000, 'PT1H'],
    [86_400_000, 'P1D'],
    [90_061_001, 'P1DT1H1M1.001S'],
    [1_500, 'PT1.5S'],
    [7_200_000 + 30_000, 'PT2H30S'],
  ])('%d ms = %s', (ms, text) => {
    expect(formatIsoDuration(ms)).toBe(text);
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it('refuses negative and non-finite values', () => {
    expect(() => formatIsoDuration(-1)).toThrow(RangeError);
    expect(() => formatIsoDuration(Number.NaN)).toThrow(RangeError);
  });
});
