/**
 * Faults the real service shows under load, injected at a rate per kind. `throttle` answers 429
 * `Throttled` without Retry-After (as the HSM does), `unavailable` 503, `drop` closes the connection
 * without an answer, `forbidden` 403 `AccessDenied` (as when the caller's role is taken away),
 * `latencyMs` delays a share (`latencyRate`) of the answers.
 */
export interface FaultSettings {
  throttle?: number;
  unavailable?: number;
  drop?: number;
  forbidden?: number;
  latencyMs?: number;
  latencyRate?: number;
  /** A throttle like the HSM's own: above this many requests per second (one second of burst), 429 `Throttled`. */
  requestsPerSecond?: number;
}

export type Fault = 'throttle' | 'unavailable' | 'drop' | 'forbidden' | undefined;

const RATE_KEYS = ['throttle', 'unavailable', 'drop', 'forbidden', 'latencyRate'] as const;

export function validateFaults(input: unknown): FaultSettings {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new Error('Fault settings must be a JSON object');
  const settings = input as Record<string, unknown>;
  const result: FaultSettings = {};
  for (const [name, value] of Object.entries(settings)) {
    if ((RATE_KEYS as readonly string[]).includes(name)) {
      if (typeof value !== 'number' || value < 0 || value > 1) throw new Error(`${name} must be a rate between 0 and 1`);
      result[name as (typeof RATE_KEYS)[number]] = value;
    } else if (name === 'latencyMs') {
      if (typeof value !== 'number' || value < 0 || value > 60_000) throw new Error('latencyMs must be between 0 and 60000');
      result.latencyMs = value;
    } else if (name === 'requestsPerSecond') {
      if (typeof value !== 'number' || value < 0) throw new Error('requestsPerSecond must be a number, 0 for no throttle');
      result.requestsPerSecond = value;
    } else {
      throw new Error(`Unknown fault setting '${name}' (known: throttle, unavailable, drop, forbidden, latencyMs, latencyRate, requestsPerSecond)`);
    }
  }
  if ((result.throttle ?? 0) + (result.unavailable ?? 0) + (result.drop ?? 0) + (result.forbidden ?? 0) > 1) throw new Error('The fault rates add up to more than 1');
  return result;
}

/** `HSM_EMULATOR_FAULTS='{"throttle":0.1,"unavailable":0.1}'` sets faults for a whole run. */
export function faultsFromEnvironment(env: NodeJS.ProcessEnv = process.env): FaultSettings {
  const text = env.HSM_EMULATOR_FAULTS;
  return text ? validateFaults(JSON.parse(text)) : {};
}

export function pickFault(settings: FaultSettings, random: () => number = Math.random): Fault {
  const roll = random();
  let threshold = settings.throttle ?? 0;
  if (roll < threshold) return 'throttle';
  threshold += settings.unavailable ?? 0;
  if (roll < threshold) return 'unavailable';
  threshold += settings.drop ?? 0;
  if (roll < threshold) return 'drop';
  threshold += settings.forbidden ?? 0;
  if (roll < threshold) return 'forbidden';
  return undefined;
}

export function pickLatency(settings: FaultSettings, random: () => number = Math.random): number {
  if (!settings.latencyMs) return 0;
  return random() < (settings.latencyRate ?? 1) ? settings.latencyMs : 0;
}

/** A token bucket refilled at `requestsPerSecond`, holding one second's worth. */
export class RateThrottle {
  private tokens = 0;
  private last = 0;
  private rate = 0;

  configure(requestsPerSecond: number | undefined): void {
    this.rate = requestsPerSecond ?? 0;
    this.tokens = this.rate;
    this.last = Date.now();
  }

  /** False when this request is over the rate. */
  admit(now: number = Date.now()): boolean {
    if (this.rate <= 0) return true;
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
