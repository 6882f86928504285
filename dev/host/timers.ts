import { CronExpressionParser } from 'cron-parser';
import type { Timer } from '@azure/functions';
import { resolveAppSettingReference, type FunctionRegistration } from './registrations';

/** When a timer function is due next. */
export interface Schedule {
  readonly expression: string;
  next(after: Date): Date;
}

/** Fires this late or later counts as past due (the host's notion of a missed occurrence). */
const PAST_DUE_TOLERANCE_MS = 1000;
/** setTimeout cannot wait longer than about 24.8 days; longer waits are done in hops. */
const LONGEST_TIMEOUT_MS = 2 ** 31 - 1;

function timeSpanSchedule(expression: string): Schedule | undefined {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(expression);
  if (!match) return undefined;
  const [, days, hours, minutes, seconds] = match;
  const periodMs = (((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
  if (periodMs <= 0) throw new Error(`Timer schedule '${expression}' must be longer than zero`);
  return { expression, next: (after) => new Date(after.getTime() + periodMs) };
}

/**
 * NCRONTAB with six fields (seconds first), evaluated in UTC as Azure does by default, or a
 * TimeSpan `hh:mm:ss`. `%NAME%` takes the schedule from app setting NAME.
 */
export function parseSchedule(raw: string, env: NodeJS.ProcessEnv = process.env): Schedule {
  const expression = resolveAppSettingReference(raw, env).trim();
  const interval = timeSpanSchedule(expression);
  if (interval) return interval;
  const fields = expression.split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(`Timer schedule '${expression}' is not a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week})`);
  }
  CronExpressionParser.parse(expression, { tz: 'UTC' });
  return {
    expression,
    next: (after) => CronExpressionParser.parse(expression, { tz: 'UTC', currentDate: after }).next().toDate(),
  };
}

export interface TimerRunner {
  /** Runs the function once now; resolves when done (or at once when a run is already going). */
  fire(isPastDue?: boolean): Promise<void>;
  stop(): void;
}

export type TimerInvoker = (registration: FunctionRegistration, timer: Timer) => Promise<void>;

/**
 * Keeps one timer function on its schedule. A run never overlaps the previous one: the next
 * occurrence is computed when a run finishes, so occurrences missed while running are skipped.
 */
export function startTimer(registration: FunctionRegistration, invoke: TimerInvoker, options: { runOnStartup: boolean; env?: NodeJS.ProcessEnv }): TimerRunner {
  const schedule = parseSchedule(String(registration.trigger.schedule ?? ''), options.env);
  let stopped = false;
  let handle: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let last: Date | undefined;
  let next = schedule.next(new Date());

  function status(now: Date): Timer['scheduleStatus'] {
    return { last: (last ?? new Date(0)).toISOString(), next: next.toISOString(), lastUpdated: now.toISOString() };
  }

  async function run(isPastDue: boolean): Promise<void> {
    const now = new Date();
    const timer: Timer = { isPastDue, schedule: { adjustForDST: true }, scheduleStatus: status(now) };
    try {
      await invoke(registration, timer);
    } finally {
      last = now;
    }
  }

  function fire(isPastDue = false): Promise<void> {
    if (running) return running;
    running = run(isPastDue).finally(() => {
      running = undefined;
      scheduleNext();
    });
    return running;
  }

  function scheduleNext(): void {
    if (stopped) return;
    if (handle) clearTimeout(handle);
    next = schedule.next(new Date());
    arm();
  }

  function arm(): void {
    if (stopped) return;
    const wait = next.getTime() - Date.now();
    if (wait > LONGEST_TIMEOUT_MS) {
      handle = setTimeout(arm, LONGEST_TIMEOUT_MS);
      return;
    }
    handle = setTimeout(() => {
      handle = undefined;
      const lateness = Date.now() - next.getTime();
      void fire(lateness > PAST_DUE_TOLERANCE_MS).catch(() => undefined);
    }, Math.max(0, wait));
  }

  if (options.runOnStartup) void fire(false).catch(() => undefined);
  else arm();

  return {
    fire,
    stop: () => {
      stopped = true;
      if (handle) clearTimeout(handle);
      handle = undefined;
    },
  };
}
