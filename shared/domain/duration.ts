/**
 * ISO 8601 durations, restricted to the subset a time-bound grant needs: days, hours, minutes and
 * seconds (fractional seconds allowed). Years, months and weeks are refused because their length
 * is ambiguous; negative and empty durations ('P', 'PT') are refused too.
 */

const DURATION = /^P(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,12})(?:[.,](\d{1,9}))?S)?)?$/;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Milliseconds of an ISO 8601 duration such as `PT1H` or `P1DT2H30M`, or undefined when not accepted. */
export function parseIsoDuration(text: unknown): number | undefined {
  if (typeof text !== 'string') return undefined;
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const [, days, hours, minutes, seconds, fraction] = match;
  if (days === undefined && hours === undefined && minutes === undefined && seconds === undefined) return undefined;
  const tIndex = text.indexOf('T');
  if (tIndex >= 0 && tIndex === text.length - 1) return undefined; // 'P1DT'
  let ms = 0;
  if (days !== undefined) ms += Number(days) * DAY;
  if (hours !== undefined) ms += Number(hours) * HOUR;
  if (minutes !== undefined) ms += Number(minutes) * MINUTE;
  if (seconds !== undefined) ms += Number(seconds) * SECOND;
  if (fraction !== undefined) ms += Math.round(Number(`0.${fraction}`) * SECOND);
  if (!Number.isSafeInteger(ms)) return undefined;
  return ms;
}

/** The canonical ISO 8601 text of a non-negative number of milliseconds, e.g. `P1DT2H`, `PT1.5S`, `PT0S`. */
export function formatIsoDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Cannot format duration ${ms}`);
  let rest = Math.round(ms);
  const days = Math.floor(rest / DAY);
  rest -= days * DAY;
  const hours = Math.floor(rest / HOUR);
  rest -= hours * HOUR;
  const minutes = Math.floor(rest / MINUTE);
  rest -= minutes * MINUTE;
  const seconds = Math.floor(rest / SECOND);
  const millis = rest - seconds * SECOND;
  let out = 'P';
  if (days) out += `${days}D`;
  let time = '';
  if (hours) time += `${hours}H`;
  if (minutes) time += `${minutes}M`;
  if (seconds || millis) {
    time += millis ? `${seconds}.${String(millis).padStart(3, '0').replace(/0+$/, '')}S` : `${seconds}S`;
  }
  if (time) out += `T${time}`;
  return out === 'P' ? 'PT0S' : out;
}

/** The one way every part of the service says a duration is not one it accepts. */
export function invalidDurationDetail(text: unknown): string {
  return `'${String(text)}' is not an ISO 8601 duration: use e.g. PT1H (days, hours, minutes and seconds: P1D, PT30M, PT1H30M)`;
}
