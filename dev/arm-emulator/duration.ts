/**
 * ISO 8601 durations as PIM's `scheduleInfo.expiration.duration` takes them (`PT8H`, `P30D`,
 * `P1Y`), in milliseconds; undefined when not one. A year counts 365 days and a month 30, the
 * emulator's own reading; weeks (`P2W`) are accepted too. Kept apart from the app's own parser so
 * that the emulator answers as the service would, not as the app expects.
 */
const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/i;
const SECOND = 1000;
const DAY = 86_400 * SECOND;

export function parsePimDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = DURATION.exec(text.trim());
  if (!match || /T$/i.test(text.trim()) || match.slice(1).every((part) => part === undefined)) return undefined;
  const [years, months, weeks, days, hours, minutes, seconds] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part.replace(',', '.'))));
  const ms = ((years * 365 + months * 30 + weeks * 7 + days) * DAY) + ((hours * 3600 + minutes * 60 + seconds) * SECOND);
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
