import { faultSettingsFromVariable, validateFaultSettings, type FaultSettingName, type FaultSettings } from '../emulator-common/faults';

export type { FaultKind } from '../emulator-common/faults';

/**
 * Faults ARM shows under load. `throttle` answers 429 `SubscriptionRequestsThrottled` with
 * `Retry-After: {retryAfterSeconds}` (ARM always names a delay, unlike the HSM; default 1, 0 for
 * fast tests), `unavailable` 503, `drop` closes the connection, `actThenDrop` carries the request out
 * and then closes the connection.
 */
export type ArmFaultSettings = FaultSettings;

const ARM_FAULT_SETTINGS: readonly FaultSettingName[] = ['throttle', 'unavailable', 'drop', 'actThenDrop', 'latencyMs', 'latencyRate', 'requestsPerSecond', 'retryAfterSeconds', 'next'];

export function validateFaults(input: unknown): ArmFaultSettings {
  return validateFaultSettings(input, ARM_FAULT_SETTINGS);
}

/** `ARM_EMULATOR_FAULTS='{"throttle":0.1}'` sets faults for a whole run. */
export function faultsFromEnvironment(env: NodeJS.ProcessEnv = process.env): ArmFaultSettings {
  return faultSettingsFromVariable('ARM_EMULATOR_FAULTS', ARM_FAULT_SETTINGS, env);
}
