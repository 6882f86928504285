/**
 * Faults a real Azure service shows under load, injected by the emulators at a rate per kind:
 * `throttle` (429), `unavailable` (503), `drop` (the connection closes without an answer),
 * `actThenDrop` (the request is carried out, then the connection closes before the answer, as when
 * a reply is lost on its way back), `forbidden` (403, as when the caller's role is taken away), and
 * `latencyMs` on a share (`latencyRate`) of the answers. `next` lists the faults the next
 * authenticated requests meet, one each, in order, for tests that need an exact sequence.
 */
export type FaultKind = 'throttle' | 'unavailable' | 'drop' | 'forbidden' | 'actThenDrop';
export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'unavailable', 'drop', 'forbidden', 'actThenDrop'];
/** The faults that end in an answer of the service's own (the rest close the connection). */
export type AnsweredFault = Exclude<FaultKind, 'drop' | 'actThenDrop'>;

export interface FaultSettings {
  throttle?: number;
  unavailable?: number;
  drop?: number;
  forbidden?: number;
  actThenDrop?: number;
  latencyMs?: number;
  latencyRate?: number;
  /** A throttle like the service's own: above this many requests per second (one second of burst), 429. */
  requestsPerSecond?: number;
  /** Seconds in Retry-After of a 429, for services that name one. */
  retryAfterSeconds?: number;
  next?: FaultKind[];
}

export type FaultSettingName = keyof FaultSettings;

const RATE_KEYS = ['throttle', 'unavailable', 'drop', 'forbidden', 'actThenDrop', 'latencyRate'] as const;
const AMOUNT_KEYS = ['latencyMs', 'requestsPerSecond', 'retryAfterSeconds'] as const;
const MAX_AMOUNT = 60_000;

/** Checks fault settings as JSON gives them; `known` are the settings this emulator acts on. */
export function validateFaultSettings(input: unknown, known: readonly FaultSettingName[]): FaultSettings {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new Error('Fault settings must be a JSON object');
  const result: FaultSettings = {};
  for (const [name, value] of Object.entries(input as Record<string, unknown>)) {
    if (!(known as readonly string[]).includes(name)) throw new Error(`Unknown fault setting '${name}' (known: ${known.join(', ')})`);
    if ((RATE_KEYS as readonly string[]).includes(name)) {
      if (typeof value !== 'number' || value < 0 || value > 1) throw new Error(`${name} must be a rate between 0 and 1`);
      result[name as (typeof RATE_KEYS)[number]] = value;
    } else if ((AMOUNT_KEYS as readonly string[]).includes(name)) {
      if (typeof value !== 'number' || value < 0 || value > MAX_AMOUNT) throw new Error(`${name} must be a number between 0 and ${MAX_AMOUNT}`);
      result[name as (typeof AMOUNT_KEYS)[number]] = value;
    } else {
      if (!Array.isArray(value) || !value.every((kind) => (FAULT_KINDS as readonly unknown[]).includes(kind))) throw new Error(`next must list faults among ${FAULT_KINDS.join(', ')}`);
      result.next = [...(value as FaultKind[])];
    }
  }
  if (FAULT_KINDS.reduce((sum, kind) => sum + (result[kind] ?? 0), 0) > 1) throw new Error('The fault rates add up to more than 1');
  return result;
}

/** Fault settings for a whole run from an environment variable holding their JSON. */
export function faultSettingsFromVariable(variable: string, known: readonly FaultSettingName[], env: NodeJS.ProcessEnv = process.env): FaultSettings {
  const text = env[variable];
  return text ? validateFaultSettings(JSON.parse(text), known) : {};
}

/** Takes the next scripted fault first (consuming it), then rolls against the rates. */
export function pickFault(settings: FaultSettings, random: () => number = Math.random): FaultKind | undefined {
  if (settings.next && settings.next.length > 0) return settings.next.shift();
  const roll = random();
  let threshold = 0;
  for (const kind of FAULT_KINDS) {
    threshold += settings[kind] ?? 0;
    if (roll < threshold) return kind;
  }
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

/**
 * The faults an emulator runs with, as `/_emulator/faults` and its `setFaults` change them, and the
 * throttle their `requestsPerSecond` sets. `validate` knows the settings this emulator acts on.
 */
export class FaultInjector {
  private readonly throttle = new RateThrottle();

  constructor(
    private settings: FaultSettings,
    private readonly validate: (input: unknown) => FaultSettings,
  ) {
    this.throttle.configure(settings.requestsPerSecond);
  }

  get current(): FaultSettings {
    return this.settings;
  }

  /** Replaces the settings (throws on invalid ones) and restarts the throttle at the new rate. */
  replace(input: unknown): FaultSettings {
    this.settings = this.validate(input);
    this.throttle.configure(this.settings.requestsPerSecond);
    return this.settings;
  }

  /** The fault a request meets, the throttle's before the injected ones, after the injected latency has passed. */
  async next(): Promise<FaultKind | undefined> {
    const fault = this.throttle.admit() ? pickFault(this.settings) : 'throttle';
    const latency = pickLatency(this.settings);
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    return fault;
  }
}
