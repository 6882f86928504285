import { faultSettingsFromVariable, validateFaultSettings, type FaultKind, type FaultSettingName, type FaultSettings } from '../emulator-common/faults';

export type { FaultSettings } from '../emulator-common/faults';

/**
 * The HSM's faults: `throttle` answers 429 `Throttled` without Retry-After (as the HSM does),
 * `unavailable` 503, `drop` closes the connection, `actThenDrop` carries the request out and then
 * closes the connection, `forbidden` 403 `AccessDenied`, `requestsPerSecond` throttles like the HSM's own limit.
 */
export type Fault = FaultKind | undefined;

const HSM_FAULT_SETTINGS: readonly FaultSettingName[] = ['throttle', 'unavailable', 'drop', 'actThenDrop', 'forbidden', 'latencyMs', 'latencyRate', 'requestsPerSecond', 'next'];

export function validateFaults(input: unknown): FaultSettings {
  return validateFaultSettings(input, HSM_FAULT_SETTINGS);
}

/** `HSM_EMULATOR_FAULTS='{"throttle":0.1,"unavailable":0.1}'` sets faults for a whole run. */
export function faultsFromEnvironment(env: NodeJS.ProcessEnv = process.env): FaultSettings {
  return faultSettingsFromVariable('HSM_EMULATOR_FAULTS', HSM_FAULT_SETTINGS, env);
}
