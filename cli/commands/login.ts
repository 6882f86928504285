import type { Command } from 'commander';
import { configPath, DEFAULT_SCOPE, loadConfig, localEndpoints, removeConfig, saveConfig, type CliConfig, type SignIn } from '../config';
import { credentialFor } from '../credential';
import { CliError, EXIT } from '../exitCodes';
import { facts } from '../format';
import type { GlobalOptions, Io } from '../context';

interface LoginOptions {
  persona?: string;
  dataDir?: string;
  azureCli?: boolean;
  deviceCode?: boolean;
  browser?: boolean;
  tenant?: string;
  clientId?: string;
  scope?: string;
}

/** The claims of a token, to say who signed in (read only: the service verifies, not the CLI). */
export function claimsOf(token: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function signInFrom(options: LoginOptions, globals: GlobalOptions, env: NodeJS.ProcessEnv): { api: string; signIn: SignIn } {
  const chosen = [options.persona !== undefined, !!options.azureCli, !!options.deviceCode, !!options.browser].filter(Boolean).length;
  if (chosen !== 1) throw new CliError('Say how to sign in: --persona NAME (the local stack), --azure-cli, --device-code or --browser', EXIT.usage);
  if (options.persona !== undefined) {
    const local = localEndpoints(options.dataDir ?? env.HSM_GOVERNOR_DATA_DIR ?? '.data');
    return { api: globals.api ?? local.api, signIn: { method: 'dev', persona: options.persona, idp: local.idp } };
  }
  if (!globals.api) throw new CliError('Which service? Pass --api https://<function app>', EXIT.usage);
  const tenant = options.tenant ? { tenantId: options.tenant } : {};
  if (options.azureCli) return { api: globals.api, signIn: { method: 'azure-cli', ...tenant } };
  if (!options.clientId) throw new CliError('--device-code and --browser need --client-id: the app registration users sign in to (a public client)', EXIT.usage);
  return { api: globals.api, signIn: { method: options.deviceCode ? 'device-code' : 'browser', clientId: options.clientId, ...tenant } };
}

async function whoAmI(config: CliConfig, io: Io): Promise<Record<string, unknown>> {
  const token = await credentialFor(config.signIn, (line) => io.err(`${line}\n`)).getToken(config.scope).catch((error: Error) => {
    throw new CliError(`Sign-in failed: ${error.message}`, EXIT.unauthenticated);
  });
  if (!token) throw new CliError('Sign-in gave no token', EXIT.unauthenticated);
  const claims = claimsOf(token.token);
  return { api: config.api, method: config.signIn.method, name: claims.name, user: claims.preferred_username ?? claims.upn ?? claims.appid, objectId: claims.oid, tenantId: claims.tid };
}

export function registerLoginCommands(program: Command, io: Io, globalsOf: (command: Command) => GlobalOptions): void {
  program.command('login')
    .description('sign in: a persona of the local stack, or Entra ID through the Azure CLI, a device code or a browser')
    .option('--persona <name>', 'the local stack: sam, dave, alice, ... (dev/personas.ts)')
    .option('--data-dir <dir>', "the local stack's data directory (default: HSM_GOVERNOR_DATA_DIR or .data)")
    .option('--azure-cli', "use the Azure CLI's sign-in (az login)")
    .option('--device-code', 'sign in on another device with a code')
    .option('--browser', 'sign in in a browser on this machine')
    .option('--tenant <id>', 'Entra tenant id')
    .option('--client-id <id>', 'the public client app registration (device code, browser)')
    .option('--scope <scope>', "the API's scope", DEFAULT_SCOPE)
    .action(async (options: LoginOptions, command: Command) => {
      const globals = globalsOf(command);
      const { api, signIn } = signInFrom(options, globals, io.env);
      const config: CliConfig = { api, scope: options.scope ?? DEFAULT_SCOPE, signIn };
      const who = await whoAmI(config, io);
      const path = globals.config ?? configPath(io.env);
      saveConfig(path, config);
      if (globals.json) io.out(`${JSON.stringify(who, null, 2)}\n`);
      else io.out(`Signed in as ${String(who.name ?? who.objectId)} (${String(who.user ?? '')}) for ${api}\n`);
    });

  program.command('whoami').description('who the CLI is signed in as, and where')
    .action(async (_options: unknown, command: Command) => {
      const globals = globalsOf(command);
      const who = await whoAmI(loadConfig(globals.config ?? configPath(io.env)), io);
      io.out(globals.json ? `${JSON.stringify(who, null, 2)}\n` : facts(Object.entries(who)));
    });

  program.command('logout').description('forget the sign-in')
    .action((_options: unknown, command: Command) => {
      const globals = globalsOf(command);
      const removed = removeConfig(globals.config ?? configPath(io.env));
      io.out(globals.json ? `${JSON.stringify({ signedOut: removed })}\n` : removed ? 'Signed out\n' : 'Was not signed in\n');
    });
}
