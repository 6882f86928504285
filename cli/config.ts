import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError, EXIT } from './exitCodes';

/** How the CLI signs in: a persona of the local identity provider, or Entra ID through @azure/identity. */
export type SignIn =
  | { readonly method: 'dev'; readonly persona: string; readonly idp: string }
  | { readonly method: 'azure-cli'; readonly tenantId?: string }
  | { readonly method: 'device-code' | 'browser'; readonly tenantId?: string; readonly clientId: string };

export interface CliConfig {
  /** The function app's base URL, without `/api` (e.g. `https://governor.azurewebsites.net`). */
  readonly api: string;
  /** The API's token scope (default `api://hsm-access-governor/.default`). */
  readonly scope: string;
  readonly signIn: SignIn;
}

export const DEFAULT_SCOPE = 'api://hsm-access-governor/.default';

/** `HSMGOV_CONFIG`, else `$XDG_CONFIG_HOME/hsmgov/config.json`, else `~/.config/hsmgov/config.json`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HSMGOV_CONFIG) return resolve(env.HSMGOV_CONFIG);
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'hsmgov', 'config.json');
}

export function loadConfig(path: string): CliConfig {
  if (!existsSync(path)) throw new CliError(`Not signed in: run 'hsmgov login' first (no ${path})`, EXIT.unauthenticated);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CliConfig;
  } catch {
    throw new CliError(`${path} is not a configuration this CLI wrote: run 'hsmgov login' again`, EXIT.unauthenticated);
  }
}

export function saveConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

export function removeConfig(path: string): boolean {
  const existed = existsSync(path);
  rmSync(path, { force: true });
  return existed;
}

/** The local stack's endpoints (`npm start` writes them to `.data/endpoints.json`). */
export function localEndpoints(dataDir: string): { api: string; idp: string; hsm: string; hsmCaFile: string } {
  const file = join(resolve(dataDir), 'endpoints.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { api: string; idp: string; hsm: string; hsmCaFile: string };
  } catch {
    throw new CliError(`Cannot read ${file}: is the local stack running (npm start)? Or pass --api URL for a deployed service`, EXIT.unavailable);
  }
}
