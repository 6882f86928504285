import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * `npm run -s token -- <persona> [--audience api|hsm|arm|URI] [--data-dir DIR]`: asks the running
 * local stack's identity provider for an access token and prints only the token.
 */

const REPO_ROOT = resolve(__dirname, '..');
const AUDIENCES: Record<string, string> = {
  api: 'api://hsm-access-governor',
  hsm: 'https://managedhsm.azure.net',
  arm: 'https://management.azure.com',
};
const USAGE = 'Usage: npm run -s token -- <persona> [--audience api|hsm|arm|URI] [--group-overage distributed-claim|hasgroups] [--data-dir DIR]';
const OVERAGE_FORMS = ['distributed-claim', 'hasgroups'];

interface TokenArguments {
  persona: string;
  audience: string;
  dataDir: string;
  /** A token without its groups, as Entra issues one in a groups overage. */
  groupOverage?: string;
}

export function parseTokenArguments(argv: readonly string[]): TokenArguments {
  let persona: string | undefined;
  let groupOverage: string | undefined;
  let audience = AUDIENCES.api;
  let dataDir = process.env.HSM_GOVERNOR_DATA_DIR ? resolve(process.env.HSM_GOVERNOR_DATA_DIR) : join(REPO_ROOT, '.data');
  for (let i = 0; i < argv.length; i += 1) {
    const argument = argv[i];
    const [flag, inline] = argument.startsWith('--') && argument.includes('=') ? [argument.slice(0, argument.indexOf('=')), argument.slice(argument.indexOf('=') + 1)] : [argument, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (!next) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    if (flag === '--audience') {
      const chosen = value();
      audience = AUDIENCES[chosen] ?? chosen;
    } else if (flag === '--group-overage') {
      groupOverage = value();
      if (!OVERAGE_FORMS.includes(groupOverage)) throw new Error(`--group-overage is one of ${OVERAGE_FORMS.join(', ')}\n${USAGE}`);
    } else if (flag === '--data-dir') {
      dataDir = resolve(value());
    } else if (flag === '--help' || flag === '-h') {
      throw new Error(USAGE);
    } else if (flag.startsWith('-')) {
      throw new Error(`Unknown option '${argument}'\n${USAGE}`);
    } else if (persona === undefined) {
      persona = argument;
    } else {
      throw new Error(`Only one persona, please ('${persona}' and '${argument}')\n${USAGE}`);
    }
  }
  if (!persona) throw new Error(USAGE);
  return { persona, audience, dataDir, ...(groupOverage ? { groupOverage } : {}) };
}

function identityProviderUrl(dataDir: string): string {
  const file = join(dataDir, 'endpoints.json');
  let endpoints: { idp?: unknown };
  try {
    endpoints = JSON.parse(readFileSync(file, 'utf8')) as { idp?: unknown };
  } catch {
    throw new Error(`Cannot read ${file}: is the local stack running (npm start)?`);
  }
  if (typeof endpoints.idp !== 'string') throw new Error(`${file} has no idp endpoint`);
  return endpoints.idp;
}

export async function requestToken(args: TokenArguments): Promise<string> {
  const idp = identityProviderUrl(args.dataDir);
  let response: Response;
  try {
    response = await fetch(`${idp}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ persona: args.persona, audience: args.audience, ...(args.groupOverage ? { groupOverage: args.groupOverage } : {}) }),
      signal: AbortSignal.timeout(5000),
    });
  } catch {
    throw new Error(`The identity provider at ${idp} does not answer: is the local stack running (npm start)?`);
  }
  const body = (await response.json().catch(() => ({}))) as { access_token?: string; error_description?: string };
  if (!response.ok || !body.access_token) throw new Error(`No token for '${args.persona}': ${body.error_description ?? `HTTP ${response.status}`}`);
  return body.access_token;
}

if (require.main === module) {
  (async () => {
    const args = parseTokenArguments(process.argv.slice(2));
    process.stdout.write(`${await requestToken(args)}\n`);
  })().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
