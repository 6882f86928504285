/**
 * One instance of the app for the chaos run: the local Functions host with timers and queue
 * triggers, in a process of its own so that it can be killed with SIGKILL at any moment.
 * Settings come in CHAOS_APP; it prints `ready` once it serves. It imports only the host, so that
 * it starts quickly (see appBuild.ts).
 */
import type { JWK } from 'jose';
import { startFunctionsHost, silentLogger, type HostLogEntry } from '../../dev/host';
import { createTokenVerifier } from '../../dev/idp/verify';

export interface AppProcessSettings {
  port: number;
  appSettings: Record<string, string>;
  /** The identity provider's signing key, issuer and the API's audience, for App Service Authentication. */
  jwk: JWK;
  issuer: string;
  audience: string;
  /** Write the host's log to stdout, one JSON line per entry, with the time (the run sends it to the instance's log file). */
  log?: boolean;
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.CHAOS_APP ?? '{}') as AppProcessSettings;
  await startFunctionsHost({
    port: settings.port,
    env: settings.appSettings,
    verifier: createTokenVerifier({ issuer: settings.issuer, audience: settings.audience, jwk: settings.jwk }),
    logger: settings.log ? (entry: HostLogEntry) => console.log(JSON.stringify({ at: new Date().toISOString(), ...entry })) : silentLogger,
    timers: true,
  });
  console.log('ready');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
